//! Fixed catalogues: Entra built-in role templates that GDAP relationships may grant, and the
//! IDs of the permissions Graph's `requiredResourceAccess`, `appRoleAssignments` and
//! `oauth2PermissionScopes` speak in.
//!
//! Role template IDs and the Graph permission IDs listed here are Microsoft's published ones.
//! A permission without a published ID known to this emulator gets a stable, derived GUID
//! ([`stable_guid`]), which round-trips through the emulator but will not match Microsoft's.

use crate::model::resources::{GRAPH_APP_ID, PARTNER_CENTER_APP_ID};
use sha2::Digest as _;

/// Role template ID of Global Administrator.
pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

/// Entra built-in roles a GDAP relationship may name: (template ID, display name).
pub const BUILT_IN_ROLES: &[(&str, &str)] = &[
    (GLOBAL_ADMINISTRATOR, "Global Administrator"),
    ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
    ("88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"),
    ("9360feb5-f418-4baa-8175-e2a00bac4301", "Directory Writers"),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
    ),
    (
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
        "Intune Administrator",
    ),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    ("5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    (
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
        "License Administrator",
    ),
    (
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
    ),
    (
        "69091246-20e8-4a56-aa4d-066075b2a7a8",
        "Teams Administrator",
    ),
    (
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
    ),
    (
        "f023fd81-a637-4b56-95fd-791ac0226033",
        "Service Support Administrator",
    ),
    ("4a5d8f65-41da-4de4-8968-e035b65339cf", "Reports Reader"),
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
    ),
    (
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
    ),
];

/// Whether a role template ID is a built-in role the emulator knows.
pub fn is_built_in_role(id: &str) -> bool {
    BUILT_IN_ROLES
        .iter()
        .any(|(r, _)| r.eq_ignore_ascii_case(id))
}

/// Whether a permission is delegated (`Scope`) or an application permission (`Role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermissionKind {
    /// Delegated permission (`oauth2PermissionScopes`).
    Scope,
    /// Application permission (`appRoles`).
    Role,
}

impl PermissionKind {
    /// The `type` Graph writes in `resourceAccess`.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionKind::Scope => "Scope",
            PermissionKind::Role => "Role",
        }
    }
}

/// Published permission IDs: (resource app ID, kind, value, ID).
const PUBLISHED: &[(&str, PermissionKind, &str, &str)] = &[
    (
        GRAPH_APP_ID,
        PermissionKind::Scope,
        "User.Read",
        "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
    ),
    (
        GRAPH_APP_ID,
        PermissionKind::Scope,
        "User.ReadBasic.All",
        "b340eb25-3456-403f-be2f-af7a0d370277",
    ),
    (
        GRAPH_APP_ID,
        PermissionKind::Scope,
        "User.Read.All",
        "a154be20-db9c-4678-8ab7-66f6cc099a59",
    ),
    (
        GRAPH_APP_ID,
        PermissionKind::Scope,
        "Directory.Read.All",
        "06da0dbc-49e2-44d2-8312-53f166ab848a",
    ),
    (
        GRAPH_APP_ID,
        PermissionKind::Scope,
        "Application.Read.All",
        "c79f8feb-a9db-4090-85f9-90d820caa0eb",
    ),
    (
        GRAPH_APP_ID,
        PermissionKind::Role,
        "User.Read.All",
        "df021288-bdef-4463-88db-98f22de89214",
    ),
    (
        GRAPH_APP_ID,
        PermissionKind::Role,
        "Directory.Read.All",
        "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    ),
    (
        GRAPH_APP_ID,
        PermissionKind::Role,
        "Application.Read.All",
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    ),
];

/// The ID of a permission (published, or derived).
pub fn permission_id(resource_app_id: &str, kind: PermissionKind, value: &str) -> String {
    PUBLISHED
        .iter()
        .find(|(r, k, v, _)| {
            r.eq_ignore_ascii_case(resource_app_id) && *k == kind && v.eq_ignore_ascii_case(value)
        })
        .map(|(_, _, _, id)| (*id).to_string())
        .unwrap_or_else(|| {
            stable_guid(&format!(
                "permission|{}|{}|{}",
                resource_app_id.to_ascii_lowercase(),
                kind.as_str(),
                value
            ))
        })
}

/// Application permissions (app roles) a resource offers, for `appRoles` and name lookups.
pub fn app_roles(resource_app_id: &str) -> &'static [&'static str] {
    if resource_app_id.eq_ignore_ascii_case(GRAPH_APP_ID) {
        &[
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "Application.Read.All",
            "Application.ReadWrite.All",
            "Application.ReadWrite.OwnedBy",
            "Organization.Read.All",
            "DelegatedAdminRelationship.Read.All",
            "DelegatedAdminRelationship.ReadWrite.All",
        ]
    } else {
        &[]
    }
}

/// The permission value an ID names on a resource, given the resource's delegated scopes.
pub fn permission_value(
    resource_app_id: &str,
    kind: PermissionKind,
    id: &str,
    scopes: &[&str],
) -> Option<String> {
    let candidates: Vec<&str> = match kind {
        PermissionKind::Scope => scopes.to_vec(),
        PermissionKind::Role => app_roles(resource_app_id).to_vec(),
    };
    candidates
        .into_iter()
        .find(|v| permission_id(resource_app_id, kind, v).eq_ignore_ascii_case(id))
        .map(str::to_string)
}

/// App ID of "Partner Customer Delegated Administration": its service principal must exist in
/// the partner tenant before an app-only token may manage GDAP relationships (Graph docs,
/// `tenantrelationship-post-delegatedadminrelationships`).
pub const PARTNER_CUSTOMER_DELEGATED_ADMIN_APP_ID: &str = "2832473f-ec63-45fb-976f-5d45a7d4bb91";

/// Tenant that owns Microsoft's first-party apps (`appOwnerOrganizationId`).
pub const MICROSOFT_SERVICES_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// Display names of first-party apps a tenant may hold service principals of.
pub fn first_party_name(app_id: &str) -> Option<&'static str> {
    match app_id.to_ascii_lowercase().as_str() {
        GRAPH_APP_ID => Some("Microsoft Graph"),
        PARTNER_CENTER_APP_ID => Some("Microsoft Partner Center"),
        crate::model::resources::PARTNER_API_APP_ID => Some("Microsoft Partner"),
        crate::model::resources::KEY_VAULT_APP_ID => Some("Azure Key Vault"),
        PARTNER_CUSTOMER_DELEGATED_ADMIN_APP_ID => {
            Some("Partner Customer Delegated Administration")
        }
        _ => None,
    }
}

/// A GUID derived from `text` (stable across runs and machines).
pub fn stable_guid(text: &str) -> String {
    let digest = sha2::Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ids_round_trip_and_unknown_ones_are_stable() {
        let id = permission_id(GRAPH_APP_ID, PermissionKind::Role, "User.Read.All");
        assert_eq!(id, "df021288-bdef-4463-88db-98f22de89214");
        assert_eq!(
            permission_value(GRAPH_APP_ID, PermissionKind::Role, &id, &[]).as_deref(),
            Some("User.Read.All")
        );
        let derived = permission_id(
            PARTNER_CENTER_APP_ID,
            PermissionKind::Scope,
            "user_impersonation",
        );
        assert_eq!(
            derived,
            permission_id(
                PARTNER_CENTER_APP_ID,
                PermissionKind::Scope,
                "user_impersonation"
            )
        );
        assert!(uuid::Uuid::parse_str(&derived).is_ok());
        assert_eq!(
            permission_value(
                PARTNER_CENTER_APP_ID,
                PermissionKind::Scope,
                &derived,
                &["user_impersonation"]
            )
            .as_deref(),
            Some("user_impersonation")
        );
    }
}
