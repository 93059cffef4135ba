//! The seed: tenants, users, app registrations, service principals, consents and
//! Key Vault access policies the emulator starts with.
//!
//! The file format is TOML; `crates/emulator/README.md` documents every key, and
//! `seed/default.toml` is the default used by the local quick start.

use serde::{Deserialize, Serialize};
use std::fmt;

mod check;

/// The default seed, embedded at build time.
pub const DEFAULT_SEED_TOML: &str = include_str!("../../../seed/default.toml");

/// Everything the emulator knows at start.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Tenants (directories).
    #[serde(default)]
    pub tenants: Vec<TenantSeed>,
    /// Users, each in one home tenant.
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// App registrations (in their home tenant).
    #[serde(default)]
    pub apps: Vec<AppSeed>,
    /// Service principals (an app's instance in a tenant), with granted application permissions.
    #[serde(default)]
    pub service_principals: Vec<ServicePrincipalSeed>,
    /// Delegated permission grants (admin consent) already present.
    #[serde(default)]
    pub consents: Vec<ConsentSeed>,
    /// Key Vaults with their access policies.
    #[serde(default)]
    pub vaults: Vec<VaultSeed>,
    /// Partner Center details of customer tenants (subscriptions); see `partner_data`.
    #[serde(default)]
    pub customers: Vec<crate::model::partner_data::seed::CustomerSeed>,
    /// GDAP relationships present at start; see `partner_data`.
    #[serde(default)]
    pub gdap_relationships: Vec<crate::model::partner_data::seed::GdapSeed>,
    /// Customer tenants Partner Center does not list: the partner reaches them only through
    /// GDAP (Graph `delegatedAdminCustomers`); see `partner_data`.
    #[serde(default)]
    pub gdap_only_customers: Vec<String>,
    /// Security groups of the partner tenant (GDAP access containers); see `partner_data`.
    #[serde(default)]
    pub groups: Vec<crate::model::partner_data::seed::GroupSeed>,
    /// Partner Center rate limits; see `partner_data`.
    #[serde(default)]
    pub partner_center: crate::model::partner_data::seed::PartnerCenterSettings,
    /// How long GDAP's transitional states last (`[gdap_timings]`); absent: every transition
    /// completes before the next read (the `emulator` binary uses short demo lengths then).
    #[serde(default)]
    pub gdap_timings: Option<crate::model::partner_data::gdap::GdapTimings>,
    /// How long a consent's service principal and grant, or an app-role assignment, take to
    /// become visible; see `replication` (default: at once).
    #[serde(default)]
    pub replication: crate::model::replication::settings::ReplicationSettings,
    /// Graph's request budget per application and tenant; see `throttle`.
    #[serde(default)]
    pub graph_throttling: crate::model::throttle::GraphThrottleSettings,
    /// Managed identities of the emulated hosting environment, see `managed_identity`.
    #[serde(default)]
    pub managed_identities: Vec<crate::model::managed_identity::ManagedIdentitySeed>,
    /// Federated identity credentials on app registrations, see `federation`.
    #[serde(default)]
    pub federated_credentials: Vec<crate::model::federation::FederatedCredentialSeed>,
    /// App roles assigned to users (or groups) on app registrations: the `roles` claim of the
    /// ID tokens issued to that app for those users.
    #[serde(default)]
    pub app_role_assignments: Vec<AppRoleAssignmentSeed>,
    /// External token issuers (with their JWKS) trusted for federation, see `federation`.
    #[serde(default)]
    pub external_issuers: Vec<crate::model::federation::ExternalIssuerSeed>,
    /// Policies that make Entra challenge MFA at sign-in (security defaults, Conditional
    /// Access); without one, a user is challenged only when the request asks (`amr_values=mfa`).
    #[serde(default)]
    pub mfa_policies: Vec<MfaPolicySeed>,
}

/// A policy that demands MFA at sign-in: the tenant's security defaults or a Conditional Access
/// policy, for every user of the tenant or the users named.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MfaPolicySeed {
    /// What the policy is, for people (`Security defaults`, `CA: require MFA for admins`).
    #[serde(default)]
    pub name: String,
    /// The tenant whose users' sign-ins it covers.
    pub tenant: String,
    /// The users it covers (object IDs or UPNs); empty: every user of the tenant.
    #[serde(default)]
    pub users: Vec<String>,
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Users and apps hold passwords and secrets: print counts only.
        f.debug_struct("Seed")
            .field("tenants", &self.tenants.len())
            .field("users", &self.users.len())
            .field("apps", &self.apps.len())
            .field("service_principals", &self.service_principals.len())
            .field("consents", &self.consents.len())
            .field("vaults", &self.vaults.len())
            .field("managed_identities", &self.managed_identities.len())
            .field("federated_credentials", &self.federated_credentials.len())
            .finish()
    }
}

/// An app role of an app registration assigned to a user or to a group of the partner tenant
/// (Entra's `appRoleAssignment`): the role's value appears in the `roles` claim of the ID tokens
/// the app receives for that user (or any member of that group).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppRoleAssignmentSeed {
    /// The application (client) ID whose role it is.
    pub app_id: String,
    /// The user or group object ID.
    pub principal: String,
    /// The role's value (e.g. `Console.Read`).
    pub role: String,
}

/// Whether a tenant is the partner (CSP) or one of its customers.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    /// The CSP / CPV partner's own tenant.
    Partner,
    /// A customer tenant.
    Customer,
}

/// A tenant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TenantSeed {
    /// Tenant ID (GUID).
    pub id: String,
    /// Initial domain, e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    /// Company name.
    pub display_name: String,
    /// Partner or customer.
    pub kind: TenantKind,
    /// Partner tenants whose Admin Agents have delegated admin access (DAP/GDAP) here.
    #[serde(default)]
    pub delegated_admin: Vec<String>,
}

/// A user.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    /// Object ID (GUID).
    pub id: String,
    /// Home tenant ID.
    pub tenant: String,
    /// User principal name (sign-in name).
    pub upn: String,
    /// Display name.
    pub display_name: String,
    /// Password for the sign-in page.
    pub password: String,
    /// The one-time code the MFA page accepts; absent = the user has no MFA method.
    #[serde(default)]
    pub mfa_code: Option<String>,
    /// Directory roles by display name, e.g. `Global Administrator`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Member of the partner's Admin Agents group.
    #[serde(default)]
    pub admin_agent: bool,
}

impl UserSeed {
    /// Whether the user holds the Global Administrator role.
    pub fn is_global_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case("Global Administrator"))
    }
    /// Whether the user has an MFA method registered.
    pub fn has_mfa(&self) -> bool {
        self.mfa_code.is_some()
    }
}

impl fmt::Debug for UserSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSeed")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("upn", &self.upn)
            .field("password", &"[redacted]")
            .field("has_mfa", &self.has_mfa())
            .field("roles", &self.roles)
            .field("admin_agent", &self.admin_agent)
            .finish()
    }
}

/// Delegated or application permissions on one resource app.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PermissionSeed {
    /// Resource app ID (e.g. `00000003-0000-0000-c000-000000000000` for Microsoft Graph).
    pub resource: String,
    /// Scope or app-role values.
    pub scopes: Vec<String>,
}

/// An app registration.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppSeed {
    /// Application (client) ID.
    pub app_id: String,
    /// Display name shown on the consent page.
    pub display_name: String,
    /// Publisher shown on the consent page.
    #[serde(default)]
    pub publisher: Option<String>,
    /// Home tenant ID.
    pub tenant: String,
    /// Whether users of other tenants may sign in.
    #[serde(default)]
    pub multitenant: bool,
    /// Public client (no secret required).
    #[serde(default)]
    pub public_client: bool,
    /// Registered redirect URIs (exact match).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Redirect URIs of the single-page-application platform (Graph `spa.redirectUris`), kept
    /// apart from the Web ones: Entra gives refresh tokens sent to them a fixed 24-hour
    /// lifetime (AADSTS700084, docs/microsoft-behaviour.md §9). Graph reads and writes them;
    /// the emulator's sign-in does not redirect to them.
    #[serde(default)]
    pub spa_redirect_uris: Vec<String>,
    /// Client secret values.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Client certificates (PEM, public part only).
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Required delegated permissions (what the consent page asks for).
    #[serde(default)]
    pub required_delegated: Vec<PermissionSeed>,
}

impl fmt::Debug for AppSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSeed")
            .field("app_id", &self.app_id)
            .field("display_name", &self.display_name)
            .field("tenant", &self.tenant)
            .field("multitenant", &self.multitenant)
            .field("redirect_uris", &self.redirect_uris)
            .field("spa_redirect_uris", &self.spa_redirect_uris)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// A service principal: an app present in a tenant, with its granted app roles.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServicePrincipalSeed {
    /// Tenant ID.
    pub tenant: String,
    /// App ID.
    pub app_id: String,
    /// Object ID of the service principal (the `oid` of app-only tokens).
    pub object_id: String,
    /// Granted application permissions (the `roles` claim).
    #[serde(default)]
    pub app_roles: Vec<PermissionSeed>,
}

/// Tenant-wide (admin) consent of delegated permissions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConsentSeed {
    /// Tenant ID.
    pub tenant: String,
    /// Client app ID.
    pub app_id: String,
    /// Granted delegated permissions.
    pub grants: Vec<PermissionSeed>,
}

/// A Key Vault.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VaultSeed {
    /// Vault name (3–24 characters): `https://{name}.vault.localhost:{port}/`.
    pub name: String,
    /// Tenant whose tokens the vault accepts.
    pub tenant: String,
    /// Access policies.
    #[serde(default)]
    pub access_policies: Vec<AccessPolicySeed>,
}

/// One Key Vault access policy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccessPolicySeed {
    /// Object ID of the user or service principal (the token's `oid`).
    pub object_id: String,
    /// Secret permissions: `get`, `list`, `set`, `delete`, `recover`, `backup`, `restore`, `purge` or `all`.
    pub secrets: Vec<String>,
}

/// A problem found in a seed file.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The TOML did not parse.
    #[error("the emulator's data file is not valid TOML: {0}")]
    Parse(#[from] toml::de::Error),
    /// The seed is inconsistent; every problem is listed.
    #[error("the emulator's data file has {} problem(s):\n  - {}", .0.len(), .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl Default for Seed {
    fn default() -> Self {
        #[expect(
            clippy::expect_used,
            reason = "the embedded default seed is checked by a unit test"
        )]
        Seed::from_toml(DEFAULT_SEED_TOML).expect("embedded default seed is valid")
    }
}

impl Seed {
    /// Parse and validate a seed.
    pub fn from_toml(text: &str) -> Result<Self, SeedError> {
        let seed: Seed = toml::from_str(text)?;
        seed.validate()?;
        Ok(seed)
    }

    /// The first partner tenant.
    pub fn partner_tenant(&self) -> Option<&TenantSeed> {
        self.tenants.iter().find(|t| t.kind == TenantKind::Partner)
    }

    /// Customer tenants.
    pub fn customer_tenants(&self) -> impl Iterator<Item = &TenantSeed> {
        self.tenants
            .iter()
            .filter(|t| t.kind == TenantKind::Customer)
    }

    /// A user by UPN (case-insensitive).
    pub fn user_by_upn(&self, upn: &str) -> Option<&UserSeed> {
        self.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }

    /// An app by its display name.
    pub fn app_by_name(&self, name: &str) -> Option<&AppSeed> {
        self.apps.iter().find(|a| a.display_name == name)
    }
}

/// Fixed IDs of the default seed, so docs, configs and tests can name them.
pub mod ids {
    /// Partner tenant (Contoso Partner).
    pub const PARTNER_TENANT: &str = "10000000-0000-4000-8000-000000000001";
    /// Customer with delegated access: Fabrikam.
    pub const CUSTOMER_FABRIKAM: &str = "20000000-0000-4000-8000-000000000001";
    /// Customer with delegated access: Northwind.
    pub const CUSTOMER_NORTHWIND: &str = "20000000-0000-4000-8000-000000000002";
    /// Customer WITHOUT delegated access: Tailspin.
    pub const CUSTOMER_TAILSPIN: &str = "20000000-0000-4000-8000-000000000003";
    /// Partner admin: Global Admin + Admin Agent + MFA.
    pub const PARTNER_ADMIN: &str = "30000000-0000-4000-8000-000000000001";
    /// Partner admin without MFA.
    pub const PARTNER_ADMIN_NO_MFA: &str = "30000000-0000-4000-8000-000000000002";
    /// Partner non-admin user.
    pub const PARTNER_USER: &str = "30000000-0000-4000-8000-000000000003";
    /// Demo CSP app (multitenant).
    pub const CSP_APP: &str = "40000000-0000-4000-8000-000000000001";
    /// Demo CPV app (multitenant).
    pub const CPV_APP: &str = "40000000-0000-4000-8000-000000000002";
    /// Key Vault access app (single tenant).
    pub const KEYVAULT_APP: &str = "40000000-0000-4000-8000-000000000003";
    /// Service principal of the Key Vault access app in the partner tenant.
    pub const KEYVAULT_APP_SP: &str = "50000000-0000-4000-8000-000000000003";
    /// Key Vault operator app (all secret permissions).
    pub const KEYVAULT_OPERATOR_APP: &str = "40000000-0000-4000-8000-000000000004";
    /// Service principal of the Key Vault operator app in the partner tenant.
    pub const KEYVAULT_OPERATOR_SP: &str = "50000000-0000-4000-8000-000000000004";
    /// The partner's vault.
    pub const VAULT: &str = "kv-partner";
    /// System-assigned managed identity of the emulated host: client ID.
    pub const SYSTEM_MI_CLIENT: &str = "60000000-0000-4000-8000-000000000001";
    /// System-assigned managed identity: object (principal) ID, in the vault's access policies.
    pub const SYSTEM_MI_OBJECT: &str = "61000000-0000-4000-8000-000000000001";
    /// User-assigned managed identity `id-sam-broker`: client ID.
    pub const USER_MI_CLIENT: &str = "60000000-0000-4000-8000-000000000002";
    /// User-assigned managed identity `id-sam-broker`: object (principal) ID.
    pub const USER_MI_OBJECT: &str = "61000000-0000-4000-8000-000000000002";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_seed_is_valid_and_names_the_fixed_ids() {
        let seed = Seed::from_toml(DEFAULT_SEED_TOML).unwrap();
        assert_eq!(seed.partner_tenant().unwrap().id, ids::PARTNER_TENANT);
        assert!(seed.customer_tenants().count() >= 3);
        assert!(seed.apps.iter().any(|a| a.app_id == ids::CSP_APP));
        assert!(seed.vaults.iter().any(|v| v.name == ids::VAULT));
    }

    #[test]
    fn invalid_seed_reports_every_problem() {
        let err = Seed::from_toml(
            "[[users]]\nid='x'\ntenant='nope'\nupn='a@b'\ndisplay_name='a'\npassword='p'\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("2 problem(s)"), "{text}");
    }

    #[test]
    fn debug_redacts_passwords() {
        let seed = Seed::default();
        let text = format!("{:?}", seed.users[0]);
        assert!(!text.contains(&seed.users[0].password));
    }
}
