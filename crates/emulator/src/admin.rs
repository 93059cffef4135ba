//! Admin API under `/_admin/` (the same controls are typed on [`crate::EmulatorHandle`]):
//! clock, session revocation, faults, counters, MFA codes, delegated access.
//!
//! **Loopback peers only.** The admin API hands out MFA codes and revokes sessions, so
//! [`loopback_only`] refuses (403) every `/_admin` request whose peer is not a loopback address
//! (`127.0.0.0/8`, `::1`, or an IPv4-mapped loopback), whatever `--bind` says. In-process tests
//! and local scripts reach it as before; another machine, or the host behind a container's
//! published port, does not. `Emulator::start` warns loudly when it binds a non-loopback address.

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

/// Whether `path` is under `/_admin` (its own routes and Graph's `/_admin/gdap/…`).
fn is_admin_path(path: &str) -> bool {
    path == "/_admin" || path.starts_with("/_admin/")
}

/// Whether a peer may use the admin API: a loopback address only.
pub fn admin_peer_allowed(peer: Option<std::net::SocketAddr>) -> bool {
    peer.is_some_and(|p| p.ip().to_canonical().is_loopback())
}

/// Refuses `/_admin` requests from any peer but a loopback address (403, JSON).
pub async fn loopback_only(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if !is_admin_path(req.path()) || admin_peer_allowed(req.peer_addr()) {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
    tracing::warn!(
        peer = ?req.peer_addr(),
        path = req.path(),
        "refused an admin request from a non-loopback peer"
    );
    let body = json!({
        "error": "forbidden",
        "message": "the emulator's admin API answers loopback peers only",
    });
    Ok(req.into_response(HttpResponse::Forbidden().json(body)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test;

    #[actix_web::test]
    async fn only_loopback_peers_reach_the_admin_api() {
        let app = test::init_service(
            actix_web::App::new()
                .wrap(actix_web::middleware::from_fn(loopback_only))
                .route("/_admin/counters", web::get().to(HttpResponse::Ok))
                .route("/_admin/gdap/x", web::post().to(HttpResponse::Ok))
                .route("/_adminx", web::get().to(HttpResponse::Ok))
                .route("/t/oauth2/v2.0/token", web::post().to(HttpResponse::Ok)),
        )
        .await;
        let call = |method: actix_web::http::Method, path: &str, peer: &str| {
            test::TestRequest::default()
                .method(method)
                .uri(path)
                .peer_addr(peer.parse().unwrap())
                .to_request()
        };
        use actix_web::http::Method;
        for peer in [
            "127.0.0.1:5000",
            "127.8.9.1:5000",
            "[::1]:5000",
            "[::ffff:127.0.0.1]:5000",
        ] {
            let r = test::call_service(&app, call(Method::GET, "/_admin/counters", peer)).await;
            assert_eq!(r.status(), 200, "{peer}");
        }
        for peer in [
            "10.0.0.2:5000",
            "172.17.0.1:5000",
            "[fe80::1]:5000",
            "[::ffff:10.0.0.2]:5000",
        ] {
            for (method, path) in [
                (Method::GET, "/_admin/counters"),
                (Method::POST, "/_admin/gdap/x"),
            ] {
                let r = test::call_service(&app, call(method, path, peer)).await;
                assert_eq!(r.status(), 403, "{peer} {path}");
            }
            // Only the admin API is loopback-only.
            let r =
                test::call_service(&app, call(Method::POST, "/t/oauth2/v2.0/token", peer)).await;
            assert_eq!(r.status(), 200, "{peer}");
            let r = test::call_service(&app, call(Method::GET, "/_adminx", peer)).await;
            assert_eq!(r.status(), 200, "{peer}");
        }
        // No peer address known: refused.
        let r = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/_admin/counters")
                .to_request(),
        )
        .await;
        assert_eq!(r.status(), 403);
    }
}
