//! `/healthz` (the process answers), `/readyz` (the token store and the Entra authority are
//! reachable) and `/metrics` (Prometheus text).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use common::cloud::join;
use common::config::EndpointVersion;
use tokio::sync::Mutex;

use crate::startup::AppState;

/// A tenant ID no store holds: reading it proves the store answers without touching a real grant.
const PROBE_TENANT: &str = "00000000-0000-0000-0000-000000000000";

/// `GET /healthz`
pub async fn healthz() -> HttpResponse {
    text(HttpResponse::Ok(), "ok\n".to_owned())
}

/// The last readiness probe, reused for an interval: anonymous `/readyz` requests never cost
/// more than one store read and one metadata fetch per interval, however many arrive (the
/// probe runs under the lock, so concurrent requests wait for one probe instead of each
/// starting their own).
#[derive(Debug)]
pub struct Readiness {
    interval: Duration,
    last: Mutex<Option<(Instant, bool)>>,
    probes: AtomicU64,
}

impl Readiness {
    /// A cache keeping each answer for `interval` (zero: probe every time).
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
            probes: AtomicU64::new(0),
        }
    }

    /// Probes run so far (each reads the store once).
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::Relaxed)
    }
}

/// `GET /readyz`: `200 ready` or `503 not ready`, nothing more: what is unreachable (vault
/// name, paths, error text) goes to the log only. Cached for [`Readiness`]'s interval.
pub async fn readyz(app: web::Data<AppState>) -> HttpResponse {
    let mut last = app.readiness.last.lock().await;
    let ready = match *last {
        Some((at, ready)) if at.elapsed() < app.readiness.interval => ready,
        _ => {
            app.readiness.probes.fetch_add(1, Ordering::Relaxed);
            let ready = probe(&app).await;
            *last = Some((Instant::now(), ready));
            ready
        }
    };
    drop(last);
    if ready {
        text(HttpResponse::Ok(), "ready\n".to_owned())
    } else {
        text(HttpResponse::ServiceUnavailable(), "not ready\n".to_owned())
    }
}

/// Reads the store and fetches the authority's metadata; logs what fails.
async fn probe(app: &AppState) -> bool {
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
    if !problems.is_empty() {
        tracing::warn!(problems = ?problems, "not ready");
    }
    problems.is_empty()
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
