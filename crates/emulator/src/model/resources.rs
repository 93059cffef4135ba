//! Well-known Microsoft resource apps present in every emulated tenant, and how a token's
//! audience maps to one of them.

/// Which emulated API a resource app is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// Microsoft Graph (`00000003-0000-0000-c000-000000000000`).
    Graph,
    /// Partner Center API (`fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd`).
    PartnerCenter,
    /// Partner API gateway (`4990cffe-04e8-4e8b-808a-1175604b879f`).
    PartnerApi,
    /// Azure Key Vault (`cfa8b339-82a2-471a-a3c9-0fc0be7a4093`).
    KeyVault,
    /// Another Microsoft workload (Exchange Online, Azure Resource Manager): tokens are issued
    /// for it, no API is emulated (`partner_data::workloads`).
    Workload,
}

/// App ID of Microsoft Graph.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// App ID of the Partner Center API.
pub const PARTNER_CENTER_APP_ID: &str = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd";
/// App ID of the Partner API gateway.
pub const PARTNER_API_APP_ID: &str = "4990cffe-04e8-4e8b-808a-1175604b879f";
/// App ID of Azure Key Vault.
pub const KEY_VAULT_APP_ID: &str = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093";

/// A delegated permission a resource exposes.
#[derive(Clone, Debug)]
pub struct ScopeDef {
    /// The scope value, e.g. `User.Read.All`.
    pub value: &'static str,
    /// Text shown on the consent page.
    pub description: &'static str,
    /// Whether only an administrator may consent.
    pub admin_consent_required: bool,
}

/// A resource app (an API that tokens are issued for).
#[derive(Clone, Debug)]
pub struct ResourceApp {
    /// Which API.
    pub kind: ResourceKind,
    /// App ID.
    pub app_id: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// Identifier URIs: the public App ID URI first (Key Vault also the emulator's vault host).
    pub identifiers: Vec<String>,
    /// Delegated scopes.
    pub scopes: Vec<ScopeDef>,
    /// Conditional Access in the emulator: user tokens need `mfa` in `amr`.
    pub requires_mfa: bool,
}

impl ResourceApp {
    /// Whether `s` names this resource (an identifier URI, with or without a trailing
    /// slash, or the app ID), compared case-insensitively as Entra does.
    pub fn is_named_by(&self, s: &str) -> bool {
        let s = s.trim_end_matches('/');
        s.eq_ignore_ascii_case(self.app_id)
            || self.identifiers.iter().any(|i| i.eq_ignore_ascii_case(s))
    }

    /// A scope definition by value (case-insensitive).
    pub fn scope(&self, value: &str) -> Option<&ScopeDef> {
        self.scopes
            .iter()
            .find(|s| s.value.eq_ignore_ascii_case(value))
    }
}

const fn scope(value: &'static str, description: &'static str, admin: bool) -> ScopeDef {
    ScopeDef {
        value,
        description,
        admin_consent_required: admin,
    }
}

/// The resource apps of an emulator listening on `port`.
///
/// Graph, Partner Center and the Partner API are known only by Microsoft's App ID URIs, as in
/// Entra: the emulator answers them on its own URLs (`https://127.0.0.1:{port}/graph`, …), but a
/// token asked for one of those URLs is refused with AADSTS500011, as Entra refuses a token for a
/// gateway's URL (docs/microsoft-behaviour.md §6.1a). Key Vault keeps the emulator's own vault
/// host as a second identifier: a client takes that resource from the vault's challenge.
pub fn well_known(port: u16) -> Vec<ResourceApp> {
    vec![
        ResourceApp {
            kind: ResourceKind::Graph,
            app_id: GRAPH_APP_ID,
            display_name: "Microsoft Graph",
            identifiers: vec![
                "https://graph.microsoft.com".into(),
                "00000003-0000-0000-c000-000000000000".into(),
            ],
            scopes: vec![
                scope("User.Read", "Sign in and read user profile", false),
                scope(
                    "User.ReadBasic.All",
                    "Read all users' basic profiles",
                    false,
                ),
                scope("User.Read.All", "Read all users' full profiles", true),
                scope("Directory.Read.All", "Read directory data", true),
                scope(
                    "DelegatedAdminRelationship.Read.All",
                    "Read Delegated Admin relationships with customers",
                    true,
                ),
                scope(
                    "DelegatedAdminRelationship.ReadWrite.All",
                    "Manage Delegated Admin relationships with customers",
                    true,
                ),
                scope("Application.Read.All", "Read applications", true),
                // Graph emulator: app setup, organization and grant reads.
                scope(
                    "Application.ReadWrite.All",
                    "Read and write all applications",
                    true,
                ),
                scope(
                    "Organization.Read.All",
                    "Read organization information",
                    true,
                ),
                scope(
                    "DelegatedPermissionGrant.Read.All",
                    "Read delegated permission grants",
                    true,
                ),
            ],
            requires_mfa: false,
        },
        ResourceApp {
            kind: ResourceKind::PartnerCenter,
            app_id: PARTNER_CENTER_APP_ID,
            display_name: "Microsoft Partner Center",
            identifiers: vec!["https://api.partnercenter.microsoft.com".into()],
            scopes: vec![scope(
                "user_impersonation",
                "Access Partner Center PPE",
                false,
            )],
            requires_mfa: true,
        },
        ResourceApp {
            kind: ResourceKind::PartnerApi,
            app_id: PARTNER_API_APP_ID,
            display_name: "Microsoft Partner",
            identifiers: vec!["https://api.partner.microsoft.com".into()],
            scopes: vec![scope(
                "user_impersonation",
                "Access Microsoft Partner API",
                false,
            )],
            requires_mfa: false,
        },
        ResourceApp {
            kind: ResourceKind::KeyVault,
            app_id: KEY_VAULT_APP_ID,
            display_name: "Azure Key Vault",
            identifiers: vec![
                "https://vault.azure.net".into(),
                format!("https://vault.localhost:{port}"),
            ],
            scopes: vec![scope(
                "user_impersonation",
                "Have full access to the Azure Key Vault service",
                false,
            )],
            requires_mfa: false,
        },
    ]
}

/// Split a v2 scope like `https://graph.microsoft.com/User.Read.All` or `{appid}/.default`
/// into (resource, the identifier as written, permission). Bare permissions (`User.Read`)
/// belong to Microsoft Graph, as in Entra.
pub fn split_scope<'a>(
    resources: &'a [ResourceApp],
    scope: &str,
) -> Option<(&'a ResourceApp, String, String)> {
    if !scope.contains('/') {
        let graph = resources.iter().find(|r| r.kind == ResourceKind::Graph)?;
        return Some((
            graph,
            "https://graph.microsoft.com".into(),
            scope.to_string(),
        ));
    }
    let (ident, perm) = scope.rsplit_once('/')?;
    let resource = resources.iter().find(|r| r.is_named_by(ident))?;
    Some((resource, ident.to_string(), perm.to_string()))
}

/// OpenID Connect scopes that do not name a resource.
pub fn is_oidc_scope(s: &str) -> bool {
    matches!(s, "openid" | "profile" | "email" | "offline_access")
}
