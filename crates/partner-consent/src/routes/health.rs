//! `/healthz` (the process answers), `/readyz` (the token store and the Entra authority are
//! reachable) and `/metrics` (Prometheus text).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use common::cloud::join;
use common::config::EndpointVersion;

use crate::startup::AppState;

/// A tenant ID no store holds: reading it proves the store answers without touching a real grant.
const PROBE_TENANT: &str = "00000000-0000-0000-0000-000000000000";

/// `GET /healthz`
pub async fn healthz() -> HttpResponse {
    text(HttpResponse::Ok(), "ok\n".to_owned())
}

/// `GET /readyz`: `200 ready` or `503` naming what is unreachable.
pub async fn readyz(app: web::Data<AppState>) -> HttpResponse {
    let s = &app.settings;
    let path = match s.entra.endpoint_version {
        EndpointVersion::V1 => format!(
            "{}/.well-known/openid-configuration",
            s.entra.authority_tenant
        ),
        EndpointVersion::V2 => format!(
            "{}/v2.0/.well-known/openid-configuration",
            s.entra.authority_tenant
        ),
    };
    let discovery = join(&s.cloud.authority_host, &path);
    let (store, authority) = futures::join!(app.store.get(PROBE_TENANT), async {
        app.http
            .get(discovery.clone())
            .send()
            .await
            .map(|r| r.status())
    });
    let mut problems = Vec::new();
    if let Err(e) = store {
        problems.push(format!("token store ({}): {e}", app.store.location()));
    }
    match authority {
        Ok(st) if st.is_success() => {}
        Ok(st) => problems.push(format!("Entra authority {discovery}: HTTP {}", st.as_u16())),
        Err(e) => problems.push(format!("Entra authority {discovery}: {e}")),
    }
    if problems.is_empty() {
        text(HttpResponse::Ok(), "ready\n".to_owned())
    } else {
        tracing::warn!(problems = ?problems, "not ready");
        text(
            HttpResponse::ServiceUnavailable(),
            format!("not ready\n{}\n", problems.join("\n")),
        )
    }
}

/// `GET /metrics`
pub async fn metrics(app: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(app.metrics.render())
}

fn text(mut builder: actix_web::HttpResponseBuilder, body: String) -> HttpResponse {
    builder
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body)
}
