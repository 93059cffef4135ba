//! National clouds: where Entra ID, Microsoft Graph, Partner Center, the Partner API and Key Vault
//! live in each Microsoft cloud.
//!
//! Sources: "National clouds" (learn.microsoft.com/entra/identity-platform/authentication-national-cloud),
//! Microsoft Graph "National cloud deployments" (concepts/deployments.md), Partner Center "REST URLs"
//! (develop/partner-center-rest-urls.md) and the Partner Center PowerShell module's
//! `EnvironmentConstants.cs`. The seed's `ida:AADInstance` setting is [`CloudEndpoints::authority_host`].
//!
//! A `custom` cloud gives every URL explicitly; that is how the local emulator is addressed, and
//! how a sovereign or private deployment would be.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{UnknownWord, Words};

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

/// An API the tools obtain access tokens for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resource {
    /// Partner Center REST API (`https://api.partnercenter.microsoft.com`).
    PartnerCenter,
    /// The Partner API gateway (`https://api.partner.microsoft.com`).
    PartnerApi,
    /// Microsoft Graph.
    Graph,
    /// Azure Key Vault data plane.
    KeyVault,
}

impl Resource {
    /// The command-line / configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerCenter => "partner-center",
            Self::PartnerApi => "partner-api",
            Self::Graph => "graph",
            Self::KeyVault => "key-vault",
        }
    }

    /// The application (client) ID of the resource's service principal, identical in every cloud.
    pub fn app_id(self) -> &'static str {
        match self {
            Self::PartnerCenter => PARTNER_CENTER_APP_ID,
            Self::PartnerApi => PARTNER_API_APP_ID,
            Self::Graph => GRAPH_APP_ID,
            Self::KeyVault => KEY_VAULT_APP_ID,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// App ID of the "Microsoft Partner Center" first-party application (protocol-facts §7).
pub const PARTNER_CENTER_APP_ID: &str = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd";
/// App ID of the "Microsoft Partner" (Partner API gateway) application.
pub const PARTNER_API_APP_ID: &str = "4990cffe-04e8-4e8b-808a-1175604b879f";
/// App ID of Microsoft Graph.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// App ID of Azure Key Vault.
pub const KEY_VAULT_APP_ID: &str = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093";

/// Every endpoint of one cloud.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CloudEndpoints {
    /// The cloud these endpoints belong to.
    pub name: CloudName,
    /// Entra ID authority host, e.g. `https://login.microsoftonline.com` (the seed's `ida:AADInstance`).
    pub authority_host: Url,
    /// Microsoft Graph base URL (also its token resource).
    pub graph: Url,
    /// Partner Center REST API base URL (also its token resource).
    pub partner_center: Url,
    /// Partner API base URL; `None` where Microsoft publishes none (China).
    pub partner_api: Option<Url>,
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
                graph: url("https://graph.microsoft.com"),
                partner_center: url("https://api.partnercenter.microsoft.com"),
                partner_api: Some(url("https://api.partner.microsoft.com")),
                key_vault_dns_suffix: "vault.azure.net".into(),
            },
            CloudName::China => Self {
                name,
                authority_host: url("https://login.chinacloudapi.cn"),
                graph: url("https://microsoftgraph.chinacloudapi.cn"),
                partner_center: url("https://partner.partnercenterapi.microsoftonline.cn"),
                partner_api: None,
                key_vault_dns_suffix: "vault.azure.cn".into(),
            },
            CloudName::UsGov => Self {
                name,
                authority_host: url("https://login.microsoftonline.us"),
                graph: url("https://graph.microsoft.us"),
                // US Gov partners use the global Partner Center endpoint (partner-center-rest-urls.md).
                partner_center: url("https://api.partnercenter.microsoft.com"),
                partner_api: Some(url("https://api.partner.microsoft.com")),
                key_vault_dns_suffix: "vault.usgovcloudapi.net".into(),
            },
            CloudName::Custom => return None,
        };
        Some(endpoints)
    }

    /// The base URL of a resource's API. `None` only for the Partner API in a cloud without one.
    pub fn base_url(&self, resource: Resource) -> Option<&Url> {
        match resource {
            Resource::PartnerCenter => Some(&self.partner_center),
            Resource::PartnerApi => self.partner_api.as_ref(),
            Resource::Graph => Some(&self.graph),
            Resource::KeyVault => None,
        }
    }

    /// The v1 `resource` identifier (App ID URI) of an API, e.g. `https://api.partnercenter.microsoft.com`.
    ///
    /// Entra v1 tokens carry this string verbatim as `aud`, so it has no trailing slash.
    pub fn resource_id(&self, resource: Resource) -> Option<String> {
        let id = match resource {
            Resource::KeyVault => format!("https://{}", self.key_vault_dns_suffix),
            other => self
                .base_url(other)?
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
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
            c.resource_id(Resource::PartnerApi).unwrap(),
            "https://api.partner.microsoft.com"
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
    fn china_preset_uses_21vianet_hosts_and_has_no_partner_api() {
        let c = CloudEndpoints::preset(CloudName::China).unwrap();
        assert_eq!(c.authority_host.as_str(), "https://login.chinacloudapi.cn/");
        assert_eq!(c.graph.as_str(), "https://microsoftgraph.chinacloudapi.cn/");
        assert_eq!(
            c.partner_center.as_str(),
            "https://partner.partnercenterapi.microsoftonline.cn/"
        );
        assert_eq!(c.partner_api, None);
        assert_eq!(c.resource_id(Resource::PartnerApi), None);
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
