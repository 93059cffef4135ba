//! Security headers on every response, and the access log line (path only: the query string of
//! the callback carries the authorization code, so it is never logged).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::startup::AppState;

/// Adds the headers and logs the request.
///
/// - `Content-Security-Policy`: no inline script or style, assets only from this origin, forms
///   only to this origin and the authority (the `/start` redirect is checked against
///   `form-action`), `frame-ancestors 'none'` (clickjacking).
/// - `Strict-Transport-Security` only when served over HTTPS (RFC 6797 §7.2: not over HTTP).
/// - `Referrer-Policy: no-referrer`: the callback URL holds the code; it must not leak onward.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let (csp, hsts) = match req.app_data::<web::Data<AppState>>() {
        Some(app) => (app.csp.clone(), app.secure_cookies),
        None => (HeaderValue::from_static("default-src 'none'"), false),
    };
    let method = req.method().clone();
    let path = req.path().to_owned();
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    h.insert(HeaderName::from_static("content-security-policy"), csp);
    for (name, value) in [
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
    if hsts {
        h.insert(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !h.contains_key(actix_web::http::header::CACHE_CONTROL) {
        h.insert(
            actix_web::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    let status = res.status().as_u16();
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        http.method = %method,
        http.path = %path,
        http.status = status,
        duration_ms,
        "request"
    );
    Ok(res)
}

/// The policy for an authority origin such as `https://login.microsoftonline.com`.
pub fn content_security_policy(authority_origin: &str) -> HeaderValue {
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self' {authority_origin}; frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}
