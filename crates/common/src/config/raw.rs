//! The raw settings: what the layers merge into, before validation.
//!
//! Almost every value is still text, so that one wrong value never stops the loader at the first
//! mistake; [`RawSettings::validate`](super::RawSettings::validate) parses them all and reports
//! every problem. The structs also serialise (see [`render_toml`](super::render_toml)), so the
//! file `setup` writes uses exactly these keys.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The merged configuration before validation. Field docs are the reference of every key;
/// `config/default.toml` repeats them with examples.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawSettings {
    /// `csp` (one partner tenant) or `cpv` (many partners consent to one app).
    pub mode: String,
    /// The CSP or CPV multitenant application and its credential.
    pub app: RawApp,
    /// The partner tenant(s).
    pub partner: RawPartner,
    /// Which Microsoft cloud, or every URL for `custom`.
    pub cloud: RawCloud,
    /// Entra ID endpoint version and sign-in tenant.
    pub entra: RawEntra,
    /// The partner-consent web app.
    pub consent: RawConsent,
    /// Where refresh tokens are kept.
    pub store: RawStore,
    /// Outgoing HTTP.
    pub http: RawHttp,
    /// Logging.
    pub log: RawLog,
    /// `csp-app watch` (its operator console).
    pub watch: RawWatch,
    /// Which customers a fan-out leaves out unless told otherwise.
    pub customers: RawCustomers,
    /// GDAP role templates by name (`[templates.NAME]`), what `onboard` applies.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, RawTemplate>,
}

/// `[customers]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawCustomers {
    /// Tenant IDs or domains every fan-out leaves out unless the command line overrides it
    /// (`--no-default-exclude`), e.g. the partner's own test tenants.
    pub exclude: StringList,
    /// Delegated permissions the application holds in customer tenants, `RESOURCE:SCOPES`
    /// each (`graph:User.Read.All`): what `consent grant` gives when no `--delegated` or
    /// `--application` is named.
    pub delegated_permissions: StringList,
    /// Application permissions (app roles) the application holds in customer tenants,
    /// `RESOURCE:ROLES` each (`graph:Directory.Read.All`): what `consent grant` gives when the
    /// command line names none, and exactly what `cpv-app doctor` expects to find there.
    pub application_permissions: StringList,
}

/// `[templates.NAME]`: a GDAP role template. The relationship grants every role of its
/// `access` entries; each entry is one access assignment (a partner security group and roles).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawTemplate {
    /// What the template is for (shown by `templates list`).
    pub description: String,
    /// Display-name pattern of the relationship: `{template}`, `{tenant}` (the customer's
    /// tenant ID), `{tenant8}` (its first 8 characters), `{date}` (YYYYMMDD); it must name the
    /// tenant (Graph wants display names unique) and fit Graph's 50 characters.
    pub display_name: String,
    /// ISO 8601 duration between P1D and P2Y (`P730D`).
    pub duration: String,
    /// Extend automatically by 180 days at the end date (`P180D`); never with Global
    /// Administrator.
    pub auto_extend: bool,
    /// The access assignments: `[[templates.NAME.access]]` with `group` and `roles`.
    pub access: Vec<RawTemplateAccess>,
}

/// One `[[templates.NAME.access]]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTemplateAccess {
    /// Object ID of the security group in the partner tenant.
    pub group: String,
    /// Roles by name (`Directory Readers`) or role template ID.
    pub roles: StringList,
}

/// `[watch]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawWatch {
    /// The operator console served by `csp-app watch --listen`.
    pub console: RawWatchConsole,
}

/// `[watch.console]`: operators sign in with Entra ID; empty `redirect_url`: the console is off.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawWatchConsole {
    /// The console's redirect URL registered on its app (`https://watch.contoso.com/auth/callback`);
    /// empty: the console is off (the metrics keep working).
    pub redirect_url: String,
    /// The app operators sign in to (a GUID); empty: the CSP/CPV app (`app.client_id`).
    pub client_id: String,
    /// Its client secret (secret), needed when `client_id` names another app.
    pub client_secret: String,
    /// The app role value (in the ID token's `roles`) or group object ID (in `groups`) that
    /// may read the console.
    pub read_access: String,
    /// The app role value or group object ID that may also run a cycle now.
    pub write_access: String,
    /// A session unused this long is signed out (`15m`).
    pub idle_timeout: String,
}

impl fmt::Debug for RawWatchConsole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawWatchConsole")
            .field("redirect_url", &self.redirect_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted_if_set(&self.client_secret))
            .field("read_access", &self.read_access)
            .field("write_access", &self.write_access)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// `[app]`: Microsoft's samples' `ida:CSPApplicationId` / `ida:CPVApplicationId` and its secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawApp {
    /// Application (client) ID, a GUID.
    pub client_id: String,
    /// Name shown to the consenting admin.
    pub display_name: String,
    /// PEM certificate (may also contain the private key).
    pub certificate_path: String,
    /// PEM private key; defaults to `certificate_path`.
    pub private_key_path: String,
    /// PKCS#12 (`.pfx`) file holding certificate and key.
    pub pkcs12_path: String,
    /// Password of the PKCS#12 file (secret).
    pub pkcs12_password: String,
    /// Client secret (secret; allowed, but a certificate is preferred).
    pub client_secret: String,
    /// Name of a Key Vault secret in the store's vault holding the app's certificate and key
    /// (PKCS#12 as Key Vault keeps certificates, or PEM): no credential file on disk.
    pub certificate_secret: String,
    /// How often the latest version of `certificate_secret` is read (`1h`): a certificate
    /// rotated in Key Vault is used without a restart.
    pub certificate_refresh: String,
    /// Signature of client assertions: `PS256` (Entra's recommendation) or `RS256`.
    pub assertion_algorithm: String,
}

impl fmt::Debug for RawApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawApp")
            .field("client_id", &self.client_id)
            .field("certificate_path", &self.certificate_path)
            .field("pkcs12_path", &self.pkcs12_path)
            .field("certificate_secret", &self.certificate_secret)
            .field("client_secret", &redacted_if_set(&self.client_secret))
            .finish_non_exhaustive()
    }
}

/// `[partner]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawPartner {
    /// The partner tenant ID (CSP: required, the only tenant allowed to consent).
    pub tenant_id: String,
    /// CPV: partner tenants allowed to consent (empty: any).
    pub allowed_tenants: StringList,
}

/// `[cloud]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawCloud {
    /// `global`, `china`, `usgov` or `custom`.
    pub name: String,
    /// Entra authority host (Microsoft's samples' `ida:AADInstance`); required for `custom`, an override otherwise.
    pub authority_host: String,
    /// Microsoft Graph base URL.
    pub graph_url: String,
    /// Microsoft Graph's App ID URI (token audience); empty: the preset's, or
    /// `https://graph.microsoft.com` for `custom`.
    pub graph_audience: String,
    /// Partner Center API base URL.
    pub partner_center_url: String,
    /// Partner Center's App ID URI (token audience); empty: the preset's, or
    /// `https://api.partnercenter.microsoft.com` for `custom`.
    pub partner_center_audience: String,
    /// Key Vault DNS suffix (`vault.azure.net`).
    pub key_vault_dns_suffix: String,
}

/// `[entra]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawEntra {
    /// `v1` (`resource=`, as Microsoft's samples' calls) or `v2` (`scope=`).
    pub endpoint_version: String,
    /// Tenant segment of the consent sign-in: `common`, `organizations` or the partner tenant.
    pub authority_tenant: String,
    /// Where the browser is sent to sign in (the authorize endpoint's host); empty: the
    /// authority host. The local profile sets the emulator's plain-HTTP loopback sign-in pages.
    pub sign_in_host: String,
}

/// `[consent]`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawConsent {
    /// Address the web app listens on.
    pub listen: String,
    /// The redirect URL registered on the app (where Entra sends the code).
    pub redirect_url: String,
    /// `prompt` sent to Entra: empty, `login`, `consent` or `select_account`.
    pub prompt: String,
    /// The v1 sign-in flow: `hybrid` (`code id_token` by form post, Microsoft's PartnerConsent
    /// sample) or `code` (authorization code with PKCE only). v2 always uses `code`.
    pub sign_in_flow: String,
    /// Base64 key (≥ 64 bytes) that encrypts the state cookie (secret); shared by all instances.
    pub cookie_key: String,
    /// Name of a Key Vault secret in the store's vault holding the cookie key instead.
    pub cookie_key_secret: String,
    /// How long a `/readyz` answer is reused (`30s`): each probe reads the store and the
    /// authority's metadata.
    pub readyz_cache: String,
    /// Requests a minute each client IP may make to `/start` and the callback.
    pub rate_limit_per_minute: u32,
    /// Requests a client IP may make at once before the per-minute rate applies.
    pub rate_limit_burst: u32,
    /// A second address that alone serves `/readyz` and `/metrics` (and `/healthz`), for a
    /// probe or scraper on an internal network; empty: they are served on `listen`.
    pub internal_listen: String,
    /// Reverse proxies (addresses or CIDR networks) whose `Forwarded` / `X-Forwarded-For`
    /// headers name the client for the rate limits; empty: none is trusted.
    pub trusted_proxies: Vec<String>,
    /// How many reverse proxies always stand in front of the app (e.g. 1 behind one ingress),
    /// whatever their addresses; 0: none.
    pub trusted_proxy_hops: u32,
}

impl fmt::Debug for RawConsent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawConsent")
            .field("listen", &self.listen)
            .field("redirect_url", &self.redirect_url)
            .field("prompt", &self.prompt)
            .field("sign_in_flow", &self.sign_in_flow)
            .field("cookie_key", &redacted_if_set(&self.cookie_key))
            .field("readyz_cache", &self.readyz_cache)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("internal_listen", &self.internal_listen)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("trusted_proxy_hops", &self.trusted_proxy_hops)
            .finish()
    }
}

/// `[store]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawStore {
    /// `local` (encrypted file) or `key-vault`.
    pub kind: String,
    /// Local encrypted file store.
    pub local: RawLocalStore,
    /// Azure Key Vault store.
    pub key_vault: RawKeyVault,
}

/// `[store.local]`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawLocalStore {
    /// The encrypted token file.
    pub path: String,
    /// File holding the 32-byte AES key (created with mode 0600 if missing).
    pub key_file: String,
    /// The AES key itself, base64 (secret; e.g. `SAM_STORE__LOCAL__KEY`); overrides `key_file`.
    pub key: String,
}

impl fmt::Debug for RawLocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawLocalStore")
            .field("path", &self.path)
            .field("key_file", &self.key_file)
            .field("key", &redacted_if_set(&self.key))
            .finish()
    }
}

/// `[store.key_vault]`: Microsoft's samples' `ida:KeyVaultClientId` / `ida:KeyVaultClientSecret`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawKeyVault {
    /// Vault URL, `https://{name}.vault.azure.net/`.
    pub vault_url: String,
    /// Prefix of secret names (one secret per partner tenant).
    pub secret_prefix: String,
    /// How the tools authenticate to Key Vault: `client-secret`, `client-certificate`,
    /// `managed-identity` or `workload-identity`.
    pub identity: String,
    /// Tenant of the Key Vault access identity (defaults to `partner.tenant_id`).
    pub tenant_id: String,
    /// Client ID of the access app (or of a user-assigned managed identity).
    pub client_id: String,
    /// Client secret of the access app (secret).
    pub client_secret: String,
    /// PEM certificate of the access app.
    pub certificate_path: String,
    /// PEM private key of the access app (defaults to `certificate_path`).
    pub private_key_path: String,
    /// Workload identity: the projected service-account token file.
    pub federated_token_file: String,
    /// Key Vault REST api-version.
    pub api_version: String,
}

impl fmt::Debug for RawKeyVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawKeyVault")
            .field("vault_url", &self.vault_url)
            .field("identity", &self.identity)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted_if_set(&self.client_secret))
            .finish_non_exhaustive()
    }
}

/// `[http]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawHttp {
    /// Extra CA certificates (PEM bundle) trusted for all outgoing HTTPS.
    pub ca_bundle: String,
    /// TCP + TLS connect timeout (`10s`).
    pub connect_timeout: String,
    /// Whole-request timeout (`60s`).
    pub request_timeout: String,
}

/// `[log]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawLog {
    /// `text` or `json`.
    pub format: String,
    /// `RUST_LOG`-style filter (`info`, `common=debug,info`).
    pub filter: String,
}

/// A list written either as a TOML array or as one comma-separated string (for `--set` and
/// environment variables).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StringList(pub Vec<String>);

impl Serialize for StringList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        let items = match Either::deserialize(deserializer)? {
            Either::One(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            Either::Many(v) => v,
        };
        Ok(Self(items))
    }
}

fn redacted_if_set(value: &str) -> &'static str {
    if value.is_empty() { "" } else { "[redacted]" }
}

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            mode: "csp".into(),
            app: RawApp {
                display_name: "Secure Application Model".into(),
                assertion_algorithm: "PS256".into(),
                certificate_refresh: "1h".into(),
                ..RawApp::default()
            },
            partner: RawPartner::default(),
            cloud: RawCloud {
                name: "global".into(),
                ..RawCloud::default()
            },
            entra: RawEntra {
                endpoint_version: "v1".into(),
                authority_tenant: "common".into(),
                sign_in_host: String::new(),
            },
            consent: RawConsent {
                listen: "127.0.0.1:8080".into(),
                redirect_url: "http://localhost:8080/callback".into(),
                prompt: "consent".into(),
                sign_in_flow: "hybrid".into(),
                cookie_key: String::new(),
                cookie_key_secret: String::new(),
                readyz_cache: "30s".into(),
                rate_limit_per_minute: 30,
                rate_limit_burst: 10,
                internal_listen: String::new(),
                trusted_proxies: Vec::new(),
                trusted_proxy_hops: 0,
            },
            store: RawStore {
                kind: "local".into(),
                local: RawLocalStore {
                    path: ".sam-local/refresh-tokens.enc".into(),
                    key_file: ".sam-local/store.key".into(),
                    key: String::new(),
                },
                key_vault: RawKeyVault {
                    secret_prefix: "sam-rt".into(),
                    identity: "client-secret".into(),
                    api_version: "7.5".into(),
                    ..RawKeyVault::default()
                },
            },
            http: RawHttp {
                ca_bundle: String::new(),
                connect_timeout: "10s".into(),
                request_timeout: "60s".into(),
            },
            log: RawLog {
                format: "text".into(),
                filter: "info".into(),
            },
            watch: RawWatch {
                console: RawWatchConsole {
                    idle_timeout: "15m".into(),
                    ..RawWatchConsole::default()
                },
            },
            customers: RawCustomers::default(),
            templates: BTreeMap::new(),
        }
    }
}
