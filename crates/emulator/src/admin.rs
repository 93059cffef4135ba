//! Admin API under `/_admin/` (the same controls are typed on [`crate::EmulatorHandle`]):
//! clock, session revocation, faults, counters, MFA codes, delegated access.

use crate::faults::Fault;
use crate::model::state::State;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

fn not_found(what: &str) -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not_found", "message": what}))
}

#[derive(Debug, Deserialize)]
struct Advance {
    seconds: u64,
}

async fn get_clock(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({"now": state.now(), "offset_seconds": state.clock_offset().as_secs()}))
}

async fn advance_clock(state: web::Data<State>, body: web::Json<Advance>) -> HttpResponse {
    state.advance_clock(Duration::from_secs(body.seconds));
    tracing::info!(seconds = body.seconds, "clock advanced");
    get_clock(state).await
}

async fn revoke(state: web::Data<State>, user: web::Path<String>) -> HttpResponse {
    if state.revoke_user_sessions(&user) {
        tracing::info!(user = %user, "user sessions revoked");
        HttpResponse::NoContent().finish()
    } else {
        not_found("no such user")
    }
}

async fn mfa_code(state: web::Data<State>, user: web::Path<String>) -> HttpResponse {
    match state.directory().user(&user) {
        Some(u) => HttpResponse::Ok().json(json!({"upn": u.upn, "mfa_code": u.mfa_code})),
        None => not_found("no such user"),
    }
}

async fn list_faults(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(state.faults.list())
}

async fn add_fault(state: web::Data<State>, body: web::Json<Fault>) -> HttpResponse {
    tracing::info!(fault = ?body.0, "fault injected");
    state.faults.inject(body.into_inner());
    HttpResponse::Created().json(state.faults.list())
}

async fn clear_faults(state: web::Data<State>) -> HttpResponse {
    state.faults.clear();
    HttpResponse::NoContent().finish()
}

async fn counters(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(state.counters())
}

async fn reset_counters(state: web::Data<State>) -> HttpResponse {
    state.reset_counters();
    HttpResponse::NoContent().finish()
}

#[derive(Debug, Deserialize)]
struct Access {
    partner: String,
    allowed: bool,
}

async fn delegated_access(
    state: web::Data<State>,
    customer: web::Path<String>,
    body: web::Json<Access>,
) -> HttpResponse {
    if state.set_delegated_access(&customer, &body.partner, body.allowed) {
        HttpResponse::NoContent().finish()
    } else {
        not_found("no such customer tenant")
    }
}

/// Admin routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_admin")
            .app_data(
                web::JsonConfig::default()
                    .limit(16 * 1024)
                    .error_handler(|err, _| {
                        let body = json!({"error": "bad_request", "message": err.to_string()});
                        actix_web::error::InternalError::from_response(
                            err,
                            HttpResponse::BadRequest().json(body),
                        )
                        .into()
                    }),
            )
            .route("/clock", web::get().to(get_clock))
            .route("/clock/advance", web::post().to(advance_clock))
            .route("/users/{user}/revoke-sessions", web::post().to(revoke))
            .route("/users/{user}/mfa-code", web::get().to(mfa_code))
            .route("/faults", web::get().to(list_faults))
            .route("/faults", web::post().to(add_fault))
            .route("/faults", web::delete().to(clear_faults))
            .route("/counters", web::get().to(counters))
            .route("/counters", web::delete().to(reset_counters))
            .route(
                "/tenants/{customer}/delegated-access",
                web::put().to(delegated_access),
            ),
    );
}
