//! Microsoft Graph client (`https://graph.microsoft.com/v1.0`): users, GDAP
//! (`delegatedAdminRelationships`), app registrations and their consents (`applications.rs`) and
//! raw GETs, in the partner tenant or — through GDAP — in a
//! customer tenant.
//!
//! Collections are followed to the end through `@odata.nextLink` ("Paging Microsoft Graph data in
//! your app", concepts/paging.md) and returned as streams. Throttling follows "Microsoft Graph
//! throttling guidance" (concepts/throttling.md): 429 and 503 wait `Retry-After`. Errors keep
//! Graph's `{"error": {"code", "message", "innerError"}}` body (concepts/errors.md). Every call sends
//! a fresh `client-request-id`, which Graph echoes and support asks for. The bearer token, retries
//! and throttling are the shared [`crate::http::transport`]'s: this module only describes the API.

pub mod access;
mod applications;
mod gdap;
mod lifecycle;
mod pager;

use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::cloud::Resource;
use crate::http::transport::{InvalidSegment, ServiceError, segment};
use crate::http::{ApiClient, ApiOptions, RetryPolicy, Tenant, TokenSourceError};
use crate::remedy::Remedy;
pub use applications::{
    AppRoleAssignment, Application, ApplicationUpdate, KeyCredential, NewApplication,
    OAuth2PermissionGrant, OfferedPermission, PasswordCredential, RequiredResourceAccess,
    ResourceAccess, ServicePrincipal, SpaApplication, WebApplication,
};
pub use gdap::{
    AccessContainer, AccessDetails, BUILT_IN_ROLES, DelegatedAdminAccessAssignment,
    DelegatedAdminCustomer, DelegatedAdminRelationship, DelegatedAdminRelationshipCustomer,
    DelegatedAdminRelationshipRequest, DirectoryObject, GLOBAL_ADMINISTRATOR_ROLE,
    NewDelegatedAdminRelationship, UnifiedRole, approval_link, iso8601_days, role_name,
    role_template_id,
};
pub use lifecycle::{
    DelegatedAdminRelationshipOperation, Progress, WaitError, WaitPolicy, assignment_status,
    relationship_status, wait_for,
};
pub use pager::{PageStep, Pager};

/// Options of a [`GraphClient`].
#[derive(Clone, Debug, Default)]
pub struct GraphOptions {
    /// Retries and throttling.
    pub retry: RetryPolicy,
}

/// The `innerError` of a Graph error (`request-id`, `client-request-id`, `date`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerError {
    /// `request-id`.
    #[serde(
        rename = "request-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<String>,
    /// `client-request-id`.
    #[serde(
        rename = "client-request-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_request_id: Option<String>,
    /// `date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// The `error` object of a Graph error body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ODataError {
    /// `code` (`Authorization_RequestDenied`, `itemNotFound`, `TooManyRequests`, …).
    #[serde(default)]
    pub code: String,
    /// `message`.
    #[serde(default)]
    pub message: String,
    /// `innerError` (the schema says `innererror`; examples say `innerError`: both are read).
    #[serde(default, alias = "innererror", rename = "innerError")]
    pub inner_error: Option<InnerError>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ODataError,
}

/// Why a Graph call failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Graph answered an error.
    #[error("Microsoft Graph answered HTTP {status} {code}: {message}{ids}", code = .error.code, message = .error.message, ids = fmt_request_id(.error.inner_error.as_ref()))]
    Api {
        /// HTTP status.
        status: u16,
        /// The error object.
        error: ODataError,
        /// Whether the call was made in a customer tenant (through GDAP).
        in_customer_tenant: bool,
    },
    /// Still throttled (429) or failing (5xx) after every retry allowed.
    #[error("Microsoft Graph still answered HTTP {status} after {attempts} attempts{message}", message = .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    GaveUp {
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: usize,
        /// The last `Retry-After`.
        retry_after: Option<Duration>,
        /// The last error message.
        message: Option<String>,
    },
    /// The request was refused before it was sent (e.g. GDAP creation rules).
    #[error("invalid request: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// No access token.
    #[error("no access token for Microsoft Graph: {0}")]
    Token(#[from] TokenSourceError),
    /// Graph could not be reached.
    #[error("cannot reach Microsoft Graph: {0}")]
    Transport(#[from] reqwest::Error),
    /// The answer was not what the API documents.
    #[error("Microsoft Graph answered an unexpected body for {what}: {reason}")]
    Decode {
        /// What was being read.
        what: &'static str,
        /// The parser's complaint.
        reason: String,
    },
}

fn fmt_request_id(inner: Option<&InnerError>) -> String {
    match inner.and_then(|i| i.request_id.as_deref()) {
        Some(id) => format!(" (request-id {id})"),
        None => String::new(),
    }
}

impl GraphError {
    /// What a person should do about it.
    pub fn remedy(&self) -> Remedy {
        match self {
            Self::Token(e) => e.remedy,
            Self::Api {
                status,
                in_customer_tenant,
                error,
            } => match (*status, *in_customer_tenant) {
                (401 | 403, true) => Remedy::GdapAccess,
                (401, false) if error.code == "InvalidAuthenticationToken" => Remedy::Reconsent,
                _ => Remedy::None,
            },
            Self::GaveUp { .. } | Self::Transport(_) => Remedy::RetryLater,
            Self::Invalid(_) | Self::Decode { .. } => Remedy::None,
        }
    }

    /// The HTTP status Graph answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::GaveUp { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A Graph user (`microsoft.graph.user`); properties not named here are kept in
/// [`User::other`] (e.g. those asked for with `$select`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object ID.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// UPN.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Query options of "List users".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsersQuery {
    /// `$top`: page size.
    pub top: Option<u32>,
    /// `$select`: properties to return.
    pub select: Vec<String>,
    /// `$filter`.
    pub filter: Option<String>,
}

#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

/// The Microsoft Graph client (`ApiClient::new` with the Graph base URL, e.g.
/// `https://graph.microsoft.com`; paths add `/v1.0/...`). Cheap to clone; clones share the HTTP
/// client, the token source and the counters.
pub type GraphClient = ApiClient<GraphOptions>;

impl ApiOptions for GraphOptions {
    const RESOURCE: Resource = Resource::Graph;
    const NAME: &'static str = "GraphClient";

    fn retry(&self) -> &RetryPolicy {
        &self.retry
    }
}

impl From<InvalidSegment> for GraphError {
    fn from(e: InvalidSegment) -> Self {
        GraphError::Invalid(vec![e.to_string()])
    }
}

/// A collection refused before any request: a stream of that one error.
fn refused<T: Send + 'static>(e: GraphError) -> BoxStream<'static, Result<T, GraphError>> {
    stream::once(async move { Err(e) }).boxed()
}

/// A request body, or none.
type Body = Option<serde_json::Value>;

impl GraphClient {
    fn url(&self, path: &str) -> Url {
        crate::cloud::join(
            self.inner.transport.base(),
            &format!("v1.0/{}", path.trim_start_matches('/')),
        )
    }

    /// Lists the users of a tenant, following `@odata.nextLink` to the end.
    ///
    /// `GET /v1.0/users?$top=…&$select=…&$filter=…` — "List users" (api-reference/v1.0/api/user-list.md).
    /// In a customer tenant the partner needs an active GDAP relationship with a role that reads
    /// users (e.g. Directory Readers).
    pub fn list_users(
        &self,
        tenant: Tenant<'_>,
        query: &UsersQuery,
    ) -> BoxStream<'static, Result<User, GraphError>> {
        self.collection(owned(tenant), self.users_url(query))
    }

    /// The users of a tenant as a [`Pager`]: the calls of [`GraphClient::list_users`], but a
    /// throttled page is handed back with its `Retry-After` instead of being waited for, so a
    /// fan-out can give the wait's concurrency slot to another tenant.
    pub fn users_pager(&self, tenant: Tenant<'_>, query: &UsersQuery) -> Pager<User> {
        Pager::new(self.clone(), owned(tenant), self.users_url(query))
    }

    /// Gets the access token for calls in `tenant` ahead of them (the token source caches it),
    /// so a fan-out can redeem the next customers' tokens while its slots wait on Graph.
    pub async fn prepare_token(&self, tenant: Tenant<'_>) -> Result<(), GraphError> {
        self.inner.transport.token(tenant).await?;
        Ok(())
    }

    fn users_url(&self, query: &UsersQuery) -> Url {
        let mut url = self.url("users");
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(top) = query.top {
                pairs.append_pair("$top", &top.to_string());
            }
            if !query.select.is_empty() {
                pairs.append_pair("$select", &query.select.join(","));
            }
            if let Some(filter) = &query.filter {
                pairs.append_pair("$filter", filter);
            }
        }
        url
    }

    /// Gets one user by object ID or UPN.
    ///
    /// `GET /v1.0/users/{id | userPrincipalName}` — "Get user" (api-reference/v1.0/api/user-get.md).
    pub async fn get_user(&self, tenant: Tenant<'_>, id: &str) -> Result<User, GraphError> {
        let url = self.url(&format!("users/{}", segment(id)?));
        self.call(tenant, Method::GET, url, None, None, "a user")
            .await
    }

    /// Lists the partner's GDAP relationships, optionally only those in one `status`
    /// (`active`, `created`, `approvalPending`, …), following every page.
    ///
    /// `GET /v1.0/tenantRelationships/delegatedAdminRelationships[?$filter=status eq '…']` —
    /// "List delegatedAdminRelationships" (tenantrelationship-list-delegatedadminrelationships.md).
    pub fn list_delegated_admin_relationships(
        &self,
        status: Option<&str>,
    ) -> BoxStream<'static, Result<DelegatedAdminRelationship, GraphError>> {
        let mut url = self.url("tenantRelationships/delegatedAdminRelationships");
        if let Some(status) = status {
            url.query_pairs_mut().append_pair(
                "$filter",
                &format!("status eq '{}'", status.replace('\'', "''")),
            );
        }
        self.collection(None, url)
    }

    /// Gets one GDAP relationship.
    ///
    /// `GET /v1.0/tenantRelationships/delegatedAdminRelationships/{id}` — "Get
    /// delegatedAdminRelationship" (delegatedadminrelationship-get.md).
    pub async fn get_delegated_admin_relationship(
        &self,
        id: &str,
    ) -> Result<DelegatedAdminRelationship, GraphError> {
        let url = self.url(&format!(
            "tenantRelationships/delegatedAdminRelationships/{}",
            segment(id)?
        ));
        self.call(
            Tenant::Partner,
            Method::GET,
            url,
            None,
            None,
            "a delegatedAdminRelationship",
        )
        .await
    }

    /// Creates a GDAP relationship after checking the documented creation rules
    /// ([`NewDelegatedAdminRelationship::validate`]); a rule broken is reported without calling
    /// Graph. Display-name uniqueness is checked by Graph (and by the CLI beforehand).
    ///
    /// `POST /v1.0/tenantRelationships/delegatedAdminRelationships` — "Create
    /// delegatedAdminRelationship" (tenantrelationship-post-delegatedadminrelationships.md).
    pub async fn create_delegated_admin_relationship(
        &self,
        relationship: &NewDelegatedAdminRelationship,
    ) -> Result<DelegatedAdminRelationship, GraphError> {
        relationship.validate().map_err(GraphError::Invalid)?;
        let url = self.url("tenantRelationships/delegatedAdminRelationships");
        let body = serde_json::to_value(relationship).map_err(|e| GraphError::Decode {
            what: "the new relationship",
            reason: e.to_string(),
        })?;
        self.create(url, body, "the created relationship").await
    }

    /// Locks a `created` GDAP relationship for the customer's approval; the customer then
    /// approves at [`approval_link`].
    ///
    /// `POST /v1.0/tenantRelationships/delegatedAdminRelationships/{id}/requests` with
    /// `{"action": "lockForApproval"}` — "Create delegatedAdminRelationshipRequest"
    /// (delegatedadminrelationship-post-requests.md), which documents only `Authorization` and
    /// `Content-Type` request headers: no `If-Match` (docs/microsoft-behaviour.md §0).
    pub async fn lock_for_approval(
        &self,
        id: &str,
    ) -> Result<DelegatedAdminRelationshipRequest, GraphError> {
        let url = self.url(&format!(
            "tenantRelationships/delegatedAdminRelationships/{}/requests",
            segment(id)?
        ));
        let body = serde_json::json!({"action": "lockForApproval"});
        self.create(url, body, "the relationship request").await
    }

    /// An authenticated GET of any Graph path (`/v1.0/...` or `/beta/...`, relative to the base
    /// URL) in the partner tenant or a customer tenant, for what is not wrapped yet.
    pub async fn get_raw(
        &self,
        tenant: Tenant<'_>,
        path_and_query: &str,
    ) -> Result<serde_json::Value, GraphError> {
        let url = self
            .inner
            .transport
            .resolve(None, path_and_query)
            .map_err(|e| GraphError::Invalid(vec![e]))?;
        self.call(tenant, Method::GET, url, None, None, "a raw GET")
            .await
    }

    /// `POST` of a new object in the partner tenant (no `If-Match`); returns the created object.
    async fn create<T: DeserializeOwned>(
        &self,
        url: Url,
        body: serde_json::Value,
        what: &'static str,
    ) -> Result<T, GraphError> {
        self.call(Tenant::Partner, Method::POST, url, Some(body), None, what)
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        tenant: Tenant<'_>,
        method: Method,
        url: Url,
        body: Body,
        if_match: Option<&str>,
        what: &'static str,
    ) -> Result<T, GraphError> {
        let bytes = self
            .send(tenant, method, url, body.as_ref(), if_match)
            .await?;
        let bytes = if bytes.is_empty() {
            b"null".to_vec()
        } else {
            bytes
        };
        decode(&bytes, what)
    }

    fn collection<T>(
        &self,
        tenant: Option<String>,
        first: Url,
    ) -> BoxStream<'static, Result<T, GraphError>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let client = self.clone();
        stream::try_unfold(Some(first), move |next| {
            let client = client.clone();
            let tenant = tenant.clone();
            async move {
                let Some(url) = next else {
                    return Ok::<_, GraphError>(None);
                };
                let tenant = tenant.as_deref().map_or(Tenant::Partner, Tenant::Customer);
                let bytes = client.send(tenant, Method::GET, url, None, None).await?;
                let page: Page<T> = decode(&bytes, "a collection page")?;
                let next = client.next_link(page.next_link)?;
                Ok(Some((stream::iter(page.value.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
        .boxed()
    }

    /// The page after this one. The nextLink is absolute and carries every original query
    /// option plus `$skiptoken`; it is followed verbatim.
    fn next_link(&self, link: Option<String>) -> Result<Option<Url>, GraphError> {
        link.map(|link| {
            self.inner
                .transport
                .resolve(None, &link)
                .map_err(|reason| GraphError::Decode {
                    what: "@odata.nextLink",
                    reason,
                })
        })
        .transpose()
    }

    async fn send(
        &self,
        tenant: Tenant<'_>,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        if_match: Option<&str>,
    ) -> Result<Vec<u8>, GraphError> {
        let response = self
            .inner
            .transport
            .call::<GraphError, _>(tenant, &method, &url, |builder, request_id| {
                decorate(builder, request_id, body, if_match)
            })
            .await?;
        answer(tenant, &method, &url, response)
    }

    /// One GET attempt, never retried nor waited for (see [`Pager`]).
    async fn get_once(&self, tenant: Tenant<'_>, url: Url) -> Result<Vec<u8>, GraphError> {
        let response = self
            .inner
            .transport
            .call_once::<GraphError, _>(tenant, &Method::GET, &url, |builder, request_id| {
                decorate(builder, request_id, None, None)
            })
            .await?;
        answer(tenant, &Method::GET, &url, response)
    }
}

impl ServiceError for GraphError {
    fn gave_up(status: u16, attempts: usize, retry_after: Option<Duration>, body: &[u8]) -> Self {
        Self::GaveUp {
            status,
            attempts,
            retry_after,
            message: serde_json::from_slice::<ErrorBody>(body)
                .ok()
                .map(|b| b.error.message)
                .filter(|m| !m.is_empty()),
        }
    }
}

/// The body of a successful answer; any other answer as Graph's error.
fn answer(
    tenant: Tenant<'_>,
    method: &Method,
    url: &Url,
    response: crate::http::transport::Response,
) -> Result<Vec<u8>, GraphError> {
    if !response.status.is_success() {
        return Err(api_error(
            response.status.as_u16(),
            &response.headers,
            &response.body,
            matches!(tenant, Tenant::Customer(_)),
        ));
    }
    tracing::debug!(
        http.status = response.status.as_u16(),
        duration_ms = response.duration_ms(),
        tenant.id = %tenant,
        "Graph {method} {}",
        url.path()
    );
    Ok(response.body)
}

/// What every Graph request carries besides the transport's headers: a `client-request-id`, the
/// body and `If-Match` when there are.
fn decorate(
    mut builder: reqwest::RequestBuilder,
    request_id: uuid::Uuid,
    body: Option<&serde_json::Value>,
    if_match: Option<&str>,
) -> reqwest::RequestBuilder {
    builder = builder.header("client-request-id", request_id.to_string());
    if let Some(body) = body {
        builder = builder.json(body);
    }
    if let Some(etag) = if_match {
        builder = builder.header("If-Match", etag);
    }
    builder
}

fn owned(tenant: Tenant<'_>) -> Option<String> {
    match tenant {
        Tenant::Partner => None,
        Tenant::Customer(id) => Some(id.to_owned()),
    }
}

fn api_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    in_customer_tenant: bool,
) -> GraphError {
    let mut error = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_else(|_| ODataError {
            code: String::new(),
            message: String::from_utf8_lossy(body).chars().take(512).collect(),
            inner_error: None,
        });
    if error
        .inner_error
        .as_ref()
        .is_none_or(|i| i.request_id.is_none())
        && let Some(id) = headers.get("request-id").and_then(|v| v.to_str().ok())
    {
        error
            .inner_error
            .get_or_insert_with(InnerError::default)
            .request_id = Some(id.to_owned());
    }
    GraphError::Api {
        status,
        error,
        in_customer_tenant,
    }
}

fn decode<T: DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, GraphError> {
    serde_json::from_slice(body).map_err(|e| GraphError::Decode {
        what,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any error body Graph (or a proxy in front of it) sends becomes an error, never a panic.
        #[test]
        fn any_error_body_becomes_an_error(
            status in 400u16..600,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let e = api_error(status, &HeaderMap::new(), &body, false);
            proptest::prop_assert_eq!(e.status(), Some(status));
        }
    }

    #[test]
    fn errors_read_both_spellings_of_inner_error() {
        let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"request-id":"r-1","date":"2024-01-01T00:00:00"}}}"#;
        let e = api_error(403, &HeaderMap::new(), body, true);
        assert_eq!(
            e.to_string(),
            "Microsoft Graph answered HTTP 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (request-id r-1)"
        );
        assert_eq!(e.remedy(), Remedy::GdapAccess);
        let body = br#"{"error":{"code":"itemNotFound","message":"nope","innererror":{"request-id":"r-2"}}}"#;
        let e = api_error(404, &HeaderMap::new(), body, false);
        assert!(e.to_string().ends_with("(request-id r-2)"), "{e}");
        assert_eq!(e.remedy(), Remedy::None);
    }

    #[test]
    fn a_page_keeps_its_next_link() {
        let page: Page<User> = serde_json::from_str(
            r#"{"@odata.context":"x","@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$top=1&$skiptoken=X","value":[{"id":"u1","displayName":"A","userPrincipalName":"a@b","mail":null}]}"#,
        )
        .unwrap();
        assert_eq!(page.value[0].display_name.as_deref(), Some("A"));
        assert!(page.value[0].other.contains_key("mail"));
        assert!(page.next_link.unwrap().contains("$skiptoken"));
    }
}
