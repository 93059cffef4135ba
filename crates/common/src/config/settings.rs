//! Typed settings: what [`RawSettings::validate`](super::RawSettings::validate) produces.
//!
//! Enumerated values implement [`Words`]: one table per enum gives its spellings, and
//! `FromStr`, `Display` and serde follow from it.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::cloud::CloudEndpoints;
use crate::secret::{ClientSecret, Password};
use crate::words::{Words, impl_words};

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
    /// `csp-app watch`.
    pub watch: WatchSettings,
    /// Customers every fan-out leaves out unless told otherwise.
    pub customers: super::CustomerSettings,
    /// The permissions the application holds in customer tenants.
    pub customer_permissions: super::CustomerPermissions,
    /// GDAP role templates by name.
    pub templates: std::collections::BTreeMap<String, super::RoleTemplate>,
    /// The configuration profile applied, if one was named (`local` for the emulated cloud).
    pub profile: Option<String>,
}

/// Whether the app serves one partner (CSP) or many (CPV).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// A secret in the store's Key Vault (PKCS#12 or PEM), read at start and again every
    /// `refresh` so a rotated certificate is used without a restart.
    KeyVault {
        /// The secret's name.
        secret: String,
        /// How often the latest version is read.
        refresh: std::time::Duration,
    },
}

/// Client-assertion signature algorithm (Entra "Certificate credentials").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointVersion {
    /// `/oauth2/authorize` + `/oauth2/token` with `resource=` (Microsoft's samples' calls).
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
    /// Host of the authorize endpoint a browser is sent to, when not the authority host (the
    /// emulator's plain-HTTP loopback sign-in pages).
    pub sign_in_host: Option<url::Url>,
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
    /// The v1 sign-in flow (v2 always uses [`SignInFlow::Code`]).
    pub sign_in_flow: SignInFlow,
    /// Cookie-encryption key (≥ 64 bytes), if configured.
    pub cookie_key: Option<secrecy::SecretSlice<u8>>,
    /// The Key Vault secret holding the cookie key, if configured instead.
    pub cookie_key_secret: Option<String>,
    /// How long a `/readyz` answer is reused.
    pub readyz_cache: std::time::Duration,
    /// Requests a minute per client IP on `/start` and the callback.
    pub rate_limit_per_minute: std::num::NonZeroU32,
    /// Burst per client IP before the per-minute rate applies.
    pub rate_limit_burst: std::num::NonZeroU32,
    /// The address that alone serves `/readyz` and `/metrics`, if any.
    pub internal_listen: Option<SocketAddr>,
    /// Reverse proxies whose forwarding headers name the client (none by default).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Reverse proxies always in front of the app, whatever their addresses (0 by default).
    pub trusted_proxy_hops: u32,
}

impl ConsentSettings {
    /// The page a partner admin opens to consent: the root of the redirect URL's origin.
    pub fn landing_url(&self) -> Url {
        let mut url = self.redirect_url.clone();
        url.set_path("/");
        url.set_query(None);
        url.set_fragment(None);
        url
    }

    /// A loopback redirect URL on another port than `listen`: after sign-in, Entra ID would send
    /// the admin's browser where nothing listens. (Behind a proxy the ports differ on purpose,
    /// and only a loopback redirect URL is known to reach this process directly.)
    pub fn listen_warning(&self) -> Option<String> {
        let redirect_port = self.redirect_url.port_or_known_default()?;
        let listen_port = self.listen.port();
        (is_loopback(&self.redirect_url) && listen_port != 0 && listen_port != redirect_port).then(
            || {
                format!(
                    "consent.redirect_url ({}) is on port {redirect_port} but consent.listen ({}) \
                     is on port {listen_port}: after sign-in Entra ID sends the admin's browser \
                     where nothing listens; set consent.listen to 127.0.0.1:{redirect_port}, or \
                     the redirect URL (here and on the app registration) to port {listen_port}",
                    self.redirect_url, self.listen
                )
            },
        )
    }
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

/// The identity the tools use to reach Key Vault (Microsoft's samples' "KeyVaultAccessApp").
#[derive(Clone, Debug)]
pub enum KeyVaultIdentity {
    /// An app with a client secret (Microsoft's samples' `KeyVaultClientId` / `KeyVaultClientSecret`).
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
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
        if let Some(warning) = self.emulator_cloud_warning() {
            out.push(warning);
        }
        if let Some(warning) = self.consent.listen_warning() {
            out.push(warning);
        }
        out
    }

    /// A loopback or `custom` authority outside the local profile: probably the emulator's
    /// endpoints carried into a configuration meant for Microsoft's cloud.
    fn emulator_cloud_warning(&self) -> Option<String> {
        if self.profile.as_deref() == Some(super::LOCAL_PROFILE) {
            return None;
        }
        let authority = &self.cloud.authority_host;
        let loopback = is_loopback(authority);
        let custom = self.cloud.name == crate::cloud::CloudName::Custom;
        (loopback || custom).then(|| {
            format!(
                "the authority {authority} ({}) is used outside the local profile: tokens will not \
                 come from Microsoft Entra ID (for production set cloud.name to global, china or \
                 usgov and leave the endpoint URLs empty)",
                if loopback {
                    "a loopback address"
                } else {
                    "a custom cloud"
                }
            )
        })
    }
}

impl Words for AppMode {
    const NOUN: &'static str = "a mode";
    const SPELLINGS: &'static [(Self, &'static [&'static str])] =
        &[(Self::Csp, &["csp"]), (Self::Cpv, &["cpv"])];
}
impl_words!(AppMode);

impl Words for AssertionAlgorithm {
    const NOUN: &'static str = "a supported assertion algorithm";
    const SPELLINGS: &'static [(Self, &'static [&'static str])] =
        &[(Self::Ps256, &["PS256"]), (Self::Rs256, &["RS256"])];
}
impl_words!(AssertionAlgorithm);

/// How the consent signs the admin in (`consent.sign_in_flow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInFlow {
    /// OpenID Connect hybrid flow: `response_type=code id_token`, `response_mode=form_post`; the
    /// signed ID token of the authorization response is validated (nonce, `c_hash`), then the
    /// code is redeemed with PKCE (Microsoft's PartnerConsent sample; v1 only).
    Hybrid,
    /// Authorization code with PKCE; the ID token comes from the token endpoint.
    Code,
}

impl Words for SignInFlow {
    const NOUN: &'static str = "a sign-in flow";
    const SPELLINGS: &'static [(Self, &'static [&'static str])] =
        &[(Self::Hybrid, &["hybrid"]), (Self::Code, &["code"])];
}
impl_words!(SignInFlow);

impl ConsentSettings {
    /// The flow used with `version`: the configured one on v1, `code` on v2 (its hybrid flow is
    /// not what Microsoft's samples use, and v2 ID tokens carry no `amr`).
    pub fn flow_for(&self, version: EndpointVersion) -> SignInFlow {
        match version {
            EndpointVersion::V1 => self.sign_in_flow,
            EndpointVersion::V2 => SignInFlow::Code,
        }
    }
}

impl Words for EndpointVersion {
    const NOUN: &'static str = "an endpoint version";
    const SPELLINGS: &'static [(Self, &'static [&'static str])] = &[
        (Self::V1, &["v1", "1", "1.0"]),
        (Self::V2, &["v2", "2", "2.0"]),
    ];
}
impl_words!(EndpointVersion);

/// Which refresh-token store `store.kind` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// AES-256-GCM encrypted local file.
    Local,
    /// Azure Key Vault.
    KeyVault,
}

impl Words for StoreKind {
    const NOUN: &'static str = "a store";
    const SPELLINGS: &'static [(Self, &'static [&'static str])] = &[
        (Self::Local, &["local"]),
        (Self::KeyVault, &["key-vault", "keyvault", "key_vault"]),
    ];
}
impl_words!(StoreKind);

impl StoreSettings {
    /// The `store.kind` of these settings.
    pub fn kind(&self) -> StoreKind {
        match self {
            Self::Local(_) => StoreKind::Local,
            Self::KeyVault(_) => StoreKind::KeyVault,
        }
    }
}

/// How the tools authenticate to Key Vault: the value of `store.key_vault.identity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyVaultIdentityKind {
    /// An app with a client secret.
    ClientSecret,
    /// An app with a certificate.
    ClientCertificate,
    /// An Azure managed identity.
    ManagedIdentity,
    /// Kubernetes workload identity federation.
    WorkloadIdentity,
}

impl Words for KeyVaultIdentityKind {
    const NOUN: &'static str = "an identity kind";
    const SPELLINGS: &'static [(Self, &'static [&'static str])] = &[
        (Self::ClientSecret, &["client-secret"]),
        (Self::ClientCertificate, &["client-certificate"]),
        (Self::ManagedIdentity, &["managed-identity"]),
        (Self::WorkloadIdentity, &["workload-identity"]),
    ];
}
impl_words!(KeyVaultIdentityKind);

impl KeyVaultIdentity {
    /// The `store.key_vault.identity` of this identity.
    pub fn kind(&self) -> KeyVaultIdentityKind {
        match self {
            Self::ClientSecret { .. } => KeyVaultIdentityKind::ClientSecret,
            Self::ClientCertificate { .. } => KeyVaultIdentityKind::ClientCertificate,
            Self::ManagedIdentity { .. } => KeyVaultIdentityKind::ManagedIdentity,
            Self::WorkloadIdentity { .. } => KeyVaultIdentityKind::WorkloadIdentity,
        }
    }

    /// The tenant the identity signs in to (`None` for a managed identity: the platform's).
    pub fn tenant_id(&self) -> Option<&str> {
        match self {
            Self::ClientSecret { tenant_id, .. }
            | Self::ClientCertificate { tenant_id, .. }
            | Self::WorkloadIdentity { tenant_id, .. } => Some(tenant_id),
            Self::ManagedIdentity { .. } => None,
        }
    }

    /// The identity's client ID (`None` for a system-assigned managed identity).
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::ClientSecret { client_id, .. }
            | Self::ClientCertificate { client_id, .. }
            | Self::WorkloadIdentity { client_id, .. } => Some(client_id),
            Self::ManagedIdentity { client_id } => client_id.as_deref(),
        }
    }
}

impl Words for LogFormat {
    const NOUN: &'static str = "a log format";
    const SPELLINGS: &'static [(Self, &'static [&'static str])] =
        &[(Self::Text, &["text"]), (Self::Json, &["json"])];
}
impl_words!(LogFormat);

/// Whether `url` names this machine: a loopback address, `localhost` or a `*.localhost` name
/// (RFC 6761 §6.3).
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// `[watch]`.
#[derive(Clone, Debug, Default)]
pub struct WatchSettings {
    /// The operator console; `None`: off (no `watch.console.redirect_url`).
    pub console: Option<ConsoleSettings>,
}

/// `[watch.console]`: who may sign in to the watch's operator console, and how.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// The redirect URL registered on the console's app (its origin is the console's).
    pub redirect_url: Url,
    /// The app operators sign in to; `None`: the CSP/CPV app with its own credential.
    pub client: Option<(String, ClientSecret)>,
    /// The app role value or group object ID that may read.
    pub read_access: String,
    /// The app role value or group object ID that may also run a cycle now.
    pub write_access: String,
    /// A session unused this long is signed out.
    pub idle_timeout: Duration,
}

impl ConsoleSettings {
    /// Whether the console is served over HTTPS (then its cookie is `__Host-`, `Secure`).
    pub fn secure(&self) -> bool {
        self.redirect_url.scheme() == "https"
    }
}
