//! `POST /start` (and `GET /start`): redirect to Entra ID's authorize endpoint with `state`,
//! `nonce` and PKCE S256, and set the encrypted pending-consent cookie.

use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpResponse, web};
use common::entra::AuthorizeOptions;

use crate::session::PendingConsent;
use crate::startup::{AppState, unix_now};

/// `POST /start`
///
/// The redirect target is built only from configuration (authority host, tenant, client ID,
/// redirect URL): nothing from the request reaches it, so there is no open redirect.
pub async fn start(app: web::Data<AppState>) -> HttpResponse {
    let pending = app.broker.consent_url(AuthorizeOptions {
        response_mode: app.response_mode.clone(),
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
