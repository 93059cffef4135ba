//! The watch's HTTP endpoints: `/metrics` (Prometheus text), `/healthz`, and the operator
//! console's pages ([`super::console`]: `/` and the pages it links, `/auth/…`, `/assets/…`).
//! Anything else is 404. [`routes`] is the one place they are declared. Every response gets
//! the console's security headers ([`super::console::headers`]).
//!
//! `/healthz` answers:
//! - 503 `{"status":"starting","lastCycle":null}` until the first cycle completed;
//! - 200 `{"status":"ok","lastCycle":"<RFC 3339>"}` after it;
//! - 200 `{"status":"degraded","lastCycle":…,"stateFile":"cannot be written: <why>"}` while
//!   the state file cannot be written. Still 200: the watch works (checks, metrics, alerts
//!   deduplicated in memory) and a probe restarting it would lose that memory and notify every
//!   open finding again; alert on `sam_watch_state_write_failing` instead.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;

use super::Shared;
use super::console::{self, Console, ConsoleData};

async fn metrics(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(shared.render_metrics())
}

async fn healthz(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    match (shared.last_cycle(), shared.state_write_error()) {
        (Some(t), None) => HttpResponse::Ok().json(json!({
            "status": "ok",
            "lastCycle": cli_kit::output::rfc3339(t),
        })),
        (Some(t), Some(why)) => HttpResponse::Ok().json(json!({
            "status": "degraded",
            "lastCycle": cli_kit::output::rfc3339(t),
            "stateFile": format!("cannot be written: {why}"),
        })),
        (None, _) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "starting",
            "lastCycle": null,
        })),
    }
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("not found: the watch serves /metrics, /healthz and its console at /\n")
}

/// The watch's routes, for its [`App`].
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/metrics", web::get().to(metrics))
        .route("/healthz", web::get().to(healthz))
        .configure(console::routes)
        .default_service(web::to(not_found));
}

/// Serves the endpoints on `listener`, without the console (its `/` says how to turn it on);
/// returns the bound address and the server (spawn or await it; dropping its handle does not
/// stop it).
pub fn start(
    listener: TcpListener,
    shared: Arc<Shared>,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    start_with_console(listener, shared, None)
}

/// [`start`], with the console when it is configured.
pub fn start_with_console(
    listener: TcpListener,
    shared: Arc<Shared>,
    console: Option<Arc<Console>>,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let addr = listener.local_addr()?;
    let console = web::Data::new(ConsoleData {
        console,
        shared: shared.clone(),
    });
    let data = web::Data::new(shared);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(console.clone())
            .wrap(from_fn(console::headers::headers))
            .configure(routes)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((addr, server))
}
