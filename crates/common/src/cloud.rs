//! National clouds: where Entra ID, Microsoft Graph, Partner Center and Key Vault live in each
//! Microsoft cloud. (The Partner API gateway, `api.partner.microsoft.com`, is not modelled: no
//! command uses it and `setup` registers no permission for it; a token for it is asked for like
//! any resource, `--resource https://api.partner.microsoft.com`, and works only where the app has
//! been granted access.)
//!
//! Sources: "National clouds" (learn.microsoft.com/entra/identity-platform/authentication-national-cloud),
//! Microsoft Graph "National cloud deployments" (concepts/deployments.md), Partner Center "REST URLs"
//! (develop/partner-center-rest-urls.md) and the Partner Center PowerShell module's
//! `EnvironmentConstants.cs`. Microsoft's samples' `ida:AADInstance` setting is [`CloudEndpoints::authority_host`].
//!
//! A `custom` cloud gives every URL explicitly; that is how the local emulator is addressed, and
//! how a sovereign or private deployment would be. Where an API is reached (its base URL) and what
//! Entra calls it (its audience, the App ID URI tokens are asked for) are separate settings: a
//! gateway or the emulator answers on its own URL, the token is still for Microsoft's App ID URI.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::words::{UnknownWord, Words};

/// Which Microsoft cloud the tools talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudName {
    /// The global (commercial) cloud, `login.microsoftonline.com`.
    Global,
    /// Azure China, operated by 21Vianet.
    China,
    /// Azure US Government (GCC High, L4). GCC (moderate) tenants use `global`.
    UsGov,
    /// Every endpoint given in configuration (the local emulator, private clouds).
    Custom,
}

impl CloudName {
    /// All names, as written in configuration.
    pub const ALL: [&'static str; 4] = ["global", "china", "usgov", "custom"];

    /// Parses the configuration spelling (`global`, `china`, `usgov`, `custom`, or Azure's own
    /// names; case-insensitive).
    pub fn parse(value: &str) -> Option<Self> {
        Self::parse_word(value).ok()
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        self.word()
    }
}

impl Words for CloudName {
    const NOUN: &'static str = "a cloud";
    const SPELLINGS: &'static [(Self, &'static [&'static str])] = &[
        (Self::Global, &["global", "public", "azurecloud"]),
        (Self::China, &["china", "azurechinacloud"]),
        (Self::UsGov, &["usgov", "us-gov", "azureusgovernment"]),
        (Self::Custom, &["custom"]),
    ];
}

impl std::str::FromStr for CloudName {
    type Err = UnknownWord;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_word(s)
    }
}

impl fmt::Display for CloudName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API the tools obtain access tokens for: one the tools call themselves, another Microsoft
/// workload partners script with the same refresh token through GDAP (Exchange Online, Azure
/// Resource Manager, Defender), or any resource named by its App ID URI.
///
/// `Copy`, so the token cache keys on it without allocating: a URI is interned once per process
/// ([`ResourceUri`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// Partner Center REST API (`https://api.partnercenter.microsoft.com`).
    PartnerCenter,
    /// Microsoft Graph.
    Graph,
    /// Azure Key Vault data plane.
    KeyVault,
    /// Exchange Online (`https://outlook.office365.com`): EWS, Exchange Online PowerShell.
    Exchange,
    /// Azure Resource Manager (`https://management.azure.com`).
    AzureResourceManager,
    /// Microsoft Defender for Endpoint API (`https://api.securitycenter.microsoft.com`).
    Defender,
    /// Any other resource, by App ID URI (HTTPS, no query or fragment, no trailing slash).
    Uri(ResourceUri),
}

/// The named resources, as [`Resource::parse`] and `--resource` spell them.
pub const RESOURCE_NAMES: [&str; 6] = [
    "partner-center",
    "graph",
    "key-vault",
    "exchange",
    "arm",
    "defender",
];

/// A resource's App ID URI, interned: each distinct URI is stored once for the life of the
/// process (a process names a handful), which keeps [`Resource`] `Copy` and cheap to hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceUri(&'static str);

impl ResourceUri {
    fn intern(uri: &str) -> Self {
        static INTERNED: std::sync::OnceLock<
            std::sync::Mutex<std::collections::HashSet<&'static str>>,
        > = std::sync::OnceLock::new();
        let mut set = INTERNED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = set.get(uri) {
            return Self(existing);
        }
        let leaked: &'static str = Box::leak(uri.to_owned().into_boxed_str());
        set.insert(leaked);
        Self(leaked)
    }

    /// The URI.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// Why a `--resource` value is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a resource: {reason}; give an App ID URI or its /.default scope (https://outlook.office365.com), or one of {names}", names = RESOURCE_NAMES.join(", "))]
pub struct ResourceError {
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Resource {
    /// Parses a name (`graph`, `exchange`, `arm`, … — [`RESOURCE_NAMES`], case-insensitive), an
    /// App ID URI (`https://outlook.office365.com`) or a `.default` scope of one
    /// (`https://management.azure.com/.default`). A URI must be HTTPS with a host and no query or
    /// fragment: Entra's v1 `resource` and v2 scope are App ID URIs, and a token for a URI that
    /// carries more would not be the token asked for.
    pub fn parse(value: &str) -> Result<Self, ResourceError> {
        let trimmed = value.trim();
        let named = match trimmed.to_ascii_lowercase().as_str() {
            "partner-center" | "partnercenter" => Some(Self::PartnerCenter),
            "graph" => Some(Self::Graph),
            "key-vault" | "keyvault" => Some(Self::KeyVault),
            "exchange" | "exchange-online" => Some(Self::Exchange),
            "arm" | "azure-resource-manager" => Some(Self::AzureResourceManager),
            "defender" | "defender-for-endpoint" => Some(Self::Defender),
            _ => None,
        };
        if let Some(named) = named {
            return Ok(named);
        }
        let refuse = |reason| ResourceError {
            value: value.to_owned(),
            reason,
        };
        let url = Url::parse(trimmed).map_err(|_| refuse("not a known name or a URL"))?;
        if url.scheme() != "https" {
            return Err(refuse("only HTTPS resources are accepted"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(refuse("the URL has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse("a resource has no query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("a resource carries no user name or password"));
        }
        let uri = trimmed
            .strip_suffix("/.default")
            .unwrap_or(trimmed)
            .trim_end_matches('/');
        Ok(Self::Uri(ResourceUri::intern(uri)))
    }

    /// The command-line / configuration spelling: the name, or the URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerCenter => "partner-center",
            Self::Graph => "graph",
            Self::KeyVault => "key-vault",
            Self::Exchange => "exchange",
            Self::AzureResourceManager => "arm",
            Self::Defender => "defender",
            Self::Uri(uri) => uri.as_str(),
        }
    }

    /// The application (client) ID of the resource's service principal, identical in every
    /// cloud; `None` for a resource named by URI.
    pub fn app_id(self) -> Option<&'static str> {
        Some(match self {
            Self::PartnerCenter => PARTNER_CENTER_APP_ID,
            Self::Graph => GRAPH_APP_ID,
            Self::KeyVault => KEY_VAULT_APP_ID,
            Self::Exchange => EXCHANGE_APP_ID,
            Self::AzureResourceManager => ARM_APP_ID,
            Self::Defender => DEFENDER_APP_ID,
            Self::Uri(_) => return None,
        })
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Resource {
    type Err = ResourceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Resource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// App ID of the "Microsoft Partner Center" first-party application (docs/microsoft-behaviour.md §7).
pub const PARTNER_CENTER_APP_ID: &str = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd";
/// App ID of Microsoft Graph.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// App ID of Azure Key Vault.
pub const KEY_VAULT_APP_ID: &str = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093";
/// App ID of "Office 365 Exchange Online".
pub const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
/// App ID of "Windows Azure Service Management API" (Azure Resource Manager).
pub const ARM_APP_ID: &str = "797f4846-ba00-4fd7-ba43-dac1f8f63013";
/// App ID of "WindowsDefenderATP" (Microsoft Defender for Endpoint API).
pub const DEFENDER_APP_ID: &str = "fc780465-2017-40d4-a0c5-307022471b92";

/// The App ID URI of Microsoft Graph in the global cloud: the v1 `resource` and v2 scope prefix of
/// its tokens (docs/microsoft-behaviour.md §6.1).
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// The App ID URI of the Partner Center API, global and US Gov (docs/microsoft-behaviour.md §5.1).
pub const PARTNER_CENTER_AUDIENCE: &str = "https://api.partnercenter.microsoft.com";

/// Every endpoint of one cloud.
///
/// An API's base URL (where it is reached) and its audience (the App ID URI Entra issues its
/// tokens for) are separate: an API gateway, a proxy or the local emulator answers on its own URL,
/// while Entra knows the API only by its App ID URI and refuses a token for any other
/// (AADSTS500011, docs/microsoft-behaviour.md §6.1a).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CloudEndpoints {
    /// The cloud these endpoints belong to.
    pub name: CloudName,
    /// Entra ID authority host, e.g. `https://login.microsoftonline.com` (Microsoft's samples' `ida:AADInstance`).
    pub authority_host: Url,
    /// Microsoft Graph base URL (where requests are sent).
    pub graph: Url,
    /// Microsoft Graph's App ID URI in this cloud (its token audience), no trailing slash.
    pub graph_audience: String,
    /// Partner Center REST API base URL (where requests are sent).
    pub partner_center: Url,
    /// Partner Center's App ID URI in this cloud (its token audience), no trailing slash.
    pub partner_center_audience: String,
    /// DNS suffix of vaults: a vault named `v` lives at `https://v.{suffix}` (may carry a port).
    pub key_vault_dns_suffix: String,
}

fn url(s: &str) -> Url {
    Url::parse(s).expect("built-in cloud URLs are valid")
}

impl CloudEndpoints {
    /// The built-in endpoints of a national cloud; `None` for [`CloudName::Custom`].
    pub fn preset(name: CloudName) -> Option<Self> {
        let endpoints = match name {
            CloudName::Global => Self {
                name,
                authority_host: url("https://login.microsoftonline.com"),
                graph: url(GRAPH_AUDIENCE),
                graph_audience: GRAPH_AUDIENCE.into(),
                partner_center: url(PARTNER_CENTER_AUDIENCE),
                partner_center_audience: PARTNER_CENTER_AUDIENCE.into(),
                key_vault_dns_suffix: "vault.azure.net".into(),
            },
            CloudName::China => Self {
                name,
                authority_host: url("https://login.chinacloudapi.cn"),
                graph: url("https://microsoftgraph.chinacloudapi.cn"),
                graph_audience: "https://microsoftgraph.chinacloudapi.cn".into(),
                partner_center: url("https://partner.partnercenterapi.microsoftonline.cn"),
                // Microsoft publishes only the base URL for 21Vianet; third-party code asks for
                // tokens for it as the resource (unconfirmed, docs/microsoft-behaviour.md §5.1, §8).
                partner_center_audience: "https://partner.partnercenterapi.microsoftonline.cn"
                    .into(),
                key_vault_dns_suffix: "vault.azure.cn".into(),
            },
            CloudName::UsGov => Self {
                name,
                authority_host: url("https://login.microsoftonline.us"),
                graph: url("https://graph.microsoft.us"),
                graph_audience: "https://graph.microsoft.us".into(),
                // US Gov partners use the global Partner Center endpoint (partner-center-rest-urls.md).
                partner_center: url(PARTNER_CENTER_AUDIENCE),
                partner_center_audience: PARTNER_CENTER_AUDIENCE.into(),
                key_vault_dns_suffix: "vault.usgovcloudapi.net".into(),
            },
            CloudName::Custom => return None,
        };
        Some(endpoints)
    }

    /// A `custom` cloud reached at the given URLs, whose Graph and Partner Center are known to
    /// Entra by Microsoft's global App ID URIs ([`GRAPH_AUDIENCE`], [`PARTNER_CENTER_AUDIENCE`]),
    /// as the local emulator registers them; set [`Self::graph_audience`] /
    /// [`Self::partner_center_audience`] for another directory.
    pub fn custom(
        authority_host: Url,
        graph: Url,
        partner_center: Url,
        key_vault_dns_suffix: impl Into<String>,
    ) -> Self {
        Self {
            name: CloudName::Custom,
            authority_host,
            graph,
            graph_audience: GRAPH_AUDIENCE.into(),
            partner_center,
            partner_center_audience: PARTNER_CENTER_AUDIENCE.into(),
            key_vault_dns_suffix: key_vault_dns_suffix.into(),
        }
    }

    /// The base URL of a resource's API: Partner Center and Graph; `None` for the others.
    pub fn base_url(&self, resource: Resource) -> Option<&Url> {
        match resource {
            Resource::PartnerCenter => Some(&self.partner_center),
            Resource::Graph => Some(&self.graph),
            Resource::KeyVault
            | Resource::Exchange
            | Resource::AzureResourceManager
            | Resource::Defender
            | Resource::Uri(_) => None,
        }
    }

    /// The App ID URI of a workload in this cloud: Exchange Online ("Exchange Online in national
    /// clouds": `outlook.office365.us` for GCC High, `partner.outlook.cn` for 21Vianet), Azure
    /// Resource Manager ("Azure national clouds": `management.usgovcloudapi.net`,
    /// `management.chinacloudapi.cn`) and Defender for Endpoint (`api-gov.securitycenter.microsoft.us`
    /// for GCC High; none published for 21Vianet). A `custom` cloud uses the global URIs, as the
    /// emulator registers them.
    fn workload_uri(&self, resource: Resource) -> Option<&'static str> {
        let china = self.name == CloudName::China;
        let usgov = self.name == CloudName::UsGov;
        Some(match resource {
            Resource::Exchange if china => "https://partner.outlook.cn",
            Resource::Exchange if usgov => "https://outlook.office365.us",
            Resource::Exchange => "https://outlook.office365.com",
            Resource::AzureResourceManager if china => "https://management.chinacloudapi.cn",
            Resource::AzureResourceManager if usgov => "https://management.usgovcloudapi.net",
            Resource::AzureResourceManager => "https://management.azure.com",
            Resource::Defender if china => return None,
            Resource::Defender if usgov => "https://api-gov.securitycenter.microsoft.us",
            Resource::Defender => "https://api.securitycenter.microsoft.com",
            _ => return None,
        })
    }

    /// The v1 `resource` identifier (App ID URI) of an API, e.g. `https://api.partnercenter.microsoft.com`:
    /// for Partner Center and Graph their configured audience, whatever URL they are reached at.
    ///
    /// Entra v1 tokens carry this string verbatim as `aud`, so it has no trailing slash.
    pub fn resource_id(&self, resource: Resource) -> Option<String> {
        let id = match resource {
            Resource::KeyVault => format!("https://{}", self.key_vault_dns_suffix),
            Resource::Exchange | Resource::AzureResourceManager | Resource::Defender => {
                self.workload_uri(resource)?.to_owned()
            }
            Resource::Uri(uri) => uri.as_str().to_owned(),
            // The App ID URI, never the base URL: a request for a proxy's or the emulator's own
            // URL is refused by Entra (AADSTS500011, docs/microsoft-behaviour.md §6.1a).
            Resource::PartnerCenter => self
                .partner_center_audience
                .trim_end_matches('/')
                .to_owned(),
            Resource::Graph => self.graph_audience.trim_end_matches('/').to_owned(),
        };
        Some(id)
    }

    /// The v2 `.default` scope of an API, e.g. `https://graph.microsoft.com/.default`.
    pub fn default_scope(&self, resource: Resource) -> Option<String> {
        self.resource_id(resource)
            .map(|id| format!("{id}/.default"))
    }

    /// The authority URL for a tenant (`common`, `organizations`, a GUID or a domain).
    pub fn authority(&self, tenant: &str) -> Url {
        join(&self.authority_host, tenant)
    }

    /// The URL of a vault by name: `https://{name}.{key_vault_dns_suffix}/`.
    pub fn vault_url(&self, vault_name: &str) -> Option<Url> {
        Url::parse(&format!(
            "https://{vault_name}.{}/",
            self.key_vault_dns_suffix
        ))
        .ok()
    }
}

/// Appends path segments to a base URL whether or not it ends in `/`.
pub fn join(base: &Url, path: &str) -> Url {
    let mut s = base.as_str().trim_end_matches('/').to_owned();
    s.push('/');
    s.push_str(path.trim_start_matches('/'));
    Url::parse(&s).unwrap_or_else(|_| base.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_preset_matches_the_documented_endpoints() {
        let c = CloudEndpoints::preset(CloudName::Global).unwrap();
        assert_eq!(
            c.authority("common").as_str(),
            "https://login.microsoftonline.com/common"
        );
        assert_eq!(
            c.resource_id(Resource::Graph).unwrap(),
            "https://graph.microsoft.com"
        );
        assert_eq!(
            c.resource_id(Resource::PartnerCenter).unwrap(),
            "https://api.partnercenter.microsoft.com"
        );
        assert_eq!(
            c.resource_id(Resource::KeyVault).unwrap(),
            "https://vault.azure.net"
        );
        assert_eq!(
            c.default_scope(Resource::Graph).unwrap(),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(
            c.vault_url("kv-sam").unwrap().as_str(),
            "https://kv-sam.vault.azure.net/"
        );
    }

    #[test]
    fn china_preset_uses_21vianet_hosts() {
        let c = CloudEndpoints::preset(CloudName::China).unwrap();
        assert_eq!(c.authority_host.as_str(), "https://login.chinacloudapi.cn/");
        assert_eq!(c.graph.as_str(), "https://microsoftgraph.chinacloudapi.cn/");
        assert_eq!(
            c.partner_center.as_str(),
            "https://partner.partnercenterapi.microsoftonline.cn/"
        );
        assert_eq!(
            c.resource_id(Resource::KeyVault).unwrap(),
            "https://vault.azure.cn"
        );
    }

    #[test]
    fn usgov_preset_uses_gov_login_and_graph_but_global_partner_center() {
        let c = CloudEndpoints::preset(CloudName::UsGov).unwrap();
        assert_eq!(
            c.authority_host.as_str(),
            "https://login.microsoftonline.us/"
        );
        assert_eq!(c.graph.as_str(), "https://graph.microsoft.us/");
        assert_eq!(
            c.partner_center.as_str(),
            "https://api.partnercenter.microsoft.com/"
        );
        assert_eq!(
            c.resource_id(Resource::KeyVault).unwrap(),
            "https://vault.usgovcloudapi.net"
        );
    }

    #[test]
    fn resources_parse_from_names_uris_and_default_scopes() {
        assert_eq!(Resource::parse("Exchange"), Ok(Resource::Exchange));
        assert_eq!(Resource::parse("arm"), Ok(Resource::AzureResourceManager));
        assert_eq!(Resource::parse("graph"), Ok(Resource::Graph));
        let api = Resource::parse("https://api.contoso.example/reports/.default").unwrap();
        assert_eq!(api.as_str(), "https://api.contoso.example/reports");
        assert_eq!(
            Resource::parse("https://api.contoso.example/reports/"),
            Ok(api),
            "one interned URI, however it was spelled"
        );
        let c = CloudEndpoints::preset(CloudName::Global).unwrap();
        assert_eq!(
            c.default_scope(api).unwrap(),
            "https://api.contoso.example/reports/.default"
        );
        assert_eq!(
            c.resource_id(Resource::Exchange).unwrap(),
            "https://outlook.office365.com"
        );
        assert_eq!(
            c.default_scope(Resource::AzureResourceManager).unwrap(),
            "https://management.azure.com/.default"
        );
        let gov = CloudEndpoints::preset(CloudName::UsGov).unwrap();
        assert_eq!(
            gov.resource_id(Resource::AzureResourceManager).unwrap(),
            "https://management.usgovcloudapi.net"
        );
        let china = CloudEndpoints::preset(CloudName::China).unwrap();
        assert_eq!(china.resource_id(Resource::Defender), None);
    }

    #[test]
    fn resources_refuse_what_is_not_an_https_app_id_uri() {
        let reason = |v: &str| Resource::parse(v).unwrap_err().reason;
        assert_eq!(
            reason("http://outlook.office365.com"),
            "only HTTPS resources are accepted"
        );
        assert_eq!(
            reason("https://management.azure.com/?api-version=1"),
            "a resource has no query or fragment"
        );
        assert_eq!(
            reason("https://management.azure.com/#x"),
            "a resource has no query or fragment"
        );
        assert_eq!(reason("outlook"), "not a known name or a URL");
        assert_eq!(
            Resource::parse("outlook").unwrap_err().to_string(),
            "\"outlook\" is not a resource: not a known name or a URL; give an App ID URI or its /.default scope (https://outlook.office365.com), or one of partner-center, graph, key-vault, exchange, arm, defender"
        );
    }

    #[test]
    fn resources_serialize_as_their_spelling() {
        let r: Resource = serde_json::from_str("\"https://management.azure.com\"").unwrap();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"https://management.azure.com\""
        );
        assert_eq!(
            serde_json::to_string(&Resource::KeyVault).unwrap(),
            "\"key-vault\""
        );
    }

    #[test]
    fn resource_and_scope_come_from_the_audience_not_the_base_url() {
        let proxy = |p: &str| Url::parse(&format!("https://gateway.contoso.example/{p}")).unwrap();
        let mut c = CloudEndpoints::custom(
            Url::parse("https://login.contoso.example").unwrap(),
            proxy("graph"),
            proxy("partnercenter"),
            "vault.contoso.example",
        );
        assert_eq!(
            c.resource_id(Resource::PartnerCenter).unwrap(),
            "https://api.partnercenter.microsoft.com",
            "a custom cloud's default audience is Microsoft's App ID URI"
        );
        assert_eq!(
            c.default_scope(Resource::Graph).unwrap(),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(c.base_url(Resource::Graph), Some(&proxy("graph")));
        c.partner_center_audience = "https://pc.contoso.example/".into();
        c.graph_audience = "https://graph.contoso.example".into();
        assert_eq!(
            c.resource_id(Resource::PartnerCenter).unwrap(),
            "https://pc.contoso.example"
        );
        assert_eq!(
            c.default_scope(Resource::PartnerCenter).unwrap(),
            "https://pc.contoso.example/.default"
        );
        assert_eq!(
            c.resource_id(Resource::Graph).unwrap(),
            "https://graph.contoso.example"
        );
        let gov = CloudEndpoints::preset(CloudName::UsGov).unwrap();
        assert_eq!(
            gov.default_scope(Resource::Graph).unwrap(),
            "https://graph.microsoft.us/.default"
        );
        assert_eq!(
            gov.resource_id(Resource::PartnerCenter).unwrap(),
            "https://api.partnercenter.microsoft.com"
        );
        let china = CloudEndpoints::preset(CloudName::China).unwrap();
        assert_eq!(
            china.resource_id(Resource::Graph).unwrap(),
            "https://microsoftgraph.chinacloudapi.cn"
        );
    }

    #[test]
    fn custom_has_no_preset() {
        assert_eq!(CloudEndpoints::preset(CloudName::Custom), None);
    }

    #[test]
    fn cloud_names_parse_case_insensitively_with_powershell_aliases() {
        assert_eq!(CloudName::parse("Global"), Some(CloudName::Global));
        assert_eq!(CloudName::parse("AzureChinaCloud"), Some(CloudName::China));
        assert_eq!(CloudName::parse("usgov"), Some(CloudName::UsGov));
        assert_eq!(CloudName::parse("germany"), None);
    }

    #[test]
    fn join_handles_paths_with_and_without_slashes() {
        let base = Url::parse("https://127.0.0.1:8443/graph").unwrap();
        assert_eq!(
            join(&base, "/v1.0/users").as_str(),
            "https://127.0.0.1:8443/graph/v1.0/users"
        );
        let base = Url::parse("https://127.0.0.1:8443/graph/").unwrap();
        assert_eq!(
            join(&base, "v1.0/users").as_str(),
            "https://127.0.0.1:8443/graph/v1.0/users"
        );
    }
}
