//! `POST /{tenant}/oauth2/token` and `POST /{tenant}/oauth2/v2.0/token`: authorization code,
//! refresh token, client credentials and device code grants; client authentication by secret
//! (post and basic) or certificate assertion (docs/microsoft-behaviour.md §1.2, §2.2, §2.3).
//!
//! [`request`] reads the form and resolves the authority, [`client_auth`] authenticates the
//! client, then one file per grant answers: [`client_credentials`], [`code`], [`refresh`]
//! (and `super::device_code`); [`target`] and [`user`] hold what the grants share.

pub mod client_auth;
pub mod client_credentials;
pub mod code;
pub mod refresh;
pub mod request;
pub mod target;
pub mod user;

pub use refresh::new_refresh_token;
pub use request::{Form, MAX_FORM_BYTES, read_form, resolve_authority};
pub use target::resolve_target;

use crate::entra::error::AadError;
use crate::entra::issue::{TokenResponse, Version};
use crate::model::sessions::Authority;
use crate::model::state::State;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use client_auth::{authenticate_client, basic_credentials};
use request::Grant;

/// `POST /{tenant}/oauth2/token`
pub async fn token_v1(
    state: web::Data<State>,
    req: HttpRequest,
    tenant: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    token(state, &req, &tenant, body, Version::V1).await
}

/// `POST /{tenant}/oauth2/v2.0/token`
pub async fn token_v2(
    state: web::Data<State>,
    req: HttpRequest,
    tenant: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    token(state, &req, &tenant, body, Version::V2).await
}

async fn token(
    state: web::Data<State>,
    req: &HttpRequest,
    tenant: &str,
    body: web::Payload,
    version: Version,
) -> HttpResponse {
    state.count("entra.token");
    // Consents and app-role assignments due on the clock are visible to this token request
    // (docs/microsoft-behaviour.md §6.6).
    state.replicate();
    let correlation = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| uuid::Uuid::parse_str(v).is_ok())
        .map(str::to_string);
    let result = match read_form(body).await {
        Ok(form) => {
            let grant = form.get("grant_type").cloned().unwrap_or_default();
            state.count(&format!(
                "entra.token.{}",
                if grant.is_empty() {
                    "missing"
                } else {
                    grant.as_str()
                }
            ));
            // Issuing signs a token (RSA): on the blocking pool, so the connection's worker
            // goes on serving the other requests multiplexed on it (a client's HTTP/2
            // connection is served by one worker) rather than queueing them behind each signature.
            let basic = basic_credentials(req);
            let (state, tenant) = (state.clone(), tenant.to_owned());
            web::block(move || handle(&state, basic, &tenant, &form, version))
                .await
                .unwrap_or_else(|_| {
                    Err(AadError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        50000,
                        "The token could not be issued: the server is shutting down.",
                    ))
                })
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => r.into_response(version),
        Err(e) => {
            tracing::info!(error = %e.error, aadsts = e.code, tenant, "token request refused");
            e.with_correlation(correlation).response()
        }
    }
}

fn handle(
    state: &State,
    basic: Option<(String, String)>,
    tenant_seg: &str,
    form: &Form,
    version: Version,
) -> Result<TokenResponse, AadError> {
    let authority = resolve_authority(state, tenant_seg)?;
    let grant = form
        .get("grant_type")
        .map(String::as_str)
        .ok_or_else(|| AadError::missing("grant_type"))?;
    if !matches!(
        grant,
        "authorization_code"
            | "refresh_token"
            | "client_credentials"
            | super::device_code::GRANT_TYPE
    ) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let client_id = form
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| AadError::missing("client_id"))?;
    let directory_name = match &authority {
        Authority::Tenant(t) => t.domain.clone(),
        Authority::Common => tenant_seg.to_string(),
    };
    let app = state
        .directory()
        .app(&client_id)
        .cloned()
        .ok_or_else(|| AadError::app_not_found(&client_id, &directory_name))?;
    if let Authority::Tenant(t) = &authority
        && t.id != app.seed.tenant
        && !app.seed.multitenant
    {
        return Err(AadError::app_not_found(&client_id, &t.domain));
    }
    let appidacr = authenticate_client(
        state,
        &app,
        form,
        basic.as_ref().map(|(_, s)| s.as_str()),
        tenant_seg,
        &authority,
    )?;
    let g = Grant {
        state,
        app: &app,
        appidacr,
        authority: &authority,
        tenant_seg,
        form,
        version,
    };
    match grant {
        "client_credentials" => client_credentials::client_credentials(&g),
        "authorization_code" => code::authorization_code(&g),
        super::device_code::GRANT_TYPE => super::device_code::redeem(&g),
        _ => refresh::refresh_token(&g),
    }
}
