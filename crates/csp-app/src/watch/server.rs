//! The watch's HTTP endpoints: `/metrics` (Prometheus text) and `/healthz` (200 once a cycle
//! completed, 503 before). Anything else is 404.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;

use super::Shared;

async fn metrics(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(shared.render_metrics())
}

async fn healthz(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    match shared.last_cycle() {
        Some(t) => HttpResponse::Ok().json(json!({
            "status": "ok",
            "lastCycle": cli_kit::output::rfc3339(t),
        })),
        None => HttpResponse::ServiceUnavailable().json(json!({
            "status": "starting",
            "lastCycle": null,
        })),
    }
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("not found: the watch serves /metrics and /healthz\n")
}

/// Serves the endpoints on `listener`; returns the bound address and the server (spawn or
/// await it; dropping its handle does not stop it).
pub fn start(
    listener: TcpListener,
    shared: Arc<Shared>,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let addr = listener.local_addr()?;
    let data = web::Data::new(shared);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(metrics))
            .route("/healthz", web::get().to(healthz))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((addr, server))
}
