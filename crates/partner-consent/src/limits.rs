//! Per-client-IP rate limits on the endpoints that cost outbound calls (`/start` signs nothing
//! but sets a cookie and is the door to the callback; the callback redeems a code, which costs
//! a signed assertion and a token request). A GCRA limiter (`governor`) keyed by the peer IP
//! address; over the limit a client gets a 429 page with `Retry-After`.
//!
//! The key is the TCP peer address: behind a reverse proxy every client shares the proxy's
//! address, so set the limits for that (or rate-limit at the proxy). Forwarded headers are not
//! trusted: a client could otherwise pick its own key.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::middleware::Next;
use actix_web::web;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::pages::{self, FailurePage};
use crate::startup::AppState;

/// Above this many tracked clients, idle ones are forgotten (memory stays bounded).
const PRUNE_ABOVE: usize = 10_000;

/// Requests each client IP may make to `/start` and the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per minute.
    pub per_minute: NonZeroU32,
    /// Requests allowed at once before the sustained rate applies.
    pub burst: NonZeroU32,
}

impl Default for RateLimit {
    /// 30 a minute with bursts of 10: a person retrying a consent never meets it.
    fn default() -> Self {
        Self {
            per_minute: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// The limiter shared by the workers.
pub struct ClientLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl std::fmt::Debug for ClientLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientLimiter")
            .field("clients", &self.limiter.len())
            .finish()
    }
}

impl ClientLimiter {
    /// A limiter applying `limit` to each client IP.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limiter: RateLimiter::keyed(
                Quota::per_minute(limit.per_minute).allow_burst(limit.burst),
            ),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` when `ip` may go on, else how long it must wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.limiter.len() > PRUNE_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Middleware for the limited routes.
pub async fn per_client(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let app = req.app_data::<web::Data<AppState>>().cloned();
    if let (Some(app), Some(peer)) = (app, req.peer_addr())
        && let Err(wait) = app.limiter.check(peer.ip())
    {
        app.metrics.failed("rate_limited");
        tracing::info!(
            client.ip = %peer.ip(),
            http.path = req.path(),
            "rate limit reached"
        );
        let seconds = wait.as_secs().max(1);
        let page = FailurePage {
            app_name: &app.settings.app.display_name,
            title: "Too many attempts",
            what: "This browser (or network) started or finished more sign-ins in a short time than this service allows, so this request was not processed. Nothing was changed.",
            todo: &format!("Wait {seconds} seconds, then go back to the start page and try again."),
            entra: None,
            show_restart: true,
        };
        let mut resp = pages::html(StatusCode::TOO_MANY_REQUESTS, &page);
        if let Ok(v) = seconds.to_string().parse() {
            resp.headers_mut().insert(RETRY_AFTER, v);
        }
        return Ok(req.into_response(resp));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_ip_has_its_own_budget() {
        let limiter = ClientLimiter::new(RateLimit {
            per_minute: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(2).unwrap(),
        });
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(limiter.check(b).is_ok());
    }
}
