//! # emulator: Microsoft Entra ID, Azure Key Vault, Graph and Partner Center on localhost (a test double)
//!
//! Plays Entra ID (v1 and v2 authorize/token endpoints, discovery, JWKS, device code, managed
//! identity), Key Vault (secrets), Microsoft Graph and Partner Center over HTTPS on one listener, speaking their real wire formats so Microsoft's own
//! client libraries work against it unchanged. It is **not** Microsoft and holds no real
//! identities; see `README.md`.
//!
//! How a request flows: the fault middleware ([`faults`]) may delay or fail it; a request
//! whose Host is `{vault}.vault.localhost` goes to [`keyvault`]; `/graph/v1.0/` to [`graph`];
//! `/partnercenter/v1/` to [`partner_center`]; `/_admin/` to [`admin`]; `/msi/token` to
//! [`managed_identity`] (the App Service / Container Apps `IDENTITY_ENDPOINT`); everything
//! else to [`entra`]. Graph, Partner Center and Key Vault identify the bearer of a token with
//! one extractor, [`caller::Caller`].
//!
//! Layers: the handlers above import the [`model`] (directory, sign-in state, vault contents,
//! Partner Center and GDAP records, seed, persisted state, all held by [`state::State`]); the
//! model imports no handler. `README.md` has the route table and the module map.

pub mod admin;
pub mod app_certificate;
pub mod browser;
pub mod caller;
pub mod entra;
pub mod faults;
pub mod graph;
pub mod keyvault;
pub mod managed_identity;
pub mod model;
mod pages;
pub mod partner_center;
pub mod tls;

// The model's modules under their former paths (`emulator::seed::ids`, …).
pub use model::{federation, partner_data, persist, resources, seed, state, tokens};

use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use model::faults::{Fault, Service};
pub use model::resources::ResourceKind;
pub use model::seed::Seed;
pub use model::state::{Counters, Lifetimes, State};
pub use model::tokens::{TokenRejection, ValidatedToken};

/// How to start an emulator. `Default`: the default seed, 127.0.0.1 port 0, no state dir.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Tenants, users, apps, vaults.
    pub seed: Seed,
    /// Address to listen on (loopback).
    pub bind: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Port of a second, plain-HTTP listener that serves only the pages a person's browser sees
    /// (authorize, sign-in, MFA, consent, device login), so a stock browser walks the local
    /// sign-in without a certificate warning; `None`: no such listener. Every API (token, Key
    /// Vault, Graph, Partner Center) answers only over TLS.
    pub sign_in_port: Option<u16>,
    /// Where the CA and the token-signing key are kept across restarts.
    pub state_dir: Option<PathBuf>,
    /// Worker threads.
    pub workers: usize,
    /// Token lifetimes.
    pub lifetimes: Lifetimes,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            seed: Seed::default(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            sign_in_port: None,
            state_dir: None,
            workers: 2,
            lifetimes: Lifetimes::default(),
        }
    }
}

impl EmulatorConfig {
    /// Add (or replace) an app registration.
    pub fn with_app(mut self, app: seed::AppSeed) -> Self {
        self.seed.apps.retain(|a| a.app_id != app.app_id);
        self.seed.apps.push(app);
        self
    }

    /// Register a client certificate (PEM, public part) on an app of the seed.
    pub fn with_certificate(mut self, app_id: &str, certificate_pem: impl Into<String>) -> Self {
        let pem = certificate_pem.into();
        if let Some(a) = self
            .seed
            .apps
            .iter_mut()
            .find(|a| a.app_id.eq_ignore_ascii_case(app_id))
        {
            a.certificates.push(pem);
        }
        self
    }

    /// Add a federated identity credential to an app registration.
    pub fn with_federated_credential(mut self, fic: federation::FederatedCredentialSeed) -> Self {
        self.seed.federated_credentials.push(fic);
        self
    }

    /// Trust an external token issuer whose keys are `jwks` (a JWKS JSON document).
    pub fn with_external_issuer(mut self, issuer: &str, jwks: impl Into<String>) -> Self {
        self.seed.external_issuers.retain(|i| i.issuer != issuer);
        self.seed
            .external_issuers
            .push(federation::ExternalIssuerSeed {
                issuer: issuer.to_string(),
                jwks: jwks.into(),
            });
        self
    }

    /// Add a service principal.
    pub fn with_service_principal(mut self, sp: seed::ServicePrincipalSeed) -> Self {
        self.seed.service_principals.push(sp);
        self
    }

    /// Add `customers` generated customers with `users_per_customer` users each to the seed
    /// (deterministic; see [`Seed::with_generated_customers`]).
    pub fn with_generated_customers(
        mut self,
        customers: u32,
        users_per_customer: u32,
    ) -> Result<Self, seed::SeedError> {
        self.seed = self
            .seed
            .with_generated_customers(customers, users_per_customer)?;
        Ok(self)
    }
}

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The seed is invalid.
    #[error(transparent)]
    Seed(#[from] seed::SeedError),
    /// Binding, TLS or key material failed.
    #[error("starting the emulator: {0:#}")]
    Io(#[from] anyhow::Error),
}

/// Entry point.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Start the emulator; it runs until the handle is dropped.
    ///
    /// Everything a client needs on disk — the CA (`{state_dir}/ca.pem`) and the keys — is
    /// written before the first listener is bound, so a health check that connects proves the
    /// CA file is there (the compose stack relies on it).
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, StartError> {
        config.seed.validate()?;
        if !config.bind.is_loopback() {
            tracing::warn!(
                bind = %config.bind,
                "WARNING: the emulator listens on {}, not a loopback address: its APIs and demo \
                 credentials are reachable from other machines. It is a test double; /_admin/ \
                 answers loopback peers only.",
                config.bind
            );
        }
        let state_dir = config.state_dir.clone();
        let vault_names: Vec<String> = config.seed.vaults.iter().map(|v| v.name.clone()).collect();
        let (signing, tls) = tokio::task::spawn_blocking(move || {
            let signing = tokens::SigningKey::load_or_generate(state_dir.as_deref())?;
            let tls = tls::build(state_dir.as_deref(), &vault_names)?;
            anyhow::Ok((signing, tls))
        })
        .await
        .map_err(anyhow::Error::from)??;
        let listener = std::net::TcpListener::bind((config.bind, config.port))
            .map_err(|e| anyhow::anyhow!("binding {}:{}: {e}", config.bind, config.port))?;
        let port = listener.local_addr().map_err(anyhow::Error::from)?.port();
        let sign_in_listener = match config.sign_in_port {
            Some(p) => Some(std::net::TcpListener::bind((config.bind, p)).map_err(|e| {
                anyhow::anyhow!("binding the sign-in listener {}:{p}: {e}", config.bind)
            })?),
            None => None,
        };
        let sign_in_port = match &sign_in_listener {
            Some(l) => Some(l.local_addr().map_err(anyhow::Error::from)?.port()),
            None => None,
        };
        let mut state = State::new(&config.seed, port, signing, config.lifetimes.clone())?;
        state.sign_in_port = sign_in_port;
        let state = web::Data::new(state);
        let persisted = match &config.state_dir {
            Some(dir) => {
                let fingerprint = persist::seed_fingerprint(&config.seed);
                if let Some(what) = persist::load(&state, dir, &fingerprint)? {
                    tracing::info!("{what}");
                }
                Some(Persisted::start(state.clone(), dir.clone(), fingerprint))
            }
            None => None,
        };
        let ca_path = config.state_dir.as_ref().map(|dir| dir.join("ca.pem"));
        let server = api_server(listener, state.clone(), &tls, config.workers)?;
        let server_handle = server.handle();
        tokio::spawn(server);
        let sign_in_server = match sign_in_listener {
            Some(l) => {
                let server = sign_in_server(l, state.clone())?;
                let handle = server.handle();
                tokio::spawn(server);
                Some(handle)
            }
            None => None,
        };
        tracing::info!(port, "emulator listening on https://127.0.0.1:{port}");
        if let Some(p) = sign_in_port {
            tracing::info!(port = p, "sign-in pages also on http://127.0.0.1:{p}");
        }
        Ok(EmulatorHandle {
            state,
            persisted,
            server: server_handle,
            sign_in_server,
            ca_pem: tls.ca_pem,
            ca_path,
            seed: config.seed,
            port,
        })
    }
}

/// The TLS listener: every API and the pages.
fn api_server(
    listener: std::net::TcpListener,
    state: web::Data<State>,
    tls: &tls::TlsMaterial,
    workers: usize,
) -> anyhow::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(faults::middleware))
            .wrap(actix_web::middleware::from_fn(admin::loopback_only))
            .configure(keyvault::configure)
            // Graph and Partner Center before `admin`: Graph adds `/_admin/gdap/...`.
            .configure(graph::configure)
            .configure(partner_center::configure)
            .configure(admin::configure)
            .configure(managed_identity::configure)
            .configure(entra::configure)
            .default_service(web::to(not_found))
    })
    .workers(workers.max(1))
    // Responses go out as several small TLS records; with Nagle's algorithm on, the client's
    // delayed ACK stalls each exchange by ~40 ms.
    .tcp_nodelay(true)
    .disable_signals()
    .shutdown_timeout(1)
    .listen_rustls_0_23(listener, (*tls.server_config).clone())?;
    Ok(server.run())
}

/// The plain-HTTP sign-in listener ([`EmulatorConfig::sign_in_port`]): an application of its
/// own holding the sign-in pages only, behind [`entra::plain_http_guard`]; anything else gets
/// Entra's 404 naming the HTTPS host.
fn sign_in_server(
    listener: std::net::TcpListener,
    state: web::Data<State>,
) -> anyhow::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(faults::middleware))
            .wrap(actix_web::middleware::from_fn(entra::plain_http_guard))
            .configure(entra::configure_pages)
            .default_service(web::to(entra::plain_http_refusal))
    })
    .workers(1)
    .tcp_nodelay(true)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?;
    Ok(server.run())
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    let e = entra::error::AadError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "invalid_request",
        900561,
        format!(
            "The endpoint only accepts the documented routes; {} {} is not one of them.",
            req.method(),
            req.path()
        ),
    );
    e.response()
}

/// The saver of a state directory: a task that saves within a second of a change, and a last
/// save when the handle is dropped.
struct Persisted {
    dir: PathBuf,
    fingerprint: String,
    last: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Persisted {
    fn start(state: web::Data<State>, dir: PathBuf, fingerprint: String) -> Self {
        let last = Arc::new(std::sync::Mutex::new(None));
        let task = {
            let (dir, fingerprint, last) = (dir.clone(), fingerprint.clone(), last.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    let mut last = last
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if let Err(e) = persist::save_if_changed(&state, &dir, &fingerprint, &mut last)
                    {
                        tracing::warn!(error = %format!("{e:#}"), "saving the emulator's state failed");
                    }
                }
            })
        };
        Persisted {
            dir,
            fingerprint,
            last,
            task,
        }
    }

    fn save_now(&self, state: &State) {
        self.task.abort();
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = persist::save_if_changed(state, &self.dir, &self.fingerprint, &mut last) {
            tracing::warn!(error = %format!("{e:#}"), "saving the emulator's state failed");
        }
    }
}

/// The emulator's clock, shareable across threads ([`EmulatorHandle::clock`]).
#[derive(Clone)]
pub struct EmulatorClock(web::Data<State>);

impl EmulatorClock {
    /// Seconds since the epoch on the emulator's clock.
    pub fn now(&self) -> i64 {
        self.0.now()
    }
    /// Move the clock forward (from another task while a client waits, in tests).
    pub fn advance(&self, by: Duration) {
        self.0.advance_clock(by);
    }
}

impl std::fmt::Debug for EmulatorClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorClock")
            .field("now", &self.now())
            .finish()
    }
}

/// A running emulator. Dropping it stops the server.
pub struct EmulatorHandle {
    state: web::Data<State>,
    persisted: Option<Persisted>,
    server: actix_web::dev::ServerHandle,
    sign_in_server: Option<actix_web::dev::ServerHandle>,
    ca_pem: String,
    ca_path: Option<PathBuf>,
    seed: Seed,
    port: u16,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// `https://127.0.0.1:{port}/`.
    pub fn base_url(&self) -> url::Url {
        // The string is always a valid URL.
        url::Url::parse(&format!("https://127.0.0.1:{}/", self.port))
            .unwrap_or_else(|_| unreachable_url())
    }
    /// Where a browser signs in: `http://127.0.0.1:{sign-in port}` with
    /// [`EmulatorConfig::sign_in_port`], the authority host otherwise.
    pub fn sign_in_host(&self) -> String {
        self.state.sign_in_host()
    }
    /// Entra authority host: `https://127.0.0.1:{port}` (append `/{tenant}`).
    pub fn authority_host(&self) -> String {
        self.state.authority_host()
    }
    /// Authority of a tenant: `https://127.0.0.1:{port}/{tenant}`.
    pub fn authority(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.authority_host())
    }
    /// Microsoft Graph base (`https://127.0.0.1:{port}/graph`).
    pub fn graph_url(&self) -> String {
        format!("{}/graph", self.authority_host())
    }
    /// Partner Center API base (`https://127.0.0.1:{port}/partnercenter`).
    pub fn partner_center_url(&self) -> String {
        format!("{}/partnercenter", self.authority_host())
    }
    /// Partner API base (`https://127.0.0.1:{port}/partnerapi`).
    pub fn partner_api_url(&self) -> String {
        format!("{}/partnerapi", self.authority_host())
    }
    /// A vault's URL: `https://{name}.vault.localhost:{port}/`.
    pub fn vault_url(&self, name: &str) -> String {
        format!("https://{name}.vault.localhost:{}/", self.port)
    }
    /// Key Vault DNS suffix: `vault.localhost:{port}`.
    pub fn key_vault_dns_suffix(&self) -> String {
        format!("vault.localhost:{}", self.port)
    }
    /// Key Vault resource / audience for tokens: `https://vault.localhost:{port}`.
    pub fn key_vault_resource(&self) -> String {
        format!("https://vault.localhost:{}", self.port)
    }
    /// `IDENTITY_ENDPOINT` of the emulated App Service / Container Apps host:
    /// `https://127.0.0.1:{port}/msi/token`.
    pub fn identity_endpoint(&self) -> String {
        format!("{}{}", self.authority_host(), managed_identity::PATH)
    }
    /// `IDENTITY_HEADER` of the emulated host (random per start).
    pub fn identity_header(&self) -> &str {
        self.state.managed_identity.header()
    }
    /// PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
    /// Where the CA PEM was written, when a state directory is used.
    pub fn ca_path(&self) -> Option<&std::path::Path> {
        self.ca_path.as_deref()
    }
    /// The seed the emulator started with (IDs, demo credentials).
    pub fn seed(&self) -> &Seed {
        &self.seed
    }
    /// The shared state (for the Graph / Partner Center emulators and white-box tests).
    pub fn state(&self) -> &State {
        &self.state
    }
    /// Which resource app an audience belongs to (`aud` of a token).
    pub fn resource_for_audience(&self, aud: &str) -> Option<ResourceKind> {
        self.state.resource_for_audience(aud).map(|r| r.kind)
    }
    /// Validate a bearer token this emulator issued for one of `expected`.
    pub fn validate_access_token(
        &self,
        token: &str,
        expected: &[ResourceKind],
    ) -> Result<ValidatedToken, TokenRejection> {
        self.state.validate_access_token(token, expected)
    }
    /// The emulator's clock (wall clock + advances), as seconds since the epoch.
    pub fn now(&self) -> i64 {
        self.state.now()
    }
    /// A handle on the emulator's clock that outlives borrows of `self` (for clients that take
    /// a clock, such as the watch service in tests).
    pub fn clock(&self) -> EmulatorClock {
        EmulatorClock(self.state.clone())
    }
    /// Move the emulator's clock forward (tokens, codes and refresh-token inactivity use it).
    pub fn advance_clock(&self, by: Duration) {
        self.state.advance_clock(by);
    }
    /// Move the emulator's clock back: its tokens are issued in the clients' past.
    pub fn rewind_clock(&self, by: Duration) {
        self.state.rewind_clock(by);
    }
    /// Revoke a user's refresh tokens and sessions (as a password reset does → AADSTS50173).
    pub fn revoke_user_sessions(&self, user_id_or_upn: &str) -> bool {
        self.state.revoke_user_sessions(user_id_or_upn)
    }
    /// Inject a fault.
    pub fn inject_fault(&self, fault: Fault) {
        self.state.faults.inject(fault);
    }
    /// Remove all faults.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }
    /// The faults not yet used up (a fault with `times` leaves when its last request took it).
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.state.faults.list()
    }
    /// Request counters per endpoint and grant type.
    pub fn counters(&self) -> Counters {
        self.state.counters()
    }
    /// One counter (0 when never hit), e.g. `entra.token.client_credentials`.
    pub fn counter(&self, key: &str) -> u64 {
        self.state.counters().get(key).copied().unwrap_or(0)
    }
    /// The MFA code the emulator accepts for a user.
    pub fn mfa_code(&self, upn: &str) -> Option<String> {
        self.state
            .directory()
            .user(upn)
            .and_then(|u| u.mfa_code.clone())
    }
    /// Approve a GDAP relationship as its customer (what the customer's Global Administrator
    /// does in the admin center): `approvalPending` → `active`. `customer` is needed only
    /// when the relationship names no customer. Also `POST /_admin/gdap/relationships/{id}/approve`.
    pub fn approve_gdap_relationship(
        &self,
        id: &str,
        customer: Option<&str>,
    ) -> Result<(), String> {
        graph::gdap::approve(self.state(), id, customer)
            .map(|_| ())
            .map_err(|e| e.message)
    }
    /// How long GDAP's transitional states last from now on (also `PUT /_admin/gdap/timings`).
    pub fn set_gdap_timings(&self, timings: partner_data::gdap::GdapTimings) {
        graph::gdap::apply_clock(self.state());
        let mut data = self.state.partner.lock();
        data.timings = timings;
        data.wake();
    }
    /// Grant or withdraw the partner's delegated admin access to a customer.
    pub fn set_delegated_access(&self, customer: &str, partner: &str, allowed: bool) -> bool {
        self.state.set_delegated_access(customer, partner, allowed)
    }
    /// Register a client certificate (PEM) on an app at runtime.
    pub fn add_certificate(&self, app_id: &str, pem: &str) -> anyhow::Result<()> {
        self.state.add_certificate(app_id, pem)
    }
    /// Remove a client certificate (PEM, as registered) from an app: assertions it signs are
    /// refused from now on (the end of a rotation's overlap).
    pub fn remove_certificate(&self, app_id: &str, pem: &str) -> anyhow::Result<()> {
        self.state.remove_certificate(app_id, pem)
    }
    /// A signing-key rollover: new tokens are signed with a new key (returned: its `kid`); the
    /// previous key stays published in the JWKS.
    pub fn rotate_signing_key(&self) -> anyhow::Result<String> {
        self.state.signing.rotate()
    }
    /// Register a redirect URI on an app at runtime (as an admin adds one in the portal).
    pub fn add_redirect_uri(&self, app_id: &str, uri: &str) -> anyhow::Result<()> {
        self.state.add_redirect_uri(app_id, uri)
    }
    /// Stop the server and wait for it (the state directory, if any, is saved).
    pub async fn stop(self) {
        if let Some(s) = &self.sign_in_server {
            s.stop(false).await;
        }
        self.server.stop(false).await;
    }
    /// Saves the state directory now (it is also saved within a second of a change and when
    /// the handle is dropped); no-op without one.
    pub fn save_state(&self) {
        if let Some(p) = &self.persisted {
            p.save_now(&self.state);
        }
    }
}

fn unreachable_url() -> url::Url {
    url::Url::parse("https://127.0.0.1/").unwrap_or_else(|_| unreachable_url())
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.save_state();
        // The stop command is sent when `stop` is called; awaiting is optional.
        drop(self.server.stop(false));
        if let Some(s) = &self.sign_in_server {
            drop(s.stop(false));
        }
    }
}
