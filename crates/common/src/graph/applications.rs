//! App registrations and their consents in the partner tenant: `applications`,
//! `servicePrincipals`, `oauth2PermissionGrants` (delegated admin consent) and
//! `appRoleAssignments` (application permissions granted), as `setup` and `doctor` read and make
//! them. Same transport, retries and errors as the rest of [`GraphClient`]; calls are made in the
//! partner tenant ([`Tenant::Partner`]) with whatever token the client's source gives (for
//! `setup`, a signed-in admin's).

use futures::TryStreamExt as _;
use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};

use super::{GraphClient, GraphError, Tenant};
use crate::http::transport::segment;

/// `null` read as the default (Graph sends `null` for unset collections and complex types).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An app registration (`microsoft.graph.application`), the properties `setup` manages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Object ID (used in `/applications/{id}`).
    pub id: String,
    /// Application (client) ID.
    pub app_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `AzureADMyOrg`, `AzureADMultipleOrgs`, …
    #[serde(default, deserialize_with = "null_default")]
    pub sign_in_audience: String,
    /// The Web platform (redirect URIs).
    #[serde(default, deserialize_with = "null_default")]
    pub web: WebApplication,
    /// The single-page-application platform (redirect URIs whose refresh tokens live a fixed
    /// 24 hours, docs/microsoft-behaviour.md §9).
    #[serde(default, deserialize_with = "null_default")]
    pub spa: SpaApplication,
    /// The API permissions the app asks for.
    #[serde(default, deserialize_with = "null_default")]
    pub required_resource_access: Vec<RequiredResourceAccess>,
    /// Certificates (and keys) the app authenticates with.
    #[serde(default, deserialize_with = "null_default")]
    pub key_credentials: Vec<KeyCredential>,
    /// Client secrets (their metadata: Graph never returns the value).
    #[serde(default, deserialize_with = "null_default", skip_serializing)]
    pub password_credentials: Vec<PasswordCredential>,
}

/// `microsoft.graph.passwordCredential`: a client secret's metadata (read-only here).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    /// Key ID.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// When the secret stops working (ISO 8601).
    #[serde(default)]
    pub end_date_time: Option<String>,
}

/// `microsoft.graph.webApplication`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebApplication {
    /// Redirect URIs of the Web platform.
    #[serde(default, deserialize_with = "null_default")]
    pub redirect_uris: Vec<String>,
}

/// `microsoft.graph.spaApplication`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpaApplication {
    /// Redirect URIs of the single-page-application platform.
    #[serde(default, deserialize_with = "null_default")]
    pub redirect_uris: Vec<String>,
}

/// `microsoft.graph.requiredResourceAccess`: the permissions asked of one resource app.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    /// The resource's application ID.
    pub resource_app_id: String,
    /// The permissions.
    #[serde(default, deserialize_with = "null_default")]
    pub resource_access: Vec<ResourceAccess>,
}

/// `microsoft.graph.resourceAccess`: one permission.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAccess {
    /// The permission's ID (`oauth2PermissionScopes[].id` or `appRoles[].id`).
    pub id: String,
    /// `Scope` (delegated) or `Role` (application).
    #[serde(rename = "type")]
    pub kind: String,
}

impl ResourceAccess {
    /// A delegated permission.
    pub fn scope(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind: "Scope".into(),
        }
    }

    /// Whether it is a delegated permission (`Scope`).
    pub fn is_delegated(&self) -> bool {
        self.kind == "Scope"
    }

    /// Whether it is an application permission (`Role`).
    pub fn is_application(&self) -> bool {
        self.kind == "Role"
    }
}

/// `microsoft.graph.keyCredential`: a certificate registered on an app.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    /// `AsymmetricX509Cert`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `Verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    /// The certificate's DER, base64 (write-only: Graph returns `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The SHA-1 thumbprint, as hex or base64 depending on who registered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_identifier: Option<String>,
    /// Key ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// When the certificate stops working (ISO 8601; read-only here, never sent).
    #[serde(default, skip_serializing)]
    pub end_date_time: Option<String>,
}

/// The body of "Create application".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApplication {
    /// Display name.
    pub display_name: String,
    /// Sign-in audience.
    pub sign_in_audience: String,
    /// Web platform.
    pub web: WebApplication,
    /// API permissions.
    pub required_resource_access: Vec<RequiredResourceAccess>,
    /// Certificates.
    pub key_credentials: Vec<KeyCredential>,
}

/// The body of "Update application": only the properties set are sent (and changed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationUpdate {
    /// New sign-in audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    /// New Web platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<WebApplication>,
    /// New single-page-application platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spa: Option<SpaApplication>,
    /// New API permissions (replace the old ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    /// New certificates (replace the old ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_credentials: Option<Vec<KeyCredential>>,
}

impl ApplicationUpdate {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A permission a resource offers: `oauth2PermissionScopes[]` (delegated) or `appRoles[]`
/// (application).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedPermission {
    /// The permission's ID.
    pub id: String,
    /// Its value (`User.Read.All`).
    #[serde(default)]
    pub value: Option<String>,
}

/// A service principal (`microsoft.graph.servicePrincipal`): an app's instance in a tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    /// Object ID.
    pub id: String,
    /// The app's application ID.
    pub app_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Delegated permissions the app offers as a resource.
    #[serde(default, deserialize_with = "null_default")]
    pub oauth2_permission_scopes: Vec<OfferedPermission>,
    /// Application permissions the app offers as a resource.
    #[serde(default, deserialize_with = "null_default")]
    pub app_roles: Vec<OfferedPermission>,
}

/// A delegated permission grant (`microsoft.graph.oAuth2PermissionGrant`): admin consent when
/// `consentType` is `AllPrincipals`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2PermissionGrant {
    /// Grant ID.
    #[serde(default)]
    pub id: String,
    /// The client's service principal (object ID).
    #[serde(default)]
    pub client_id: String,
    /// `AllPrincipals` or `Principal`.
    #[serde(default)]
    pub consent_type: Option<String>,
    /// The resource's service principal (object ID).
    #[serde(default)]
    pub resource_id: String,
    /// The granted scopes, space-separated.
    #[serde(default, deserialize_with = "null_default")]
    pub scope: String,
}

impl OAuth2PermissionGrant {
    /// The granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}

/// An application permission granted (`microsoft.graph.appRoleAssignment`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    /// Assignment ID.
    #[serde(default)]
    pub id: String,
    /// The role's ID in the resource's `appRoles`.
    #[serde(default)]
    pub app_role_id: String,
    /// The resource's service principal (object ID).
    #[serde(default)]
    pub resource_id: String,
    /// The resource's display name.
    #[serde(default)]
    pub resource_display_name: Option<String>,
}

fn eq_filter(property: &str, value: &str) -> String {
    format!("{property} eq '{}'", value.replace('\'', "''"))
}

impl GraphClient {
    fn filtered(&self, path: &str, filter: &str) -> url::Url {
        let mut url = self.url(path);
        url.query_pairs_mut().append_pair("$filter", filter);
        url
    }

    /// App registrations whose `appId` is `app_id` (at most one).
    ///
    /// `GET /v1.0/applications?$filter=appId eq '…'` — "List applications"
    /// (<https://learn.microsoft.com/graph/api/application-list>).
    pub async fn get_application_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<Application>, GraphError> {
        self.first_with_app_id("applications", app_id).await
    }

    /// App registrations named `name`.
    ///
    /// `GET /v1.0/applications?$filter=displayName eq '…'` — "List applications"
    /// (<https://learn.microsoft.com/graph/api/application-list>).
    pub async fn list_applications_by_display_name(
        &self,
        name: &str,
    ) -> Result<Vec<Application>, GraphError> {
        let url = self.filtered("applications", &eq_filter("displayName", name));
        self.collection(None, url).try_collect().await
    }

    /// Creates an app registration.
    ///
    /// `POST /v1.0/applications` — "Create application"
    /// (<https://learn.microsoft.com/graph/api/application-post-applications>).
    pub async fn create_application(
        &self,
        application: &NewApplication,
    ) -> Result<Application, GraphError> {
        let body = to_body(application, "the new application")?;
        let url = self.url("applications");
        self.create(url, body, "the created application").await
    }

    /// Updates the properties set in `update` of the app registration with object ID `id`.
    ///
    /// `PATCH /v1.0/applications/{id}` — "Update application"
    /// (<https://learn.microsoft.com/graph/api/application-update>).
    pub async fn update_application(
        &self,
        id: &str,
        update: &ApplicationUpdate,
    ) -> Result<(), GraphError> {
        let body = to_body(update, "the application update")?;
        let url = self.url(&format!("applications/{}", segment(id)?));
        self.call::<serde_json::Value>(
            Tenant::Partner,
            Method::PATCH,
            url,
            Some(body),
            None,
            "an update",
        )
        .await
        .map(drop)
    }

    /// The service principal of `app_id` in the tenant, if there is one.
    ///
    /// `GET /v1.0/servicePrincipals?$filter=appId eq '…'` — "List servicePrincipals"
    /// (<https://learn.microsoft.com/graph/api/serviceprincipal-list>).
    pub async fn get_service_principal_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<ServicePrincipal>, GraphError> {
        self.service_principal_in(Tenant::Partner, app_id).await
    }

    /// The service principal of `app_id` in `tenant` (a customer tenant through GDAP), if any.
    ///
    /// `GET /v1.0/servicePrincipals?$filter=appId eq '…'` — "List servicePrincipals"
    /// (<https://learn.microsoft.com/graph/api/serviceprincipal-list>).
    pub async fn service_principal_in(
        &self,
        tenant: Tenant<'_>,
        app_id: &str,
    ) -> Result<Option<ServicePrincipal>, GraphError> {
        self.first_with_app_id_in(tenant, "servicePrincipals", app_id)
            .await
    }

    /// The object of `collection` whose `appId` is `app_id` (Graph keeps at most one per tenant).
    async fn first_with_app_id<T>(
        &self,
        collection: &str,
        app_id: &str,
    ) -> Result<Option<T>, GraphError>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        self.first_with_app_id_in(Tenant::Partner, collection, app_id)
            .await
    }

    async fn first_with_app_id_in<T>(
        &self,
        tenant: Tenant<'_>,
        collection: &str,
        app_id: &str,
    ) -> Result<Option<T>, GraphError>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        let url = self.filtered(collection, &eq_filter("appId", app_id));
        let mut found: Vec<T> = self
            .collection(tenant_key(tenant), url)
            .try_collect()
            .await?;
        Ok(found.pop())
    }

    /// Creates the service principal of `app_id` (what `New-MgServicePrincipal -AppId` does).
    ///
    /// `POST /v1.0/servicePrincipals` — "Create servicePrincipal"
    /// (<https://learn.microsoft.com/graph/api/serviceprincipal-post-serviceprincipals>).
    pub async fn create_service_principal(
        &self,
        app_id: &str,
    ) -> Result<ServicePrincipal, GraphError> {
        let url = self.url("servicePrincipals");
        let body = serde_json::json!({ "appId": app_id });
        self.create(url, body, "the created service principal")
            .await
    }

    /// The delegated permission grants of a client service principal (object ID `id`).
    ///
    /// `GET /v1.0/servicePrincipals/{id}/oauth2PermissionGrants` — "List oauth2PermissionGrants"
    /// (<https://learn.microsoft.com/graph/api/serviceprincipal-list-oauth2permissiongrants>).
    pub async fn list_oauth2_permission_grants(
        &self,
        id: &str,
    ) -> Result<Vec<OAuth2PermissionGrant>, GraphError> {
        let url = self.url(&format!(
            "servicePrincipals/{}/oauth2PermissionGrants",
            segment(id)?
        ));
        self.collection(None, url).try_collect().await
    }

    /// The application permissions granted to a service principal (object ID `id`).
    ///
    /// `GET /v1.0/servicePrincipals/{id}/appRoleAssignments` — "List appRoleAssignments granted
    /// to a service principal"
    /// (<https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments>).
    pub async fn list_app_role_assignments(
        &self,
        id: &str,
    ) -> Result<Vec<AppRoleAssignment>, GraphError> {
        self.app_role_assignments_in(Tenant::Partner, id).await
    }

    /// The application permissions granted to the service principal `id` in `tenant`.
    ///
    /// `GET /v1.0/servicePrincipals/{id}/appRoleAssignments`
    /// (<https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments>).
    pub async fn app_role_assignments_in(
        &self,
        tenant: Tenant<'_>,
        id: &str,
    ) -> Result<Vec<AppRoleAssignment>, GraphError> {
        let url = self.url(&format!(
            "servicePrincipals/{}/appRoleAssignments",
            segment(id)?
        ));
        self.collection(tenant_key(tenant), url).try_collect().await
    }

    /// Grants the client service principal `principal` the app role `app_role_id` of the
    /// resource service principal `resource` in `tenant` (an application permission).
    ///
    /// `POST /v1.0/servicePrincipals/{resource}/appRoleAssignedTo` — "Grant an appRoleAssignment
    /// for a service principal"
    /// (<https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto>): needs
    /// `AppRoleAssignment.ReadWrite.All` and `Application.Read.All`.
    pub async fn assign_app_role(
        &self,
        tenant: Tenant<'_>,
        resource: &str,
        principal: &str,
        app_role_id: &str,
    ) -> Result<AppRoleAssignment, GraphError> {
        let url = self.url(&format!(
            "servicePrincipals/{}/appRoleAssignedTo",
            segment(resource)?
        ));
        let body = serde_json::json!({
            "principalId": principal,
            "resourceId": resource,
            "appRoleId": app_role_id,
        });
        self.call(
            tenant,
            Method::POST,
            url,
            Some(body),
            None,
            "the created app role assignment",
        )
        .await
    }

    /// Removes the app-role assignment `assignment` of the client service principal `principal`.
    ///
    /// `DELETE /v1.0/servicePrincipals/{id}/appRoleAssignments/{appRoleAssignment-id}`
    /// (<https://learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignments>).
    pub async fn delete_app_role_assignment(
        &self,
        tenant: Tenant<'_>,
        principal: &str,
        assignment: &str,
    ) -> Result<(), GraphError> {
        let url = self.url(&format!(
            "servicePrincipals/{}/appRoleAssignments/{}",
            segment(principal)?,
            segment(assignment)?
        ));
        self.call::<serde_json::Value>(tenant, Method::DELETE, url, None, None, "a deletion")
            .await
            .map(drop)
    }
}

/// The tenant argument of a collection read: `None` for the partner's own.
fn tenant_key(tenant: Tenant<'_>) -> Option<String> {
    match tenant {
        Tenant::Partner => None,
        Tenant::Customer(id) => Some(id.to_owned()),
    }
}

fn to_body<T: Serialize>(value: &T, what: &'static str) -> Result<serde_json::Value, GraphError> {
    serde_json::to_value(value).map_err(|e| GraphError::Decode {
        what,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_reads_nulls_as_empty_and_an_update_sends_only_what_is_set() {
        let app: Application = serde_json::from_str(
            r#"{"id":"o","appId":"a","displayName":"X","signInAudience":null,"web":null,"requiredResourceAccess":[{"resourceAppId":"r","resourceAccess":[{"id":"p","type":"Role"}]}],"keyCredentials":null}"#,
        )
        .unwrap();
        assert!(app.web.redirect_uris.is_empty() && app.key_credentials.is_empty());
        assert!(app.spa.redirect_uris.is_empty());
        assert!(app.required_resource_access[0].resource_access[0].is_application());
        let update = ApplicationUpdate {
            sign_in_audience: Some("AzureADMultipleOrgs".into()),
            ..ApplicationUpdate::default()
        };
        assert_eq!(
            serde_json::to_string(&update).unwrap(),
            r#"{"signInAudience":"AzureADMultipleOrgs"}"#
        );
        assert!(ApplicationUpdate::default().is_empty());
        assert_eq!(
            eq_filter("displayName", "O'Brien"),
            "displayName eq 'O''Brien'"
        );
    }
}
