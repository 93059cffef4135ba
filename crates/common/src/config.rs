//! Configuration: one loader, typed settings, and a validation report that lists every problem.
//!
//! # Where values come from
//!
//! Layers are merged in this order; a later layer overrides an earlier one, key by key:
//!
//! 1. built-in defaults ([`RawSettings::default`]);
//! 2. `config/default.toml` (the commented reference of every key);
//! 3. `config/{profile}.toml`, where the profile comes from `--profile`, else the `SAM_PROFILE`
//!    environment variable, else `local`;
//! 4. the file given with `--config FILE`, if any;
//! 5. environment variables prefixed `SAM_`, with `__` separating nested keys
//!    (`SAM_APP__CLIENT_ID` sets `app.client_id`);
//! 6. command-line flags (`--set key=value`, and the flags each binary maps onto keys).
//!
//! The configuration directory is `config/` under the working directory unless `--config-dir`
//! says otherwise. A missing `default.toml` or `local.toml` is not an error; a profile named
//! explicitly whose file is missing is.
//!
//! # Typed settings and validation
//!
//! Layers are merged into [`RawSettings`], where almost every value is still text, so that a wrong
//! value never stops the loader at the first mistake. [`RawSettings::validate`] then parses each
//! value into [`Settings`] (enums, URLs, durations, secret types), collecting *every* problem into
//! one [`ConfigReport`]: each names the key, where its value came from (which file or environment
//! variable), what is wrong, and how to fix it — and never echoes a secret value.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Metadata, Source};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::cloud::{CloudEndpoints, CloudName};
use crate::secret::{ClientSecret, Password};

/// Prefix of the environment variables the loader reads.
pub const ENV_PREFIX: &str = "SAM_";
/// The profile used when neither `--profile` nor `SAM_PROFILE` names one.
pub const DEFAULT_PROFILE: &str = "local";

/// Keys whose values are secrets: never printed, and better set through the environment.
const SECRET_KEYS: &[&str] = &[
    "app.client_secret",
    "app.pkcs12_password",
    "consent.cookie_key",
    "store.local.key",
    "store.key_vault.client_secret",
];

// ---------------------------------------------------------------------------------------------
// Raw settings: what the layers merge into.
// ---------------------------------------------------------------------------------------------

/// The merged configuration before validation. Field docs are the reference of every key;
/// `config/default.toml` repeats them with examples.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
}

/// `[app]`: the seed's `ida:CSPApplicationId` / `ida:CPVApplicationId` and its secret.
#[derive(Clone, Default, Serialize, Deserialize)]
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
    /// Signature of client assertions: `PS256` (Entra's recommendation) or `RS256`.
    pub assertion_algorithm: String,
}

impl fmt::Debug for RawApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawApp")
            .field("client_id", &self.client_id)
            .field("certificate_path", &self.certificate_path)
            .field("pkcs12_path", &self.pkcs12_path)
            .field("client_secret", &redacted_if_set(&self.client_secret))
            .finish_non_exhaustive()
    }
}

/// `[partner]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RawPartner {
    /// The partner tenant ID (CSP: required, the only tenant allowed to consent).
    pub tenant_id: String,
    /// CPV: partner tenants allowed to consent (empty: any).
    pub allowed_tenants: StringList,
}

/// `[cloud]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RawCloud {
    /// `global`, `china`, `usgov` or `custom`.
    pub name: String,
    /// Entra authority host (the seed's `ida:AADInstance`); required for `custom`, an override otherwise.
    pub authority_host: String,
    /// Microsoft Graph base URL.
    pub graph_url: String,
    /// Partner Center API base URL.
    pub partner_center_url: String,
    /// Partner API base URL.
    pub partner_api_url: String,
    /// Key Vault DNS suffix (`vault.azure.net`).
    pub key_vault_dns_suffix: String,
}

/// `[entra]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RawEntra {
    /// `v1` (`resource=`, as the seed's calls) or `v2` (`scope=`).
    pub endpoint_version: String,
    /// Tenant segment of the consent sign-in: `common`, `organizations` or the partner tenant.
    pub authority_tenant: String,
}

/// `[consent]`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RawConsent {
    /// Address the web app listens on.
    pub listen: String,
    /// The redirect URL registered on the app (where Entra sends the code).
    pub redirect_url: String,
    /// `prompt` sent to Entra: empty, `login`, `consent` or `select_account`.
    pub prompt: String,
    /// Base64 key (≥ 64 bytes) that encrypts the state cookie (secret); shared by all instances.
    pub cookie_key: String,
}

impl fmt::Debug for RawConsent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawConsent")
            .field("listen", &self.listen)
            .field("redirect_url", &self.redirect_url)
            .field("prompt", &self.prompt)
            .field("cookie_key", &redacted_if_set(&self.cookie_key))
            .finish()
    }
}

/// `[store]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
#[derive(Clone, Default, Serialize, Deserialize)]
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

/// `[store.key_vault]`: the seed's `ida:KeyVaultClientId` / `ida:KeyVaultClientSecret`.
#[derive(Clone, Default, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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

/// Whether a dotted key holds a secret (never printed; best set through the environment).
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
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
            },
            consent: RawConsent {
                listen: "127.0.0.1:8080".into(),
                redirect_url: "http://localhost:8080/callback".into(),
                prompt: "consent".into(),
                cookie_key: String::new(),
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
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Typed settings.
// ---------------------------------------------------------------------------------------------

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// CSP or CPV.
    pub mode: AppMode,
    /// The multitenant application.
    pub app: AppSettings,
    /// The partner tenant(s).
    pub partner: PartnerSettings,
    /// Cloud endpoints.
    pub cloud: CloudEndpoints,
    /// Entra endpoint version and sign-in tenant.
    pub entra: EntraSettings,
    /// The consent web app.
    pub consent: ConsentSettings,
    /// The refresh-token store.
    pub store: StoreSettings,
    /// Outgoing HTTP.
    pub http: HttpSettings,
    /// Logging.
    pub log: LogSettings,
}

/// Whether the app serves one partner (CSP) or many (CPV).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppMode {
    /// A Cloud Solution Provider's own app: only its partner tenant may consent.
    Csp,
    /// A Control Panel Vendor's app: many partner tenants consent, one stored token each.
    Cpv,
}

/// The application and its credential.
#[derive(Clone, Debug)]
pub struct AppSettings {
    /// Application (client) ID.
    pub client_id: String,
    /// Display name.
    pub display_name: String,
    /// How the app proves its identity to Entra ID.
    pub credential: AppCredential,
}

/// An application credential.
#[derive(Clone, Debug)]
pub enum AppCredential {
    /// A certificate: the app signs a client assertion (preferred).
    Certificate(CertificateCredential),
    /// A client secret (allowed; a startup warning recommends a certificate).
    Secret(ClientSecret),
}

/// Where a certificate credential's certificate and key live.
#[derive(Clone, Debug)]
pub struct CertificateCredential {
    /// The files.
    pub source: CertificateSource,
    /// The client-assertion signature algorithm.
    pub algorithm: AssertionAlgorithm,
}

/// The files of a certificate credential.
#[derive(Clone, Debug)]
pub enum CertificateSource {
    /// PEM certificate and PEM private key (possibly the same file).
    Pem {
        /// Certificate file.
        certificate: PathBuf,
        /// Private-key file.
        private_key: PathBuf,
    },
    /// A PKCS#12 (`.pfx`) file.
    Pkcs12 {
        /// The file.
        path: PathBuf,
        /// Its password, if any.
        password: Option<Password>,
    },
}

/// Client-assertion signature algorithm (Entra "Certificate credentials").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256 and an `x5t#S256` header (recommended).
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and an `x5t` (SHA-1 thumbprint) header (legacy, still accepted).
    Rs256,
}

/// The partner tenant(s).
#[derive(Clone, Debug)]
pub struct PartnerSettings {
    /// The partner tenant ID (required in CSP mode).
    pub tenant_id: Option<String>,
    /// CPV allow-list (empty: any tenant).
    pub allowed_tenants: Vec<String>,
}

/// Entra endpoint version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointVersion {
    /// `/oauth2/authorize` + `/oauth2/token` with `resource=` (the seed's calls).
    V1,
    /// `/oauth2/v2.0/...` with `scope=`.
    V2,
}

/// Entra settings.
#[derive(Clone, Debug)]
pub struct EntraSettings {
    /// Endpoint version.
    pub endpoint_version: EndpointVersion,
    /// Tenant segment of the consent sign-in.
    pub authority_tenant: String,
}

/// The consent web app.
#[derive(Clone)]
pub struct ConsentSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// Redirect URL registered on the app.
    pub redirect_url: Url,
    /// `prompt` parameter, if any.
    pub prompt: Option<String>,
    /// Cookie-encryption key (≥ 64 bytes), if configured.
    pub cookie_key: Option<secrecy::SecretSlice<u8>>,
}

impl fmt::Debug for ConsentSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsentSettings")
            .field("listen", &self.listen)
            .field("redirect_url", &self.redirect_url.as_str())
            .field("prompt", &self.prompt)
            .field(
                "cookie_key",
                &self.cookie_key.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Where refresh tokens are stored.
#[derive(Clone, Debug)]
pub enum StoreSettings {
    /// AES-256-GCM encrypted local file.
    Local(LocalStoreSettings),
    /// Azure Key Vault.
    KeyVault(KeyVaultSettings),
}

/// Local encrypted file store.
#[derive(Clone)]
pub struct LocalStoreSettings {
    /// Token file.
    pub path: PathBuf,
    /// Key file (used when `key` is not given).
    pub key_file: PathBuf,
    /// The key, when given directly (base64-decoded, 32 bytes).
    pub key: Option<secrecy::SecretSlice<u8>>,
}

impl fmt::Debug for LocalStoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStoreSettings")
            .field("path", &self.path)
            .field("key_file", &self.key_file)
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Azure Key Vault store.
#[derive(Clone, Debug)]
pub struct KeyVaultSettings {
    /// Vault URL.
    pub vault_url: Url,
    /// Secret-name prefix.
    pub secret_prefix: String,
    /// Identity used to reach the vault.
    pub identity: KeyVaultIdentity,
    /// REST api-version.
    pub api_version: String,
}

/// The identity the tools use to reach Key Vault (the seed's "KeyVaultAccessApp").
#[derive(Clone, Debug)]
pub enum KeyVaultIdentity {
    /// An app with a client secret (the seed's `KeyVaultClientId` / `KeyVaultClientSecret`).
    ClientSecret {
        /// Tenant of the app.
        tenant_id: String,
        /// Client ID.
        client_id: String,
        /// Secret.
        secret: ClientSecret,
    },
    /// An app with a certificate.
    ClientCertificate {
        /// Tenant of the app.
        tenant_id: String,
        /// Client ID.
        client_id: String,
        /// Certificate file.
        certificate: PathBuf,
        /// Key file.
        private_key: PathBuf,
    },
    /// An Azure managed identity (system-assigned, or user-assigned by client ID).
    ManagedIdentity {
        /// User-assigned identity's client ID.
        client_id: Option<String>,
    },
    /// Kubernetes workload identity federation.
    WorkloadIdentity {
        /// Tenant.
        tenant_id: String,
        /// Client ID.
        client_id: String,
        /// The projected token file.
        token_file: PathBuf,
    },
}

/// Outgoing HTTP settings.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Extra CA bundle.
    pub ca_bundle: Option<PathBuf>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Request timeout.
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            ca_bundle: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Clone, Debug)]
pub struct LogSettings {
    /// Format.
    pub format: LogFormat,
    /// Filter directive.
    pub filter: String,
}

impl Settings {
    /// Advice to log once at start-up (e.g. a client secret where a certificate is preferred).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if matches!(self.app.credential, AppCredential::Secret(_)) {
            out.push(
                "app.client_secret is used as the application credential; Microsoft and the Secure \
                 Application Model guidance recommend a certificate (set app.certificate_path or \
                 app.pkcs12_path instead)"
                    .into(),
            );
        }
        if matches!(&self.store, StoreSettings::KeyVault(kv) if matches!(kv.identity, KeyVaultIdentity::ClientSecret { .. }))
        {
            out.push(
                "Key Vault is reached with a client secret; prefer a managed identity, workload \
                 identity or certificate (store.key_vault.identity)"
                    .into(),
            );
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------------------------

/// One configuration problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The dotted key, e.g. `app.client_id`.
    pub key: String,
    /// Where the value came from: a file path, an environment variable, a flag, or "built-in default".
    pub origin: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

/// Every problem found in a configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigReport {
    /// The problems, in key order.
    pub problems: Vec<ConfigProblem>,
}

impl ConfigReport {
    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Keys with problems.
    pub fn keys(&self) -> Vec<&str> {
        self.problems.iter().map(|p| p.key.as_str()).collect()
    }
}

impl fmt::Display for ConfigReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "configuration error: {n} problem{} found",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, p) in self.problems.iter().enumerate() {
            writeln!(f)?;
            writeln!(f, "  {}. {} (from {})", i + 1, p.key, p.origin)?;
            writeln!(f, "     problem: {}", p.problem)?;
            writeln!(f, "     fix:     {}", p.fix)?;
        }
        write!(
            f,
            "\nEvery key is documented in config/default.toml. Environment variables override files: \
             SAM_<SECTION>__<KEY>, e.g. SAM_APP__CLIENT_ID."
        )
    }
}

impl std::error::Error for ConfigReport {}

// ---------------------------------------------------------------------------------------------
// The loader.
// ---------------------------------------------------------------------------------------------

/// What the command line says about configuration; binaries flatten this into their clap parser.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigArgs {
    /// Configuration profile: reads config/<PROFILE>.toml [env: SAM_PROFILE] [default: local]
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// An extra configuration file, applied after the profile's file.
    #[arg(long = "config", value_name = "FILE", global = true)]
    pub config_file: Option<PathBuf>,
    /// Directory holding default.toml and the profile files.
    #[arg(long, value_name = "DIR", default_value = "config", global = true)]
    pub config_dir: PathBuf,
    /// Override one key, e.g. --set cloud.name=china (repeatable; applied last).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub set: Vec<String>,
    /// Log format.
    #[arg(long, value_enum, global = true)]
    pub log_format: Option<LogFormat>,
}

/// The merged layers, kept so that problems can say where each value came from.
#[derive(Debug)]
pub struct Loaded {
    figment: Figment,
    /// The merged raw values.
    pub raw: RawSettings,
    /// The profile in effect.
    pub profile: String,
}

impl Loaded {
    /// Validates into typed settings, or reports every problem.
    pub fn validate(&self) -> Result<Settings, ConfigReport> {
        self.raw.validate_with(&|key| self.origin(key))
    }

    /// Where the value of a dotted key came from.
    pub fn origin(&self, key: &str) -> String {
        origin_of(&self.figment, key)
    }
}

/// Loads and merges every layer (see the module docs for the order). Errors here are structural
/// (unreadable file, TOML syntax, a value of the wrong type); value problems come from
/// [`Loaded::validate`].
pub fn load(args: &ConfigArgs) -> Result<Loaded, ConfigReport> {
    load_with_env(args, std::env::var("SAM_PROFILE").ok())
}

fn load_with_env(args: &ConfigArgs, env_profile: Option<String>) -> Result<Loaded, ConfigReport> {
    let mut problems = Vec::new();
    let (profile, explicit) = match (&args.profile, env_profile.filter(|p| !p.trim().is_empty())) {
        (Some(p), _) => (p.clone(), Some("--profile")),
        (None, Some(p)) => (p, Some("SAM_PROFILE")),
        (None, None) => (DEFAULT_PROFILE.to_owned(), None),
    };
    if !profile
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || profile.is_empty()
    {
        problems.push(ConfigProblem {
            key: "profile".into(),
            origin: explicit.unwrap_or("built-in default").into(),
            problem: format!("{profile:?} is not a valid profile name"),
            fix: "use letters, digits, '-' and '_' only (the name of a file config/<profile>.toml)"
                .into(),
        });
        return Err(ConfigReport { problems });
    }

    let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
    let default_file = args.config_dir.join("default.toml");
    if default_file.is_file() {
        figment = figment.merge(Toml::file_exact(&default_file));
    }
    let profile_file = args.config_dir.join(format!("{profile}.toml"));
    if profile_file.is_file() {
        figment = figment.merge(Toml::file_exact(&profile_file));
    } else if let Some(origin) = explicit {
        problems.push(ConfigProblem {
            key: "profile".into(),
            origin: origin.into(),
            problem: format!("profile {profile:?} has no file {}", profile_file.display()),
            fix: format!(
                "create {} or choose an existing profile (files in {})",
                profile_file.display(),
                args.config_dir.display()
            ),
        });
    }
    if let Some(file) = &args.config_file {
        if file.is_file() {
            figment = figment.merge(Toml::file_exact(file));
        } else {
            problems.push(ConfigProblem {
                key: "--config".into(),
                origin: "command line".into(),
                problem: format!(
                    "the file {} does not exist or is not a regular file",
                    file.display()
                ),
                fix: "pass the path of an existing TOML file".into(),
            });
        }
    }
    // Only variables naming one of our sections are configuration; other `SAM_*` variables
    // belong to companion tools (the emulator's `SAM_EMULATOR_*`, the test harness's
    // `SAM_TEST_*`). A misspelt key inside a section is still reported.
    let sections = top_level_keys();
    figment = figment.merge(
        Env::prefixed(ENV_PREFIX)
            .split("__")
            .ignore(&["profile"])
            .filter(move |key| {
                let first = key.as_str().split('.').next().unwrap_or_default();
                sections.contains(&first.to_ascii_lowercase())
            }),
    );

    let mut flags = figment::value::Dict::new();
    for item in &args.set {
        match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                insert_dotted(&mut flags, key.trim(), value.to_owned());
            }
            _ => problems.push(ConfigProblem {
                key: "--set".into(),
                origin: "command line".into(),
                problem: format!("{:?} is not of the form KEY=VALUE", redact_flag(item)),
                fix: "write --set section.key=value, e.g. --set cloud.name=china".into(),
            }),
        }
    }
    if let Some(format) = args.log_format {
        let value = match format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        insert_dotted(&mut flags, "log.format", value.to_owned());
    }
    if !flags.is_empty() {
        figment = figment.merge(FlagsProvider(flags));
    }

    problems.extend(unknown_keys(&figment));
    let raw = match figment.extract::<RawSettings>() {
        Ok(raw) => raw,
        Err(errors) => {
            for e in errors {
                let key = e.path.join(".");
                let origin = e
                    .metadata
                    .as_ref()
                    .map_or_else(|| origin_of(&figment, &key), |m| describe_metadata(m, &key));
                problems.push(ConfigProblem {
                    key: if key.is_empty() { "(file)".into() } else { key },
                    origin,
                    problem: e.kind.to_string(),
                    fix: "correct the value's type (strings in quotes, lists in [ ]) or the file's TOML syntax".into(),
                });
            }
            return Err(ConfigReport { problems });
        }
    };
    if !problems.is_empty() {
        return Err(ConfigReport { problems });
    }
    Ok(Loaded {
        figment,
        raw,
        profile,
    })
}

fn redact_flag(item: &str) -> String {
    let lower = item.to_ascii_lowercase();
    if SECRET_KEYS.iter().any(|k| lower.starts_with(k))
        || lower.contains("secret")
        || lower.contains("password")
    {
        "[redacted]".into()
    } else {
        item.to_owned()
    }
}

fn insert_dotted(dict: &mut figment::value::Dict, key: &str, value: String) {
    let mut parts = key
        .split('.')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect::<Vec<_>>();
    let last = parts.pop().unwrap_or_default();
    let mut cursor = dict;
    for part in parts {
        let entry = cursor
            .entry(part)
            .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
        if entry.as_dict().is_none() {
            *entry = figment::value::Value::from(figment::value::Dict::new());
        }
        cursor = match entry {
            figment::value::Value::Dict(_, d) => d,
            _ => unreachable!("entry was just made a dictionary"),
        };
    }
    cursor.insert(last, figment::value::Value::from(value));
}

/// Command-line `--set` values, as a provider whose metadata says "command-line flag".
struct FlagsProvider(figment::value::Dict);

impl figment::Provider for FlagsProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named("command-line flag").source(Source::Custom("command line".into()))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.0.clone()))
    }
}

fn origin_of(figment: &Figment, key: &str) -> String {
    match figment.find_metadata(key) {
        Some(m) => describe_metadata(m, key),
        None => "built-in default".into(),
    }
}

fn describe_metadata(metadata: &Metadata, key: &str) -> String {
    match &metadata.source {
        Some(Source::File(path)) => display_path(path),
        Some(Source::Custom(s)) if s == "command line" => {
            format!("command-line flag --set {key}=…")
        }
        Some(Source::Custom(s)) => s.clone(),
        Some(Source::Code(_)) => "built-in default".into(),
        None if metadata.name.contains("environment") => {
            format!(
                "environment variable {ENV_PREFIX}{}",
                key.replace('.', "__").to_ascii_uppercase()
            )
        }
        None => metadata.name.to_string(),
        Some(_) => metadata.name.to_string(),
    }
}

fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// The top-level keys and sections: `mode`, `app`, `partner`, `cloud`, ….
fn top_level_keys() -> BTreeSet<String> {
    known_keys()
        .into_iter()
        .map(|k| k.split('.').next().unwrap_or_default().to_owned())
        .collect()
}

/// Every key the configuration knows, e.g. `store.key_vault.vault_url`.
pub fn known_keys() -> BTreeSet<String> {
    let value = serde_json::to_value(RawSettings::default()).unwrap_or_default();
    let mut keys = BTreeSet::new();
    collect_keys(&value, String::new(), &mut keys);
    keys
}

fn collect_keys(value: &serde_json::Value, prefix: String, keys: &mut BTreeSet<String>) {
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_object() {
                collect_keys(v, key, keys);
            } else {
                keys.insert(key);
            }
        }
    }
}

fn unknown_keys(figment: &Figment) -> Vec<ConfigProblem> {
    let known = known_keys();
    let sections: BTreeSet<String> = known
        .iter()
        .filter_map(|k| k.rsplit_once('.').map(|(s, _)| s.to_owned()))
        .collect();
    let Ok(figment::value::Value::Dict(_, dict)) = figment
        .find_value("")
        .or_else(|_| figment.extract::<figment::value::Value>())
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk_dict(&dict, String::new(), &mut found);
    found
        .into_iter()
        .filter(|k| !known.contains(k) && !sections.contains(k))
        .map(|key| {
            let suggestion = closest(&key, &known);
            ConfigProblem {
                origin: origin_of(figment, &key),
                problem: "unknown key".into(),
                fix: match suggestion {
                    Some(s) => format!("did you mean `{s}`? Otherwise remove it (keys are listed in config/default.toml)"),
                    None => "remove it; every valid key is listed in config/default.toml".into(),
                },
                key,
            }
        })
        .collect()
}

fn walk_dict(dict: &figment::value::Dict, prefix: String, out: &mut Vec<String>) {
    for (k, v) in dict {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            figment::value::Value::Dict(_, d) => walk_dict(d, key, out),
            _ => out.push(key),
        }
    }
}

fn closest<'a>(key: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), k))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

// ---------------------------------------------------------------------------------------------
// Validation.
// ---------------------------------------------------------------------------------------------

struct Checker<'a> {
    origin: &'a dyn Fn(&str) -> String,
    problems: Vec<ConfigProblem>,
}

impl Checker<'_> {
    fn fail(&mut self, key: &str, problem: impl Into<String>, fix: impl Into<String>) {
        self.problems.push(ConfigProblem {
            key: key.into(),
            origin: (self.origin)(key),
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    fn url(&mut self, key: &str, value: &str, fix: &str) -> Option<Url> {
        let value = value.trim();
        if value.is_empty() {
            self.fail(key, "is empty", fix);
            return None;
        }
        match Url::parse(value) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Some(u),
            Ok(u) => {
                self.fail(
                    key,
                    format!("{value:?} uses the scheme {:?}", u.scheme()),
                    fix,
                );
                None
            }
            Err(e) => {
                self.fail(key, format!("{value:?} is not a URL ({e})"), fix);
                None
            }
        }
    }

    fn https_url(&mut self, key: &str, value: &str, fix: &str) -> Option<Url> {
        let url = self.url(key, value, fix)?;
        if url.scheme() != "https" {
            self.fail(
                key,
                format!("{value:?} is not https"),
                format!("{fix}; Microsoft endpoints and Key Vault require https"),
            );
            return None;
        }
        Some(url)
    }

    fn duration(&mut self, key: &str, value: &str) -> Option<Duration> {
        match humantime::parse_duration(value.trim()) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.fail(
                    key,
                    "is zero",
                    "give a positive duration such as \"30s\" or \"2m\"",
                );
                None
            }
            Err(e) => {
                self.fail(
                    key,
                    format!("{value:?} is not a duration ({e})"),
                    "write a duration such as \"10s\", \"500ms\" or \"2m\"",
                );
                None
            }
        }
    }

    fn readable_file(&mut self, key: &str, value: &str, what: &str) -> Option<PathBuf> {
        let path = PathBuf::from(value.trim());
        match std::fs::File::open(&path) {
            Ok(_) if path.is_file() => Some(path),
            Ok(_) => {
                self.fail(
                    key,
                    format!("{} is not a regular file", path.display()),
                    format!("point it at the {what}"),
                );
                None
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.fail(
                    key,
                    format!("the file {} does not exist", path.display()),
                    format!("point it at the {what}, or create it"),
                );
                None
            }
            Err(e) => {
                self.fail(
                    key,
                    format!("the file {} cannot be read: {e}", path.display()),
                    format!(
                        "give this process read access to the {what} (e.g. chmod/chown), or move it"
                    ),
                );
                None
            }
        }
    }

    fn tenant(&mut self, key: &str, value: &str, allow_multi: bool) -> Option<String> {
        let v = value.trim();
        let is_guid = uuid::Uuid::parse_str(v).is_ok();
        let is_domain = v.contains('.')
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let is_multi = matches!(v, "common" | "organizations");
        if is_guid || is_domain || (allow_multi && is_multi) {
            Some(v.to_owned())
        } else {
            let fix = if allow_multi {
                "use \"common\", \"organizations\", the partner tenant ID (a GUID) or its domain (contoso.onmicrosoft.com)"
            } else {
                "use the tenant ID (a GUID, Entra ID > Overview > Tenant ID) or its domain (contoso.onmicrosoft.com)"
            };
            self.fail(
                key,
                if v.is_empty() {
                    "is empty".to_owned()
                } else {
                    format!("{v:?} is not a tenant ID or domain")
                },
                fix,
            );
            None
        }
    }
}

fn set(value: &str) -> Option<&str> {
    let v = value.trim();
    (!v.is_empty()).then_some(v)
}

impl RawSettings {
    /// Validates without origin information (every value reported as "configuration").
    pub fn validate(&self) -> Result<Settings, ConfigReport> {
        self.validate_with(&|_| "configuration".to_owned())
    }

    fn validate_with(&self, origin: &dyn Fn(&str) -> String) -> Result<Settings, ConfigReport> {
        let mut c = Checker {
            origin,
            problems: Vec::new(),
        };

        let mode = match self.mode.trim().to_ascii_lowercase().as_str() {
            "csp" => Some(AppMode::Csp),
            "cpv" => Some(AppMode::Cpv),
            other => {
                c.fail("mode", format!("{other:?} is not a mode"), "use \"csp\" (one partner tenant) or \"cpv\" (a Control Panel Vendor serving many partners)");
                None
            }
        };

        // [app]
        let client_id = match uuid::Uuid::parse_str(self.app.client_id.trim()) {
            Ok(id) => Some(id.to_string()),
            Err(_) => {
                let problem = if self.app.client_id.trim().is_empty() {
                    "is empty".to_owned()
                } else {
                    format!("{:?} is not a GUID", self.app.client_id.trim())
                };
                c.fail(
                    "app.client_id",
                    problem,
                    "set it to the Application (client) ID of the multitenant app (Entra ID > App registrations > Overview), e.g. SAM_APP__CLIENT_ID=…",
                );
                None
            }
        };
        let algorithm = match self
            .app
            .assertion_algorithm
            .trim()
            .to_ascii_uppercase()
            .as_str()
        {
            "PS256" | "" => Some(AssertionAlgorithm::Ps256),
            "RS256" => Some(AssertionAlgorithm::Rs256),
            other => {
                c.fail(
                    "app.assertion_algorithm",
                    format!("{other:?} is not supported"),
                    "use \"PS256\" (recommended) or \"RS256\"",
                );
                None
            }
        };
        let has_cert = set(&self.app.certificate_path).is_some();
        let has_p12 = set(&self.app.pkcs12_path).is_some();
        let has_secret = set(&self.app.client_secret).is_some();
        let credential_count = [has_cert, has_p12, has_secret]
            .iter()
            .filter(|b| **b)
            .count();
        let credential = if credential_count == 0 {
            c.fail(
                "app.certificate_path",
                "the application has no credential",
                "set app.certificate_path (PEM, preferred), app.pkcs12_path (PFX) or, if you must, app.client_secret (best through SAM_APP__CLIENT_SECRET)",
            );
            None
        } else if credential_count > 1 {
            c.fail(
                "app.client_secret",
                "more than one credential is configured (certificate, PKCS#12, client secret)",
                "keep exactly one of app.certificate_path, app.pkcs12_path and app.client_secret",
            );
            None
        } else if has_cert {
            let cert = c.readable_file(
                "app.certificate_path",
                &self.app.certificate_path,
                "PEM certificate of the app",
            );
            let key_value = set(&self.app.private_key_path).unwrap_or(&self.app.certificate_path);
            let key_key = if set(&self.app.private_key_path).is_some() {
                "app.private_key_path"
            } else {
                "app.certificate_path"
            };
            let key = if set(&self.app.private_key_path).is_some() {
                c.readable_file(
                    key_key,
                    key_value,
                    "PEM private key of the app's certificate",
                )
            } else {
                cert.clone()
            };
            match (cert, key, algorithm) {
                (Some(certificate), Some(private_key), Some(algorithm)) => {
                    Some(AppCredential::Certificate(CertificateCredential {
                        source: CertificateSource::Pem {
                            certificate,
                            private_key,
                        },
                        algorithm,
                    }))
                }
                _ => None,
            }
        } else if has_p12 {
            let path = c.readable_file(
                "app.pkcs12_path",
                &self.app.pkcs12_path,
                "PKCS#12 (.pfx) file of the app",
            );
            match (path, algorithm) {
                (Some(path), Some(algorithm)) => {
                    Some(AppCredential::Certificate(CertificateCredential {
                        source: CertificateSource::Pkcs12 {
                            path,
                            password: set(&self.app.pkcs12_password).map(Password::new),
                        },
                        algorithm,
                    }))
                }
                _ => None,
            }
        } else {
            Some(AppCredential::Secret(ClientSecret::new(
                self.app.client_secret.trim(),
            )))
        };

        // [partner]
        let partner_tenant = match set(&self.partner.tenant_id) {
            Some(v) => c.tenant("partner.tenant_id", v, false),
            None => {
                if mode == Some(AppMode::Csp) {
                    c.fail(
                        "partner.tenant_id",
                        "is empty, but mode is \"csp\"",
                        "set it to the partner tenant ID (a GUID): only this tenant may consent, and its token is the one the CSP app uses",
                    );
                }
                None
            }
        };
        let mut allowed = Vec::new();
        for t in &self.partner.allowed_tenants.0 {
            if let Some(t) = c.tenant("partner.allowed_tenants", t, false) {
                allowed.push(t);
            }
        }

        // [cloud]
        let cloud = self.validate_cloud(&mut c);

        // [entra]
        let endpoint_version = match self
            .entra
            .endpoint_version
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "v1" | "1" | "1.0" => Some(EndpointVersion::V1),
            "v2" | "2" | "2.0" => Some(EndpointVersion::V2),
            other => {
                c.fail(
                    "entra.endpoint_version",
                    format!("{other:?} is not an endpoint version"),
                    "use \"v1\" (resource=, as the Partner Center samples) or \"v2\" (scope=)",
                );
                None
            }
        };
        let authority_tenant =
            c.tenant("entra.authority_tenant", &self.entra.authority_tenant, true);

        // [consent]
        let listen = match self.consent.listen.trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                c.fail(
                    "consent.listen",
                    format!("{:?} is not an address:port", self.consent.listen.trim()),
                    "write it as 127.0.0.1:8080 or 0.0.0.0:8080",
                );
                None
            }
        };
        let redirect_url = c.url(
            "consent.redirect_url",
            &self.consent.redirect_url,
            "set it to the redirect URL registered on the app (Authentication > Web > Redirect URIs), e.g. https://consent.contoso.com/callback",
        );
        if let Some(u) = &redirect_url {
            let loopback = u
                .host_str()
                .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]");
            if u.scheme() == "http" && !loopback {
                c.fail(
                    "consent.redirect_url",
                    format!("{u} uses http on a host other than localhost"),
                    "Entra ID accepts http redirect URLs only on localhost; serve the consent app over https",
                );
            }
        }
        let prompt = match self.consent.prompt.trim() {
            "" | "none-given" => None,
            p @ ("login" | "consent" | "select_account" | "admin_consent") => Some(p.to_owned()),
            other => {
                c.fail(
                    "consent.prompt",
                    format!("{other:?} is not a prompt value"),
                    "use \"\", \"login\", \"consent\" or \"select_account\"",
                );
                None
            }
        };
        let cookie_key = match set(&self.consent.cookie_key) {
            None => None,
            Some(v) => match decode_base64(v) {
                Some(bytes) if bytes.len() >= 64 => Some(secrecy::SecretSlice::from(bytes)),
                _ => {
                    c.fail(
                        "consent.cookie_key",
                        "is not base64 of at least 64 bytes (value not shown)",
                        "generate one with `openssl rand -base64 64` and set SAM_CONSENT__COOKIE_KEY; every instance behind a load balancer needs the same key",
                    );
                    None
                }
            },
        };

        // [store]
        let store = self.validate_store(&mut c, partner_tenant.as_deref());

        // [http]
        let ca_bundle = set(&self.http.ca_bundle).and_then(|p| {
            c.readable_file("http.ca_bundle", p, "PEM bundle of extra CA certificates")
        });
        let connect_timeout = c.duration("http.connect_timeout", &self.http.connect_timeout);
        let request_timeout = c.duration("http.request_timeout", &self.http.request_timeout);

        // [log]
        let format = match self.log.format.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            other => {
                c.fail(
                    "log.format",
                    format!("{other:?} is not a log format"),
                    "use \"text\" or \"json\"",
                );
                None
            }
        };
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(self.log.filter.trim()) {
            c.fail(
                "log.filter",
                format!("{:?} is not a filter ({e})", self.log.filter.trim()),
                "use RUST_LOG syntax, e.g. \"info\" or \"common=debug,info\"",
            );
        }

        if !c.problems.is_empty() {
            return Err(ConfigReport {
                problems: c.problems,
            });
        }
        let missing = || ConfigReport { problems: vec![] };
        Ok(Settings {
            mode: mode.ok_or_else(missing)?,
            app: AppSettings {
                client_id: client_id.ok_or_else(missing)?,
                display_name: self.app.display_name.trim().to_owned(),
                credential: credential.ok_or_else(missing)?,
            },
            partner: PartnerSettings {
                tenant_id: partner_tenant,
                allowed_tenants: allowed,
            },
            cloud: cloud.ok_or_else(missing)?,
            entra: EntraSettings {
                endpoint_version: endpoint_version.ok_or_else(missing)?,
                authority_tenant: authority_tenant.ok_or_else(missing)?,
            },
            consent: ConsentSettings {
                listen: listen.ok_or_else(missing)?,
                redirect_url: redirect_url.ok_or_else(missing)?,
                prompt,
                cookie_key,
            },
            store: store.ok_or_else(missing)?,
            http: HttpSettings {
                ca_bundle,
                connect_timeout: connect_timeout.ok_or_else(missing)?,
                request_timeout: request_timeout.ok_or_else(missing)?,
            },
            log: LogSettings {
                format: format.ok_or_else(missing)?,
                filter: self.log.filter.trim().to_owned(),
            },
        })
    }

    fn validate_cloud(&self, c: &mut Checker<'_>) -> Option<CloudEndpoints> {
        let Some(name) = CloudName::parse(&self.cloud.name) else {
            c.fail(
                "cloud.name",
                format!("{:?} is not a cloud", self.cloud.name.trim()),
                format!("use one of {}", CloudName::ALL.join(", ")),
            );
            return None;
        };
        let custom = name == CloudName::Custom;
        let mut base = CloudEndpoints::preset(name).unwrap_or_else(|| CloudEndpoints {
            name,
            authority_host: Url::parse("https://invalid.invalid").expect("static URL"),
            graph: Url::parse("https://invalid.invalid").expect("static URL"),
            partner_center: Url::parse("https://invalid.invalid").expect("static URL"),
            partner_api: None,
            key_vault_dns_suffix: String::new(),
        });
        let mut ok = true;
        let fix_custom = |what: &str| {
            format!("with cloud.name = \"custom\" every endpoint must be given: set {what}")
        };
        for (key, value, slot) in [
            (
                "cloud.authority_host",
                &self.cloud.authority_host,
                &mut base.authority_host,
            ),
            ("cloud.graph_url", &self.cloud.graph_url, &mut base.graph),
            (
                "cloud.partner_center_url",
                &self.cloud.partner_center_url,
                &mut base.partner_center,
            ),
        ] {
            match (set(value), custom) {
                (Some(v), _) => match c.https_url(key, v, "give the https base URL") {
                    Some(u) => *slot = u,
                    None => ok = false,
                },
                (None, true) => {
                    c.fail(key, "is empty", fix_custom(key));
                    ok = false;
                }
                (None, false) => {}
            }
        }
        if let Some(v) = set(&self.cloud.partner_api_url) {
            match c.https_url(
                "cloud.partner_api_url",
                v,
                "give the https base URL of the Partner API",
            ) {
                Some(u) => base.partner_api = Some(u),
                None => ok = false,
            }
        }
        match (set(&self.cloud.key_vault_dns_suffix), custom) {
            (Some(v), _) if v.contains('/') || v.starts_with('.') => {
                c.fail(
                    "cloud.key_vault_dns_suffix",
                    format!("{v:?} is not a DNS suffix"),
                    "write just the suffix, e.g. vault.azure.net (optionally with :port)",
                );
                ok = false;
            }
            (Some(v), _) => base.key_vault_dns_suffix = v.to_owned(),
            (None, true) => {
                c.fail(
                    "cloud.key_vault_dns_suffix",
                    "is empty",
                    fix_custom("cloud.key_vault_dns_suffix"),
                );
                ok = false;
            }
            (None, false) => {}
        }
        ok.then_some(base)
    }

    fn validate_store(
        &self,
        c: &mut Checker<'_>,
        partner_tenant: Option<&str>,
    ) -> Option<StoreSettings> {
        match self.store.kind.trim().to_ascii_lowercase().as_str() {
            "local" => {
                let l = &self.store.local;
                let path = set(&l.path).map(PathBuf::from);
                if path.is_none() {
                    c.fail("store.local.path", "is empty", "give the path of the encrypted token file, e.g. .sam-local/refresh-tokens.enc");
                }
                let key = match set(&l.key) {
                    None => None,
                    Some(v) => match decode_base64(v) {
                        Some(bytes) if bytes.len() == 32 => Some(secrecy::SecretSlice::from(bytes)),
                        _ => {
                            c.fail("store.local.key", "is not base64 of exactly 32 bytes (value not shown)", "generate one with `openssl rand -base64 32`, or unset it to use store.local.key_file");
                            None
                        }
                    },
                };
                let key_file = set(&l.key_file).map(PathBuf::from);
                if key_file.is_none() && key.is_none() {
                    c.fail("store.local.key_file", "is empty and store.local.key is not set", "give a key file path (created with mode 0600 if missing) or set SAM_STORE__LOCAL__KEY");
                }
                Some(StoreSettings::Local(LocalStoreSettings {
                    path: path?,
                    key_file: key_file.unwrap_or_default(),
                    key,
                }))
            }
            "key-vault" | "keyvault" | "key_vault" => {
                let kv = &self.store.key_vault;
                let vault_url = c.https_url(
                    "store.key_vault.vault_url",
                    &kv.vault_url,
                    "set it to the vault's URI (Key Vault > Overview > Vault URI), e.g. https://contoso-sam.vault.azure.net/",
                );
                let prefix = kv.secret_prefix.trim();
                if prefix.is_empty()
                    || prefix.len() > 60
                    || !prefix
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
                    || !prefix.starts_with(|ch: char| ch.is_ascii_alphabetic())
                {
                    c.fail(
                        "store.key_vault.secret_prefix",
                        format!("{prefix:?} cannot start a Key Vault secret name"),
                        "use 1-60 letters, digits and '-', starting with a letter (e.g. sam-rt)",
                    );
                }
                let tenant = set(&kv.tenant_id).or(partner_tenant);
                let need =
                    |c: &mut Checker<'_>, key: &str, value: &str, what: &str| -> Option<String> {
                        let v = set(value).map(str::to_owned);
                        if v.is_none() {
                            c.fail(key, "is empty", format!("set it to {what}"));
                        }
                        v
                    };
                let need_tenant = |c: &mut Checker<'_>| -> Option<String> {
                    match tenant {
                        Some(t) => Some(t.to_owned()),
                        None => {
                            c.fail(
                                "store.key_vault.tenant_id",
                                "is empty and partner.tenant_id is not set",
                                "set the tenant of the Key Vault access identity",
                            );
                            None
                        }
                    }
                };
                let identity = match kv.identity.trim().to_ascii_lowercase().as_str() {
                    "client-secret" => {
                        let tenant_id = need_tenant(c);
                        let client_id = need(
                            c,
                            "store.key_vault.client_id",
                            &kv.client_id,
                            "the client ID of the Key Vault access app (the seed's KeyVaultClientId)",
                        );
                        let secret = need(
                            c,
                            "store.key_vault.client_secret",
                            &kv.client_secret,
                            "its secret, preferably through SAM_STORE__KEY_VAULT__CLIENT_SECRET (the seed's KeyVaultClientSecret)",
                        );
                        Some(KeyVaultIdentity::ClientSecret {
                            tenant_id: tenant_id?,
                            client_id: client_id?,
                            secret: ClientSecret::new(secret?),
                        })
                    }
                    "client-certificate" => {
                        let tenant_id = need_tenant(c);
                        let client_id = need(
                            c,
                            "store.key_vault.client_id",
                            &kv.client_id,
                            "the client ID of the Key Vault access app",
                        );
                        let cert = match set(&kv.certificate_path) {
                            Some(p) => c.readable_file(
                                "store.key_vault.certificate_path",
                                p,
                                "PEM certificate of the Key Vault access app",
                            ),
                            None => {
                                c.fail(
                                    "store.key_vault.certificate_path",
                                    "is empty",
                                    "set the PEM certificate of the Key Vault access app",
                                );
                                None
                            }
                        };
                        let key = match set(&kv.private_key_path) {
                            Some(p) => c.readable_file(
                                "store.key_vault.private_key_path",
                                p,
                                "PEM private key of the Key Vault access app",
                            ),
                            None => cert.clone(),
                        };
                        Some(KeyVaultIdentity::ClientCertificate {
                            tenant_id: tenant_id?,
                            client_id: client_id?,
                            certificate: cert?,
                            private_key: key?,
                        })
                    }
                    "managed-identity" => Some(KeyVaultIdentity::ManagedIdentity {
                        client_id: set(&kv.client_id).map(str::to_owned),
                    }),
                    "workload-identity" => {
                        let tenant_id = need_tenant(c);
                        let client_id = need(
                            c,
                            "store.key_vault.client_id",
                            &kv.client_id,
                            "the client ID of the federated identity",
                        );
                        let file = match set(&kv.federated_token_file) {
                            Some(p) => Some(PathBuf::from(p)),
                            None => {
                                c.fail("store.key_vault.federated_token_file", "is empty", "set it to the projected service-account token (AZURE_FEDERATED_TOKEN_FILE)");
                                None
                            }
                        };
                        Some(KeyVaultIdentity::WorkloadIdentity {
                            tenant_id: tenant_id?,
                            client_id: client_id?,
                            token_file: file?,
                        })
                    }
                    other => {
                        c.fail("store.key_vault.identity", format!("{other:?} is not an identity kind"), "use client-secret, client-certificate, managed-identity or workload-identity");
                        None
                    }
                };
                Some(StoreSettings::KeyVault(KeyVaultSettings {
                    vault_url: vault_url?,
                    secret_prefix: prefix.to_owned(),
                    identity: identity?,
                    api_version: kv.api_version.trim().to_owned(),
                }))
            }
            other => {
                c.fail("store.kind", format!("{other:?} is not a store"), "use \"local\" (encrypted file, for local use) or \"key-vault\" (Azure Key Vault, for production)");
                None
            }
        }
    }
}

fn decode_base64(value: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let v = value.trim();
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(v))
        .ok()
}

/// Loads and validates in one step; the usual entry point of a binary.
pub fn load_settings(args: &ConfigArgs) -> Result<Settings, ConfigReport> {
    load(args)?.validate()
}

#[cfg(test)]
mod tests;
