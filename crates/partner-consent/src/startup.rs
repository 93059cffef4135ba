//! Building and running the web app: [`Application::build`] binds the listener and wires the
//! token broker, [`Application::port`] tells tests where it listens, and
//! [`Application::run_until_stopped`] serves until the server is stopped.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;
use common::config::Settings;
use common::secret::ExposeSecret;
use common::tokens::{BrokerSettings, RefreshTokenStore, TokenBroker, app_credential};
use tracing_actix_web::{RootSpanBuilder, TracingLogger};

use crate::client_ip::TrustedProxies;
use crate::limits::{self, ClientLimiter, RateLimit};
use crate::metrics::Metrics;
use crate::routes;
use crate::routes::health::Readiness;
use crate::security;

/// Everything a handler needs; one per process, shared by the workers.
pub struct AppState {
    /// Validated configuration.
    pub settings: Arc<Settings>,
    /// The token broker (authorize URL, code redemption, ID-token validation, store).
    pub broker: TokenBroker,
    /// The refresh-token store the broker writes to (probed by `/readyz`).
    pub store: Arc<dyn RefreshTokenStore>,
    /// The process's HTTP client.
    pub http: reqwest::Client,
    /// Encrypts the pending-consent cookie.
    pub cookie_key: Key,
    /// Served over HTTPS: `Secure` cookies and HSTS.
    pub secure_cookies: bool,
    /// The `Content-Security-Policy` value.
    pub csp: HeaderValue,
    /// `response_mode` asked of Entra ID (`None`: Entra's default, `query`).
    pub response_mode: Option<String>,
    /// Path of the redirect URL, where the callback is served.
    pub callback_path: String,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// The cached `/readyz` answer.
    pub readiness: Readiness,
    /// Per-client-IP limits on `/start` and the callback.
    pub limiter: ClientLimiter,
    /// The bound `consent.internal_listen` address, which alone serves `/readyz` and `/metrics`.
    pub internal_addr: Option<std::net::SocketAddr>,
    /// Callbacks in progress or just finished, run once each to their end.
    pub outcomes: crate::outcomes::Outcomes,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("broker", &self.broker)
            .field("callback_path", &self.callback_path)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

/// Choices that are not configuration keys.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `response_mode` to request: `query` (default) or `form_post`.
    pub response_mode: Option<String>,
    /// Worker threads (default: one per core).
    pub workers: Option<usize>,
    /// How long a `/readyz` answer is reused; `None`: `consent.readyz_cache`.
    pub readyz_cache: Option<Duration>,
    /// Per-client-IP limits on `/start` and the callback; `None`: `consent.rate_limit_*`.
    pub rate_limit: Option<RateLimit>,
}

/// The running web app.
pub struct Application {
    port: u16,
    internal_port: Option<u16>,
    server: Server,
    state: web::Data<AppState>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `consent.listen` and builds the app.
    pub async fn build(settings: Settings, options: Options) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.consent.listen).with_context(|| {
            format!(
                "cannot listen on {} (consent.listen)",
                settings.consent.listen
            )
        })?;
        Self::build_with_listener(settings, listener, options).await
    }

    /// Builds the app on an already bound listener (tests bind port 0 first, to know the
    /// redirect URL before the app starts).
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
        options: Options,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        check_allow_list(&settings)?;
        let internal =
            match settings.consent.internal_listen {
                Some(addr) => Some(TcpListener::bind(addr).with_context(|| {
                    format!("cannot listen on {addr} (consent.internal_listen)")
                })?),
                None => None,
            };
        let internal_addr = match &internal {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let internal_port = internal_addr.map(|a| a.port());
        let readyz_cache = options
            .readyz_cache
            .unwrap_or(settings.consent.readyz_cache);
        let proxies = TrustedProxies {
            networks: settings.consent.trusted_proxies.clone(),
            hops: settings.consent.trusted_proxy_hops,
        };
        let rate_limit = options.rate_limit.unwrap_or(RateLimit {
            per_minute: settings.consent.rate_limit_per_minute,
            burst: settings.consent.rate_limit_burst,
        });
        let http = common::http::build_client(&settings.http)?;
        let (store, broker, cookie_key) = wire_secrets(&settings, &http).await?;
        let secure_cookies = settings.consent.redirect_url.scheme() == "https";
        // The form on the landing page leads (through /start's redirect) to the sign-in host.
        let csp = security::content_security_policy(
            &settings
                .entra
                .sign_in_host
                .as_ref()
                .unwrap_or(&settings.cloud.authority_host)
                .origin()
                .ascii_serialization(),
        );
        let callback_path = settings.consent.redirect_url.path().to_owned();
        let state = web::Data::new(AppState {
            settings: Arc::new(settings),
            broker,
            store,
            http,
            cookie_key,
            secure_cookies,
            csp,
            response_mode: options.response_mode,
            callback_path: callback_path.clone(),
            metrics: Metrics::default(),
            readiness: Readiness::new(readyz_cache),
            limiter: ClientLimiter::new(rate_limit).with_proxies(proxies),
            internal_addr,
            outcomes: crate::outcomes::Outcomes::new(crate::session::PENDING_LIFETIME),
        });
        let data = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(
                    crate::routes::callback::MAX_PARAMS_BYTES,
                ))
                .wrap(middleware::from_fn(security::headers))
                .wrap(middleware::from_fn(internal_routes))
                .wrap(TracingLogger::<PathOnlySpan>::new())
                .route("/", web::get().to(routes::landing::landing))
                .service(
                    web::resource("/start")
                        .wrap(middleware::from_fn(limits::per_client))
                        .route(web::post().to(routes::start::start))
                        .route(web::get().to(routes::start::start)),
                )
                .service(
                    web::resource(callback_path.as_str())
                        .wrap(middleware::from_fn(limits::callback))
                        .route(web::get().to(routes::callback::callback_get))
                        .route(web::post().to(routes::callback::callback_post)),
                )
                .route("/healthz", web::get().to(routes::health::healthz))
                .route("/readyz", web::get().to(routes::health::readyz))
                .route("/metrics", web::get().to(routes::health::metrics))
                .route("/assets/style.css", web::get().to(routes::assets::style))
                .route(
                    "/assets/autopost.js",
                    web::get().to(routes::assets::autopost),
                )
                .default_service(web::to(routes::landing::not_found))
        })
        .tcp_nodelay(true)
        .disable_signals()
        .shutdown_timeout(5);
        if let Some(w) = options.workers {
            server = server.workers(w.max(1));
        }
        let server = server.listen(listener)?;
        let server = match internal {
            Some(l) => server.listen(l)?,
            None => server,
        }
        .run();
        Ok(Self {
            port,
            internal_port,
            server,
            state,
        })
    }

    /// The port the app listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `consent.internal_listen`, when set.
    pub fn internal_port(&self) -> Option<u16> {
        self.internal_port
    }

    /// The shared state (broker, metrics), for tests and the `--local` banner.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (through [`Self::handle`], or Ctrl-C in the binary), then waits
    /// for rotated refresh tokens still being written.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.state.broker.flush().await;
        result
    }
}

/// In CPV mode an empty `partner.allowed_tenants` would mean "any tenant on earth may store a
/// grant here": refuse to start instead, naming the key to set (the rules live in
/// `common::config`, where `config check` reads them too).
pub(crate) fn check_allow_list(settings: &Settings) -> anyhow::Result<()> {
    match settings
        .refusals_of(common::config::PARTNER_CONSENT)
        .first()
    {
        Some(refusal) => anyhow::bail!("{}", refusal.message),
        None => Ok(()),
    }
}

/// The store, the broker (with the app's credential) and the cookie key: from files or the
/// environment, or from the store's Key Vault (`app.certificate_secret`,
/// `consent.cookie_key_secret`) through its identity.
async fn wire_secrets(
    settings: &Settings,
    http: &reqwest::Client,
) -> anyhow::Result<(Arc<dyn RefreshTokenStore>, TokenBroker, Key)> {
    let (store, vault) = common::tokens::open_store(settings, http)?;
    let credential = app_credential(&settings.app.credential, vault.as_ref()).await?;
    let broker = TokenBroker::new(
        BrokerSettings::from_settings(settings),
        http.clone(),
        credential,
        store.clone(),
    );
    let cookie_key = cookie_key(settings, vault.as_deref()).await?;
    Ok((store, broker, cookie_key))
}

/// `consent.cookie_key`, or the Key Vault secret `consent.cookie_key_secret`, or a random key
/// for this process (with a warning: other instances cannot read its cookies).
async fn cookie_key(
    settings: &Settings,
    vault: Option<&common::keyvault::KeyVaultStore>,
) -> anyhow::Result<Key> {
    match (
        &settings.consent.cookie_key,
        &settings.consent.cookie_key_secret,
    ) {
        (Some(k), _) => {
            Key::try_from(k.expose_secret()).context("consent.cookie_key must be at least 64 bytes")
        }
        (None, Some(name)) => {
            let vault =
                vault.context("consent.cookie_key_secret needs store.kind = \"key-vault\"")?;
            let key = vault.read_cookie_key(name).await.with_context(|| {
                format!("cannot read the cookie key from Key Vault secret {name} (consent.cookie_key_secret)")
            })?;
            Key::try_from(key.expose_secret())
                .context("the cookie key from Key Vault must be at least 64 bytes")
        }
        (None, None) => {
            tracing::warn!(
                "consent.cookie_key is not set: using a random key for this process; \
                 several instances, or a restart during a sign-in, will refuse each other's cookies"
            );
            Ok(Key::generate())
        }
    }
}

/// With `consent.internal_listen`, `/readyz` and `/metrics` answer only on that address, which
/// serves nothing else but `/healthz`: the public listener answers them 404, so neither probe
/// results nor counters reach the internet.
async fn internal_routes(
    req: ServiceRequest,
    next: middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let internal = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.internal_addr);
    if let Some(internal) = internal {
        let local = req.app_config().local_addr();
        let on_internal = local.port() == internal.port()
            && (internal.ip().is_unspecified() || local.ip() == internal.ip());
        // The path the router matches: percent-encoded unreserved characters decoded
        // (`/%6detrics` routes to `/metrics`), so an encoded spelling cannot slip past.
        let path = req.match_info().as_str();
        let probe = matches!(path, "/readyz" | "/metrics");
        let allowed = if on_internal {
            probe || path == "/healthz"
        } else {
            !probe
        };
        if !allowed {
            return Ok(req.into_response(actix_web::HttpResponse::NotFound().finish()));
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// The request span: method and path, never the query string (the callback's carries the
/// authorization code).
#[derive(Debug)]
pub struct PathOnlySpan;

impl RootSpanBuilder for PathOnlySpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        tracing::info_span!(
            "http",
            http.method = %request.method(),
            http.path = %request.path(),
            request_id = %uuid::Uuid::new_v4(),
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        _span: tracing::Span,
        _outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
