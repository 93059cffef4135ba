//! Spawns the emulated cloud and the consent app in-process on port 0, and walks Entra's
//! sign-in pages over HTTP. Shared by the test suites and the benchmark (`#[path]`-included).

use std::net::TcpListener;

use actix_web::web;
use common::config::{RawSettings, Settings};
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use partner_consent::{AppState, Application, Options};
use url::Url;

/// The CSP demo app of the emulator's default seed.
pub const APP_ID: &str = "40000000-0000-4000-8000-000000000001";
/// Its client secret (a demo value of the seed).
pub const APP_SECRET: &str = "csp-demo-secret-NOT-A-REAL-SECRET";
/// The demo partner tenant.
pub const PARTNER_TENANT: &str = "10000000-0000-4000-8000-000000000001";
/// A customer tenant (any tenant but the partner's).
pub const CUSTOMER_TENANT: &str = "20000000-0000-4000-8000-000000000001";

/// A user of the seed.
#[derive(Debug, Clone, Copy)]
pub struct User {
    pub upn: &'static str,
    pub password: &'static str,
    pub mfa_code: Option<&'static str>,
}

/// Global Admin + Admin Agent with MFA.
pub const ADMIN: User = User {
    upn: "admin@contoso-partner.onmicrosoft.com",
    password: "Demo-Admin-Passw0rd!",
    mfa_code: Some("123456"),
};
/// Global Admin without MFA.
pub const NO_MFA_ADMIN: User = User {
    upn: "nomfa-admin@contoso-partner.onmicrosoft.com",
    password: "Demo-NoMfa-Passw0rd!",
    mfa_code: None,
};
/// A customer tenant's Global Admin.
pub const CUSTOMER_ADMIN: User = User {
    upn: "admin@fabrikam-demo.onmicrosoft.com",
    password: "Fabrikam-Passw0rd!",
    mfa_code: Some("111111"),
};

/// How to spawn.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub mode: &'static str,
    pub allowed_tenants: Vec<String>,
    pub response_mode: Option<String>,
    pub workers: Option<usize>,
    /// Authenticate with a certificate made like `--local` makes it (else the client secret).
    pub certificate: bool,
    /// How long `/readyz` answers are reused.
    pub readyz_cache: std::time::Duration,
    /// Per-client-IP limits (generous by default: the suites make many consents from one IP).
    pub rate_limit: partner_consent::limits::RateLimit,
    /// `entra.endpoint_version` (`v1`, the default configuration, or `v2`).
    pub endpoint_version: &'static str,
    /// Serve `/readyz` and `/metrics` on a second, internal listener (`consent.internal_listen`).
    pub internal_listen: bool,
    /// Key Vault store, with the app's certificate and the cookie key read from it
    /// (`app.certificate_secret`, `consent.cookie_key_secret`): no credential file.
    pub key_vault_secrets: bool,
    /// `consent.trusted_proxy_hops` (0: forwarding headers are not believed).
    pub trusted_proxy_hops: u32,
    /// `consent.sign_in_flow`: `hybrid` (the default configuration) or `code`.
    pub sign_in_flow: &'static str,
    /// The emulated cloud's v1 issuer host (`None`: the global cloud's).
    pub v1_issuer_host: Option<&'static str>,
    /// Seeded MFA policies instead of the default seed's (security defaults in every tenant).
    pub mfa_policies: Option<Vec<emulator::seed::MfaPolicySeed>>,
    /// `partner_center.entra_requires_mfa` of the seed (true by default).
    pub entra_requires_mfa: bool,
}

impl Default for Spawn {
    fn default() -> Self {
        Self {
            mode: "csp",
            allowed_tenants: Vec::new(),
            response_mode: None,
            workers: Some(2),
            certificate: false,
            readyz_cache: std::time::Duration::ZERO,
            rate_limit: partner_consent::limits::RateLimit {
                per_minute: std::num::NonZeroU32::new(10_000).unwrap(),
                burst: std::num::NonZeroU32::new(1_000).unwrap(),
            },
            endpoint_version: "v1",
            internal_listen: false,
            key_vault_secrets: false,
            trusted_proxy_hops: 0,
            sign_in_flow: "hybrid",
            v1_issuer_host: None,
            mfa_policies: None,
            entra_requires_mfa: true,
        }
    }
}

/// A running emulator + consent app.
pub struct TestApp {
    /// `http://127.0.0.1:{port}`.
    pub address: String,
    pub port: u16,
    pub emulator: EmulatorHandle,
    pub state: web::Data<AppState>,
    /// No redirects followed, trusts the emulator's CA, no cookie store (tests handle cookies).
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:{port}` of `consent.internal_listen`, when spawned with it.
    pub internal: Option<String>,
    server: actix_web::dev::ServerHandle,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// Spawns with CSP mode and query responses.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Spawn::default()).await
}

/// Spawns the emulator (default seed, the app's redirect URI added) and the app.
pub async fn spawn_app_with(spawn: Spawn) -> TestApp {
    try_spawn_app_with(spawn).await.expect("app builds")
}

/// [`spawn_app_with`], returning the app's start-up error instead of panicking.
pub async fn try_spawn_app_with(spawn: Spawn) -> anyhow::Result<TestApp> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("local addr").port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    // As the local profile: the browser-facing pages over plain HTTP on loopback.
    let mut config = EmulatorConfig {
        sign_in_port: Some(0),
        ..EmulatorConfig::default()
    };
    if let Some(host) = spawn.v1_issuer_host {
        config.v1_issuer_host = host.into();
    }
    if let Some(policies) = &spawn.mfa_policies {
        config.seed.mfa_policies.clone_from(policies);
    }
    config.seed.partner_center.entra_requires_mfa = spawn.entra_requires_mfa;
    for app in &mut config.seed.apps {
        if app.app_id == APP_ID {
            app.redirect_uris.push(redirect.clone());
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    if spawn.certificate {
        let pem =
            emulator::app_certificate::ensure(&dir.path().join("app.pem")).expect("certificate");
        config = config.with_certificate(APP_ID, pem);
    }
    let emulator = Emulator::start(config).await.expect("emulator starts");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, emulator.ca_pem()).expect("write CA");
    let settings = settings(&emulator, &dir, &redirect, &spawn);
    if spawn.key_vault_secrets {
        upload_secrets(&emulator, &dir, &settings).await;
    }
    let app = Application::build_with_listener(
        settings,
        listener,
        Options {
            response_mode: spawn.response_mode.clone(),
            workers: spawn.workers,
            readyz_cache: Some(spawn.readyz_cache),
            rate_limit: Some(spawn.rate_limit),
        },
    )
    .await?;
    let internal = app.internal_port().map(|p| format!("http://127.0.0.1:{p}"));
    let state = app.state();
    let server = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_merge(
            reqwest::Certificate::from_pem_bundle(emulator.ca_pem().as_bytes()).expect("CA"),
        )
        .build()
        .expect("client");
    Ok(TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        emulator,
        state,
        client,
        dir,
        internal,
        server,
    })
}

fn settings(
    emulator: &EmulatorHandle,
    dir: &tempfile::TempDir,
    redirect: &str,
    spawn: &Spawn,
) -> Settings {
    let mut raw = RawSettings {
        mode: spawn.mode.into(),
        ..RawSettings::default()
    };
    raw.app.client_id = APP_ID.into();
    raw.app.display_name = "Contoso CSP tools (test)".into();
    if spawn.certificate {
        raw.app.certificate_path = dir.path().join("app.pem").display().to_string();
    } else {
        raw.app.client_secret = APP_SECRET.into();
    }
    raw.partner.tenant_id = PARTNER_TENANT.into();
    raw.partner.allowed_tenants = common::config::StringList(spawn.allowed_tenants.clone());
    raw.entra.endpoint_version = spawn.endpoint_version.into();
    raw.entra.sign_in_host = emulator.sign_in_host();
    raw.cloud.name = "custom".into();
    raw.cloud.authority_host = emulator.authority_host();
    raw.cloud.graph_url = emulator.graph_url();
    raw.cloud.partner_center_url = emulator.partner_center_url();
    raw.cloud.key_vault_dns_suffix = emulator.key_vault_dns_suffix();
    raw.consent.listen = "127.0.0.1:0".into();
    raw.consent.redirect_url = redirect.into();
    raw.consent.trusted_proxy_hops = spawn.trusted_proxy_hops;
    raw.consent.sign_in_flow = spawn.sign_in_flow.into();
    if spawn.internal_listen {
        raw.consent.internal_listen = "127.0.0.1:0".into();
    }
    if spawn.key_vault_secrets {
        raw.app.client_secret = String::new();
        raw.app.certificate_secret = KV_CERTIFICATE.into();
        raw.consent.cookie_key_secret = KV_COOKIE_KEY.into();
        raw.store.kind = "key-vault".into();
        let kv = &mut raw.store.key_vault;
        kv.vault_url = emulator.vault_url(emulator::seed::ids::VAULT);
        kv.identity = "client-secret".into();
        kv.tenant_id = PARTNER_TENANT.into();
        kv.client_id = emulator::seed::ids::KEYVAULT_APP.into();
        kv.client_secret = emulator
            .seed()
            .apps
            .iter()
            .find(|a| a.app_id == emulator::seed::ids::KEYVAULT_APP)
            .expect("the vault's access app")
            .secrets[0]
            .clone();
    }
    raw.store.local.path = dir.path().join("tokens.enc").display().to_string();
    raw.store.local.key_file = dir.path().join("store.key").display().to_string();
    raw.http.ca_bundle = dir.path().join("ca.pem").display().to_string();
    raw.validate()
        .unwrap_or_else(|report| panic!("test settings invalid:\n{report}"))
}

/// The secrets `key_vault_secrets` puts in the emulated vault.
pub const KV_CERTIFICATE: &str = "sam-app-certificate";
pub const KV_COOKIE_KEY: &str = "sam-cookie-key";
/// The cookie key stored there: 64 bytes of 9.
pub const KV_COOKIE_KEY_BYTES: [u8; 64] = [9; 64];

/// Registers a new certificate on the app and uploads it (with its key, PEM) and the cookie key
/// to the emulated vault, as an operator would before deploying.
async fn upload_secrets(emulator: &EmulatorHandle, dir: &tempfile::TempDir, settings: &Settings) {
    use base64::Engine as _;
    let path = dir.path().join("kv-app.pem");
    let certificate = emulator::app_certificate::ensure(&path).expect("certificate");
    emulator
        .add_certificate(APP_ID, &certificate)
        .expect("registered");
    let common::config::StoreSettings::KeyVault(kv) = &settings.store else {
        panic!("key_vault_secrets configures the Key Vault store");
    };
    let http = common::http::build_client(&settings.http).expect("HTTP client");
    let vault = common::keyvault::KeyVaultStore::new(kv, &settings.cloud, http).expect("vault");
    let pem = std::fs::read_to_string(&path).expect("certificate and key");
    vault
        .write_secret(KV_CERTIFICATE, &pem, "application/x-pem-file")
        .await
        .expect("certificate uploaded");
    let key = base64::engine::general_purpose::STANDARD.encode(KV_COOKIE_KEY_BYTES);
    vault
        .write_secret(KV_COOKIE_KEY, &key, "text/plain")
        .await
        .expect("cookie key uploaded");
    std::fs::remove_file(&path).expect("no certificate file is left");
}

/// What `/start` gave: where to go, and the cookie to send back.
#[derive(Debug, Clone)]
pub struct Started {
    pub authorize_url: Url,
    /// `sam_consent=...`
    pub cookie: String,
    pub state: String,
}

/// The end of Entra's pages: a redirect to the callback (query) or a form to post (form_post).
#[derive(Debug, Clone)]
pub enum Returned {
    Query(Url),
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// What to do on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Cancel,
}

/// Drives the consent flow over HTTP against an app at `address` (in-process or not).
#[derive(Debug, Clone)]
pub struct Walker<'a> {
    pub client: reqwest::Client,
    /// `http://127.0.0.1:{port}`.
    pub address: String,
    pub emulator: &'a EmulatorHandle,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub fn walker(&self) -> Walker<'_> {
        Walker {
            client: self.client.clone(),
            address: self.address.clone(),
            emulator: &self.emulator,
        }
    }

    pub async fn start(&self) -> Started {
        self.walker().start().await
    }

    pub async fn sign_in(&self, authorize_url: &Url, user: User, decision: Decision) -> Returned {
        self.walker().sign_in(authorize_url, user, decision).await
    }

    pub async fn callback(&self, returned: &Returned, cookie: Option<&str>) -> reqwest::Response {
        self.walker().callback(returned, cookie).await
    }

    pub async fn consent(&self, user: User) -> (Started, Returned, reqwest::Response) {
        self.walker().consent(user).await
    }

    /// The stored grant of a tenant, straight from the store.
    pub async fn stored(&self, tenant: &str) -> Option<common::tokens::StoredGrant> {
        self.state.store.get(tenant).await.expect("store answers")
    }

    /// Counter value from `/metrics`.
    pub async fn metric(&self, line_prefix: &str) -> u64 {
        let text = self.get("/metrics").await.text().await.expect("metrics");
        text.lines()
            .find_map(|l| {
                l.strip_prefix(line_prefix)
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0)
    }
}

impl Walker<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `POST /start`.
    pub async fn start(&self) -> Started {
        let resp = self
            .client
            .post(self.url("/start"))
            .send()
            .await
            .expect("POST /start");
        assert_eq!(resp.status(), 303);
        let location = resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("sam_consent="))
            .expect("consent cookie")
            .split(';')
            .next()
            .expect("cookie pair")
            .to_owned();
        let authorize_url = Url::parse(&location).expect("authorize URL");
        let state = authorize_url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("state");
        Started {
            authorize_url,
            cookie,
            state,
        }
    }

    /// Walks the emulator's sign-in, MFA and consent pages like a browser (without JS).
    pub async fn sign_in(&self, authorize_url: &Url, user: User, decision: Decision) -> Returned {
        let base = self.emulator.base_url();
        let mut resp = self
            .client
            .get(authorize_url.clone())
            .send()
            .await
            .expect("authorize");
        for _ in 0..6 {
            if resp.status().is_redirection() {
                let location = resp.headers()["location"]
                    .to_str()
                    .expect("location")
                    .to_owned();
                return Returned::Query(Url::parse(&location).expect("callback URL"));
            }
            let body = resp.text().await.expect("page");
            let form_action = |id: &str| -> Option<String> {
                let at = body.find(&format!("id=\"{id}\""))?;
                let form_start = body[..at].rfind("<form")?;
                attr(&body[form_start..], "action")
            };
            let flow = attr_after(&body, "name=\"flow\"", "value").unwrap_or_default();
            let (action, form): (String, Vec<(&str, String)>) =
                if let Some(a) = form_action("signin") {
                    (
                        a,
                        vec![
                            ("flow", flow),
                            ("login", user.upn.into()),
                            ("passwd", user.password.into()),
                        ],
                    )
                } else if let Some(a) = form_action("mfa") {
                    (
                        a,
                        vec![
                            ("flow", flow),
                            ("otc", user.mfa_code.unwrap_or_default().into()),
                        ],
                    )
                } else if let Some(a) = form_action("consent") {
                    let action = if decision == Decision::Accept {
                        "accept"
                    } else {
                        "cancel"
                    };
                    (a, vec![("flow", flow), ("action", action.into())])
                } else if body.contains("name=\"hiddenform\"") {
                    let action =
                        attr(&body[body.find("<form").expect("form")..], "action").expect("action");
                    return Returned::FormPost {
                        action: unescape(&action),
                        fields: hidden_fields(&body),
                    };
                } else {
                    panic!("unexpected page from the emulator:\n{body}");
                };
            let target = base.join(action.trim_start_matches('/')).expect("form URL");
            resp = self
                .client
                .post(target)
                .form(&form)
                .send()
                .await
                .expect("form post");
        }
        panic!("the sign-in did not finish in six steps");
    }

    /// Sends the browser's return to the callback with a cookie (or none).
    pub async fn callback(&self, returned: &Returned, cookie: Option<&str>) -> reqwest::Response {
        let request = match returned {
            Returned::Query(url) => self.client.get(url.clone()),
            Returned::FormPost { action, fields } => self.client.post(action).form(fields),
        };
        let request = match cookie {
            Some(c) => request.header("cookie", c),
            None => request,
        };
        request.send().await.expect("callback")
    }

    /// A full consent: start, sign in as `user`, accept, return to the callback.
    pub async fn consent(&self, user: User) -> (Started, Returned, reqwest::Response) {
        let started = self.start().await;
        let returned = self
            .sign_in(&started.authorize_url, user, Decision::Accept)
            .await;
        let resp = self.callback(&returned, Some(&started.cookie)).await;
        (started, returned, resp)
    }
}

/// The value of `code` in a returned query or form.
pub fn code_of(returned: &Returned) -> Option<String> {
    match returned {
        Returned::Query(url) => url
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned()),
        Returned::FormPost { fields, .. } => fields
            .iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.clone()),
    }
}

fn attr(tag_and_rest: &str, name: &str) -> Option<String> {
    let end = tag_and_rest.find('>')?;
    let tag = &tag_and_rest[..end];
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_owned())
}

fn attr_after(body: &str, marker: &str, name: &str) -> Option<String> {
    let at = body.find(marker)?;
    let tag_start = body[..at].rfind('<')?;
    attr(&body[tag_start..], name)
}

fn hidden_fields(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("<input type=\"hidden\"") {
        let tag = &rest[i..];
        if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
            out.push((unescape(&n), unescape(&v)));
        }
        rest = &rest[i + 1..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
