//! GDAP: `delegatedAdminRelationship` and its creation rules
//! ("delegatedAdminRelationship resource type", resources/delegatedadminrelationship.md;
//! "Create delegatedAdminRelationship", tenantrelationship-post-delegatedadminrelationships.md).

use futures::stream::BoxStream;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{GraphClient, GraphError, User};
use crate::http::Tenant;
use crate::http::transport::segment;

use crate::gdap_rules::{AUTO_EXTEND, MAX_DAYS, MAX_DISPLAY_NAME, MIN_DAYS};
pub use crate::gdap_rules::{
    BUILT_IN_ROLES, GLOBAL_ADMINISTRATOR_ROLE, iso8601_days, role_name, role_template_id,
};

/// A role granted by a relationship.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedRole {
    /// Role template ID (e.g. `88d8e3e3-8f55-4a1e-953a-9b9898b8876b`, Directory Readers).
    pub role_definition_id: String,
}

/// `accessDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessDetails {
    /// The roles.
    #[serde(default)]
    pub unified_roles: Vec<UnifiedRole>,
}

/// `customer` of a relationship.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminRelationshipCustomer {
    /// The customer's tenant ID.
    #[serde(default)]
    pub tenant_id: String,
    /// Its display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A GDAP relationship as Graph returns it; fields not named here are in [`Self::other`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminRelationship {
    /// `{partner-guid}-{guid}`.
    pub id: String,
    /// Display name (unique among the partner's relationships).
    #[serde(default)]
    pub display_name: String,
    /// `created`, `approvalPending`, `active`, `expired`, `terminated`, …
    #[serde(default)]
    pub status: String,
    /// ISO 8601 duration.
    #[serde(default)]
    pub duration: String,
    /// The customer, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<DelegatedAdminRelationshipCustomer>,
    /// Roles.
    #[serde(default)]
    pub access_details: AccessDetails,
    /// `PT0S` (none) or `P180D`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_extend_duration: Option<String>,
    /// When it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    /// `@odata.etag`, for `If-Match`.
    #[serde(
        rename = "@odata.etag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub etag: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// A request on a relationship (`lockForApproval`, `approve`, `terminate`) as Graph returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminRelationshipRequest {
    /// Request ID.
    #[serde(default)]
    pub id: String,
    /// The action.
    #[serde(default)]
    pub action: String,
    /// `created`, `pending`, `succeeded`, `failed`.
    #[serde(default)]
    pub status: String,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The body of "Create delegatedAdminRelationship".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewDelegatedAdminRelationship {
    /// Display name: required, at most 50 characters, unique among the partner's relationships.
    pub display_name: String,
    /// ISO 8601 duration between `P1D` and `P2Y` (e.g. `P730D`).
    pub duration: String,
    /// The customer (optional: without it, any customer may approve the invitation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<DelegatedAdminRelationshipCustomer>,
    /// The roles (at least one).
    pub access_details: AccessDetails,
    /// `PT0S` (default, no auto-extension), `P0D` or `P180D`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_extend_duration: Option<String>,
}

impl NewDelegatedAdminRelationship {
    /// Checks the documented creation rules and returns every rule broken.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let name = self.display_name.trim();
        if name.is_empty() {
            problems.push("the display name is required".to_owned());
        } else if self.display_name.chars().count() > MAX_DISPLAY_NAME {
            problems.push(format!(
                "the display name has {} characters; Graph accepts at most {MAX_DISPLAY_NAME}",
                self.display_name.chars().count()
            ));
        }
        match iso8601_days(&self.duration) {
            None => problems.push(format!(
                "the duration {:?} is not an ISO 8601 duration such as P730D",
                self.duration
            )),
            Some(days) if !(MIN_DAYS..=MAX_DAYS).contains(&days) => problems.push(format!(
                "the duration {} is outside P1D..P2Y (1 to 730 days)",
                self.duration
            )),
            Some(_) => {}
        }
        if self.access_details.unified_roles.is_empty() {
            problems.push("at least one role (roleDefinitionId) is required".to_owned());
        }
        for role in &self.access_details.unified_roles {
            if uuid::Uuid::parse_str(&role.role_definition_id).is_err() {
                problems.push(format!(
                    "the role {:?} is not a role template ID (a GUID)",
                    role.role_definition_id
                ));
            }
        }
        if let Some(extend) = &self.auto_extend_duration {
            if !AUTO_EXTEND.contains(&extend.as_str()) {
                problems.push(format!(
                    "the auto-extend duration {extend:?} must be one of PT0S, P0D or P180D"
                ));
            } else if extend == "P180D"
                && self.access_details.unified_roles.iter().any(|r| {
                    r.role_definition_id
                        .eq_ignore_ascii_case(GLOBAL_ADMINISTRATOR_ROLE)
                })
            {
                problems.push(
                    "a relationship with the Global Administrator role cannot auto-extend: use PT0S"
                        .to_owned(),
                );
            }
        }
        if let Some(customer) = &self.customer
            && uuid::Uuid::parse_str(&customer.tenant_id).is_err()
        {
            problems.push(format!(
                "the customer tenant ID {:?} is not a GUID",
                customer.tenant_id
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// `accessContainer` of an access assignment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessContainer {
    /// Object ID of the partner's security group.
    #[serde(default)]
    pub access_container_id: String,
    /// `securityGroup`.
    #[serde(default)]
    pub access_container_type: String,
}

/// An access assignment of a relationship (`delegatedAdminAccessAssignment`,
/// resources/delegatedadminaccessassignment.md): a partner security group and the roles its
/// members get in the customer tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminAccessAssignment {
    /// Assignment ID.
    #[serde(default)]
    pub id: String,
    /// `pending`, `active`, `deleting`, `deleted`, `error`.
    #[serde(default)]
    pub status: String,
    /// The group.
    #[serde(default)]
    pub access_container: AccessContainer,
    /// Its roles.
    #[serde(default)]
    pub access_details: AccessDetails,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// A customer with a delegated admin relationship (`delegatedAdminCustomer`,
/// resources/delegatedadmincustomer.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminCustomer {
    /// Identifier (the tenant ID).
    #[serde(default)]
    pub id: String,
    /// The customer's tenant ID.
    #[serde(default)]
    pub tenant_id: String,
    /// The tenant's display name.
    #[serde(default)]
    pub display_name: String,
}

/// A directory object a user is a member of (`GET /me/memberOf`); groups carry
/// `@odata.type` `#microsoft.graph.group`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryObject {
    /// `@odata.type`.
    #[serde(rename = "@odata.type", default)]
    pub odata_type: String,
    /// Object ID.
    #[serde(default)]
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// GDAP calls beyond create and lock (their docs are named on each method).
impl GraphClient {
    /// Lists the partner's relationships `top` to a page (Graph allows at most 300,
    /// docs/microsoft-behaviour.md §6.2): a poller that reads every relationship each round
    /// makes as few requests as Graph allows.
    ///
    /// `GET /v1.0/tenantRelationships/delegatedAdminRelationships?$top=…` — "List
    /// delegatedAdminRelationships" (tenantrelationship-list-delegatedadminrelationships.md).
    pub fn list_delegated_admin_relationships_paged(
        &self,
        top: u16,
    ) -> BoxStream<'static, Result<DelegatedAdminRelationship, GraphError>> {
        let mut url = self.url("tenantRelationships/delegatedAdminRelationships");
        url.query_pairs_mut()
            .append_pair("$top", &top.clamp(1, 300).to_string());
        self.collection(None, url)
    }

    /// The partner's relationships decoded as the caller's own `T`: the fields it reads, the
    /// others skipped as they are parsed (a [`DelegatedAdminRelationship`] keeps them all, in
    /// its `other`). For a caller that keeps many: the watch over a thousand partners holds
    /// 100,000 of them between cycles.
    ///
    /// `GET /v1.0/tenantRelationships/delegatedAdminRelationships` (as
    /// [`Self::list_delegated_admin_relationships`]).
    pub fn list_delegated_admin_relationships_as<T>(
        &self,
    ) -> BoxStream<'static, Result<T, GraphError>>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        self.collection(
            None,
            self.url("tenantRelationships/delegatedAdminRelationships"),
        )
    }

    /// Lists a relationship's access assignments.
    ///
    /// `GET /v1.0/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments` —
    /// "List accessAssignments" (delegatedadminrelationship-list-accessassignments.md).
    pub fn list_access_assignments(
        &self,
        relationship_id: &str,
    ) -> BoxStream<'static, Result<DelegatedAdminAccessAssignment, GraphError>> {
        match segment(relationship_id) {
            Ok(id) => self.collection(
                None,
                self.url(&format!(
                    "tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments"
                )),
            ),
            Err(e) => super::refused(e.into()),
        }
    }

    /// Assigns roles of an active relationship to a partner security group: its members get
    /// them in the customer tenant.
    ///
    /// `POST /v1.0/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments` with
    /// `{"accessContainer": {"accessContainerId", "accessContainerType": "securityGroup"},
    /// "accessDetails": {"unifiedRoles": [...]}}` → `201 Created` — "Create accessAssignments"
    /// (delegatedadminrelationship-post-accessassignments.md).
    pub async fn create_access_assignment(
        &self,
        relationship_id: &str,
        group_id: &str,
        role_ids: &[String],
    ) -> Result<DelegatedAdminAccessAssignment, GraphError> {
        let url = self.url(&format!(
            "tenantRelationships/delegatedAdminRelationships/{}/accessAssignments",
            segment(relationship_id)?
        ));
        let body = serde_json::json!({
            "accessContainer": {"accessContainerId": group_id, "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": role_ids.iter().map(|r| serde_json::json!({"roleDefinitionId": r})).collect::<Vec<_>>()},
        });
        self.create(url, body, "the access assignment").await
    }

    /// Sets a relationship's `autoExtendDuration` (`P180D` or `PT0S`), guarded by its current
    /// `@odata.etag`.
    ///
    /// `PATCH /v1.0/tenantRelationships/delegatedAdminRelationships/{id}` with `If-Match`
    /// (required) → `200 OK` with the relationship — "Update delegatedAdminRelationship"
    /// (delegatedadminrelationship-update.md): `autoExtendDuration` is updatable while the
    /// relationship is `created` or `active`.
    pub async fn update_auto_extend_duration(
        &self,
        relationship_id: &str,
        etag: &str,
        auto_extend_duration: &str,
    ) -> Result<DelegatedAdminRelationship, GraphError> {
        let url = self.url(&format!(
            "tenantRelationships/delegatedAdminRelationships/{}",
            segment(relationship_id)?
        ));
        let body = serde_json::json!({"autoExtendDuration": auto_extend_duration});
        self.call(
            Tenant::Partner,
            Method::PATCH,
            url,
            Some(body),
            Some(etag),
            "the updated relationship",
        )
        .await
    }

    /// Ends an active relationship: the partner's access to the customer stops.
    ///
    /// `POST /v1.0/tenantRelationships/delegatedAdminRelationships/{id}/requests` with
    /// `{"action": "terminate"}` — "Create delegatedAdminRelationshipRequest"
    /// (delegatedadminrelationship-post-requests.md).
    pub async fn terminate_delegated_admin_relationship(
        &self,
        relationship_id: &str,
    ) -> Result<DelegatedAdminRelationshipRequest, GraphError> {
        let url = self.url(&format!(
            "tenantRelationships/delegatedAdminRelationships/{}/requests",
            segment(relationship_id)?
        ));
        let body = serde_json::json!({"action": "terminate"});
        self.create(url, body, "the relationship request").await
    }

    /// Lists the customers the partner has an active delegated admin relationship with,
    /// following every page.
    ///
    /// `GET /v1.0/tenantRelationships/delegatedAdminCustomers` — "List delegatedAdminCustomers"
    /// (tenantrelationship-list-delegatedadmincustomers.md).
    pub fn list_delegated_admin_customers(
        &self,
    ) -> BoxStream<'static, Result<DelegatedAdminCustomer, GraphError>> {
        self.collection(
            None,
            self.url("tenantRelationships/delegatedAdminCustomers"),
        )
    }

    /// The signed-in user (partner tenant).
    ///
    /// `GET /v1.0/me` — "Get user" (user-get.md).
    pub async fn get_me(&self) -> Result<User, GraphError> {
        self.call(
            Tenant::Partner,
            Method::GET,
            self.url("me"),
            None,
            None,
            "the signed-in user",
        )
        .await
    }

    /// The groups and other directory objects the signed-in user is a direct member of
    /// (partner tenant), following every page.
    ///
    /// `GET /v1.0/me/memberOf` — "List a user's direct memberships" (user-list-memberof.md).
    pub fn list_my_member_of(&self) -> BoxStream<'static, Result<DirectoryObject, GraphError>> {
        self.collection(None, self.url("me/memberOf"))
    }
}

/// Where the customer's Global Administrator approves a relationship locked for approval.
pub fn approval_link(relationship_id: &str) -> String {
    format!(
        "https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/{relationship_id}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(
        name: &str,
        duration: &str,
        roles: &[&str],
        extend: Option<&str>,
    ) -> NewDelegatedAdminRelationship {
        NewDelegatedAdminRelationship {
            display_name: name.into(),
            duration: duration.into(),
            customer: None,
            access_details: AccessDetails {
                unified_roles: roles
                    .iter()
                    .map(|r| UnifiedRole {
                        role_definition_id: (*r).into(),
                    })
                    .collect(),
            },
            auto_extend_duration: extend.map(Into::into),
        }
    }

    const READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

    #[test]
    fn roles_are_given_by_name_or_template_id() {
        assert_eq!(
            role_template_id("directory readers").as_deref(),
            Some(READERS)
        );
        assert_eq!(
            role_template_id("88D8E3E3-8F55-4A1E-953A-9B9898B8876B").as_deref(),
            Some(READERS)
        );
        assert_eq!(role_template_id("Readers of directories"), None);
        assert_eq!(role_name(READERS), "Directory Readers");
        assert_eq!(role_name("unknown"), "unknown");
    }

    #[test]
    fn durations_are_read_in_days() {
        assert_eq!(iso8601_days("P730D"), Some(730.0));
        assert_eq!(iso8601_days("P2Y"), Some(730.0));
        assert_eq!(iso8601_days("PT0S"), Some(0.0));
        assert_eq!(iso8601_days("P1DT12H"), Some(1.5));
        assert_eq!(iso8601_days("730"), None);
        assert_eq!(iso8601_days("P"), None);
        assert_eq!(iso8601_days("P5X"), None);
    }

    #[test]
    fn a_relationship_within_the_rules_is_accepted() {
        assert_eq!(
            new("Contoso admin", "P730D", &[READERS], Some("P180D")).validate(),
            Ok(())
        );
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let problems = new(&"x".repeat(51), "P731D", &[], Some("P90D"))
            .validate()
            .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "the display name has 51 characters; Graph accepts at most 50".to_owned(),
                "the duration P731D is outside P1D..P2Y (1 to 730 days)".to_owned(),
                "at least one role (roleDefinitionId) is required".to_owned(),
                "the auto-extend duration \"P90D\" must be one of PT0S, P0D or P180D".to_owned(),
            ]
        );
    }

    #[test]
    fn global_administrator_cannot_auto_extend() {
        let problems = new("GA", "P30D", &[GLOBAL_ADMINISTRATOR_ROLE], Some("P180D"))
            .validate()
            .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "a relationship with the Global Administrator role cannot auto-extend: use PT0S"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn the_body_has_graphs_field_names() {
        let body = serde_json::to_value(new("A", "P1D", &[READERS], None)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"displayName": "A", "duration": "P1D", "accessDetails": {"unifiedRoles": [{"roleDefinitionId": READERS}]}})
        );
    }
}
