//! What the authorize pages share: the pending request (flow) kept server-side, the SSO
//! cookie's name, Entra's error page, and the answer to the redirect URI (query, fragment or
//! form post).

use crate::entra::error::AadError;
use crate::model::sessions::Flow;
use crate::model::state::State;
use crate::pages;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;

pub(crate) const SSO_COOKIE: &str = "ESTSAUTH";

/// The error page Entra shows instead of redirecting (unknown client, bad redirect URI…).
pub(crate) fn error_page(e: &AadError) -> HttpResponse {
    tracing::info!(aadsts = e.code, "authorize error page");
    pages::sign_in(
        StatusCode::BAD_REQUEST,
        &pages::SignInError {
            code: e.code,
            message: &e.message,
            error: e.error,
        },
    )
}

pub(crate) fn store_flow(state: &State, id: &str, flow: Flow) {
    let mut flows = state
        .flows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = state.now();
    flows.retain(|_, f| now - f.created < 3600);
    flows.insert(id.to_string(), flow);
}

pub(crate) fn take_flow(state: &State, id: &str) -> Option<Flow> {
    state
        .flows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(id)
        .cloned()
}

pub(crate) fn expired_flow() -> HttpResponse {
    error_page(&AadError::invalid_request(
        90100,
        "The sign-in request is unknown or has expired. Go back to the application and sign in again.",
    ))
}

pub(crate) fn redirect_error(flow: &Flow, error: &str, code: u32, message: &str) -> HttpResponse {
    let e = AadError::new(StatusCode::BAD_REQUEST, "x", code, message);
    let body = e.body();
    let description = body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut params = vec![
        ("error".to_string(), error.to_string()),
        ("error_description".to_string(), description),
    ];
    if let Some(s) = &flow.state {
        params.push(("state".into(), s.clone()));
    }
    tracing::info!(error, aadsts = code, "authorize redirect with error");
    respond(flow, &params)
}

pub(crate) fn respond(flow: &Flow, params: &[(String, String)]) -> HttpResponse {
    let encoded = serde_urlencoded::to_string(params).unwrap_or_default();
    match flow.response_mode.as_str() {
        "form_post" => pages::render(
            StatusCode::OK,
            &pages::FormPost {
                action: &flow.redirect_uri,
                fields: params,
            },
        ),
        mode => {
            let sep = if mode == "fragment" {
                '#'
            } else if flow.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            HttpResponse::Found()
                .insert_header(("location", format!("{}{sep}{encoded}", flow.redirect_uri)))
                .insert_header(("cache-control", "no-store"))
                .finish()
        }
    }
}
