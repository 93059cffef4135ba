//! `POST /start` (and `GET /start`): redirect to Entra ID's authorize endpoint with `state`,
//! `nonce` and PKCE S256, and set the encrypted pending-consent cookie.
//!
//! A consent in progress is never replaced silently: the pending-consent cookie is one per
//! browser, so a second start (another tab, a link, a cross-site form) would make the first
//! tab's callback fail. So:
//! - a cross-site `POST` (`Sec-Fetch-Site: cross-site`; the `Lax` cookie is not even sent with
//!   it, so the server cannot see what it would replace) starts nothing and is sent to the
//!   landing page, where the admin starts with a click;
//! - a start from a browser that already holds a valid, unexpired pending consent is answered
//!   with a page that says so and offers "Start over" (a same-site form with `restart=1`; the
//!   landing page's button carries it too when a consent is open).

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use common::config::SignInFlow;
use common::entra::AuthorizeOptions;
use serde::Deserialize;

use crate::pages::{self, InProgress, minutes_ago};
use crate::session::{PendingConsent, cookie_name};
use crate::startup::{AppState, unix_now};

/// The form of `POST /start`.
#[derive(Debug, Default, Deserialize)]
struct StartForm {
    /// `1`: replace a consent in progress in this browser.
    #[serde(default)]
    restart: Option<String>,
}

/// The consent in progress in the browser of `req`, if its cookie is valid and unexpired.
pub fn in_progress(req: &HttpRequest, app: &AppState) -> Option<PendingConsent> {
    let cookie = req.cookie(cookie_name(app.secure_cookies))?;
    PendingConsent::from_cookie(Some(cookie), &app.cookie_key, unix_now()).ok()
}

/// `POST /start`
///
/// The redirect target is built only from configuration (authority host, tenant, client ID,
/// redirect URL): nothing from the request reaches it, so there is no open redirect.
pub async fn start(req: HttpRequest, body: web::Bytes, app: web::Data<AppState>) -> HttpResponse {
    let cross_site = req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site && req.method() == actix_web::http::Method::POST {
        tracing::info!("a cross-site POST /start was sent to the landing page");
        return HttpResponse::SeeOther()
            .insert_header((LOCATION, "/"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish();
    }
    let form: StartForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let restart = form.restart.as_deref() == Some("1");
    if !restart && let Some(open) = in_progress(&req, &app) {
        let page = InProgress {
            app_name: &app.settings.app.display_name,
            started: minutes_ago(unix_now() - open.issued_at),
        };
        return pages::html(StatusCode::OK, &page);
    }
    let s = &app.settings;
    let pending = app.broker.consent_url(AuthorizeOptions {
        response_mode: app.response_mode.clone(),
        hybrid: s.consent.flow_for(s.entra.endpoint_version) == SignInFlow::Hybrid,
        ..AuthorizeOptions::default()
    });
    let cookie = PendingConsent::from_authorization(&pending, unix_now())
        .to_cookie(&app.cookie_key, app.secure_cookies);
    app.metrics.started();
    tracing::info!(
        authority = %app.settings.cloud.authority_host,
        tenant = %app.settings.entra.authority_tenant,
        "consent started: redirecting to Entra ID"
    );
    HttpResponse::SeeOther()
        .insert_header((LOCATION, pending.url.as_str()))
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish()
}
