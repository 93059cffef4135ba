//! The managed identities of the emulated hosting environment (App Service / Container Apps)
//! and its current `IDENTITY_HEADER`; the endpoint that serves their tokens is
//! `crate::managed_identity`.

use serde::{Deserialize, Serialize};

/// System- or user-assigned.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ManagedIdentityKind {
    /// The hosting resource's own identity (at most one).
    SystemAssigned,
    /// A separate `Microsoft.ManagedIdentity/userAssignedIdentities` resource assigned to it.
    UserAssigned,
}

/// A managed identity available to the emulated hosting environment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ManagedIdentitySeed {
    /// System- or user-assigned.
    pub kind: ManagedIdentityKind,
    /// Resource name (used in the default resource ID).
    pub name: String,
    /// Tenant of the identity's service principal.
    pub tenant: String,
    /// Client (application) ID: the token's `appid`, the `client_id` query parameter.
    pub client_id: String,
    /// Object (principal) ID: the token's `oid`; what access policies name.
    pub object_id: String,
    /// Azure resource ID (`mi_res_id`); default
    /// `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-sam/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}`.
    #[serde(default)]
    pub resource_id: Option<String>,
}

impl ManagedIdentitySeed {
    /// The Azure resource ID (`mi_res_id`).
    pub fn resource_id(&self) -> String {
        self.resource_id.clone().unwrap_or_else(|| {
            format!(
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-sam/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}",
                self.name
            )
        })
    }
}

/// The emulated hosting environment: its identities and the current `IDENTITY_HEADER`.
pub struct Environment {
    header: String,
    identities: Vec<ManagedIdentitySeed>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("header", &"[redacted]")
            .field("identities", &self.identities)
            .finish()
    }
}

impl Environment {
    /// The environment of a seed, with a fresh random header.
    pub fn from_seed(identities: &[ManagedIdentitySeed]) -> Self {
        Environment {
            header: uuid::Uuid::new_v4().to_string(),
            identities: identities.to_vec(),
        }
    }

    /// The value of `IDENTITY_HEADER`.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The identities.
    pub fn identities(&self) -> &[ManagedIdentitySeed] {
        &self.identities
    }
}
