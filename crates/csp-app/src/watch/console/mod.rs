//! The operator console: server-rendered pages of what the watch's last cycle found, served by
//! `csp-app watch --listen` on the same port as `/metrics`, for operators signed in with
//! Entra ID.
//!
//! - [`auth`]: sign-in (authorization code + PKCE, `state`, `nonce`, with `common::entra`'s
//!   authorize URL, code redemption and ID-token validation, as partner-consent), the access
//!   check (an app role or group for reading, another for the action) and logout;
//! - [`session`]: the sessions, kept in memory (one replica: a restart signs operators out), the
//!   cookie (`__Host-` and `Secure` over HTTPS), the idle timeout, the CSRF token;
//! - [`view`]: the pages' rows, built from [`super::snapshot::LastCycle`] only — a page view
//!   makes no API call;
//! - [`timeline`]: the upcoming-expiries SVG, drawn on the server;
//! - [`pages`]: the askama templates and the page handlers, the one action ("run a cycle now",
//!   CSRF token + `SameSite=Lax` + `Origin` check, write access only);
//! - [`headers`]: security headers and CSP (no inline script or style, assets from this origin),
//!   and the stylesheet, compiled into the binary.
//!
//! Without `[watch.console]` (no `redirect_url`) the console is off: `/` says how to turn it on
//! and `/metrics`, `/healthz` work as before.

pub mod auth;
pub mod customer_status;
pub mod headers;
pub mod pages;
pub mod session;
pub mod timeline;
pub mod view;

#[cfg(test)]
mod customers_page_tests;

use std::sync::Arc;

use actix_web::web;
use common::cloud::Resource;
use common::config::{ConsoleSettings, Settings};
use common::entra::{ClientCredential, EntraClient, IdTokenValidator, TokenTarget};

use super::Shared;
use session::Sessions;

/// The console of one watch: its settings, its Entra client and ID-token validator, its
/// sessions.
#[derive(Debug)]
pub struct Console {
    /// `[watch.console]`.
    pub settings: ConsoleSettings,
    /// The partner tenant operators belong to (the sign-in's authority tenant).
    pub tenant: String,
    /// The app operators sign in to, with its credential.
    pub entra: EntraClient,
    /// Validates the ID tokens issued to that app by the partner tenant.
    pub validator: IdTokenValidator,
    /// What the sign-in asks for (Microsoft Graph, sign-in only: `User.Read` is consented).
    pub target: TokenTarget,
    /// The console's origin (`scheme://host[:port]` of the redirect URL), for the `Origin` check.
    pub origin: String,
    /// Signed-in operators and sign-ins in progress.
    pub sessions: Sessions,
}

impl Console {
    /// The console configured in `settings`, signing operators in to its own app, or to the
    /// app of `app_client` (`entra`, the token broker's client) when it names none; `None` when
    /// the console is off.
    pub fn from_settings(
        settings: &Settings,
        http: &reqwest::Client,
        app_client: &EntraClient,
        tenant: &str,
    ) -> Option<Arc<Self>> {
        let console = settings.watch.console.clone()?;
        let cloud = &settings.cloud;
        let version = settings.entra.endpoint_version;
        let entra = match &console.client {
            Some((client_id, secret)) => EntraClient::new(
                http.clone(),
                cloud.authority_host.clone(),
                client_id.clone(),
                ClientCredential::Secret(secret.clone()),
                version,
            )
            .with_sign_in_host(settings.entra.sign_in_host.clone()),
            None => app_client.clone(),
        };
        let validator = IdTokenValidator::new(
            http.clone(),
            &cloud.authority_host,
            tenant,
            version,
            entra.client_id().to_owned(),
        );
        let target = TokenTarget::delegated(cloud, version, Resource::Graph)
            .unwrap_or_else(|| TokenTarget::Scopes("openid profile".into()));
        let origin = console.redirect_url.origin().ascii_serialization();
        let sessions = Sessions::new(console.secure(), console.idle_timeout);
        Some(Arc::new(Self {
            settings: console,
            tenant: tenant.to_owned(),
            entra,
            validator,
            target,
            origin,
            sessions,
        }))
    }
}

/// What the console's handlers read: the console when it is on, and the watch's shared state.
#[derive(Clone, Debug)]
pub struct ConsoleData {
    /// The console, `None` when off.
    pub console: Option<Arc<Console>>,
    /// The watch's shared state.
    pub shared: Arc<Shared>,
}

/// The console's routes (joined to the watch's app by [`super::server::routes`]).
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(pages::overview))
        .route("/customers", web::get().to(pages::customers))
        .route("/expiries", web::get().to(pages::expiries))
        .route("/history", web::get().to(pages::history))
        .route("/actions/run-cycle", web::post().to(pages::run_cycle))
        .route("/auth/signin", web::get().to(auth::sign_in))
        .route("/auth/callback", web::get().to(auth::callback))
        .route("/auth/logout", web::post().to(auth::logout))
        .route("/assets/console.css", web::get().to(headers::style));
}
