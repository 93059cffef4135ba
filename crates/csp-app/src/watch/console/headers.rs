//! Security headers on every response of the watch (pages, `/metrics`, `/healthz`), as
//! partner-consent's, and the console's stylesheet, compiled into the binary (no CDN).
//!
//! - `Content-Security-Policy`: nothing but this origin's stylesheet and images; no script at
//!   all (the pages work without JavaScript), no inline style (the SVG uses attributes and
//!   classes), forms only to this origin, `frame-ancestors 'none'`.
//! - `Strict-Transport-Security` when the console is served over HTTPS (its redirect URL).
//! - `Cache-Control: no-store` unless a handler set one (pages hold tenant data).

use actix_web::HttpResponse;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use super::ConsoleData;

/// The console's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("../../../assets/console.css");

/// Adds the headers.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let https = req
        .app_data::<web::Data<ConsoleData>>()
        .and_then(|d| d.console.as_ref().map(|c| c.settings.secure()))
        .unwrap_or(false);
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
    ] {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if https {
        h.insert(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// `GET /assets/console.css`
pub async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLE)
}
