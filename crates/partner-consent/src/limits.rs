//! Per-client-IP rate limits on the endpoints that cost outbound calls (`/start` signs nothing
//! but sets a cookie and is the door to the callback; the callback redeems a code, which costs
//! a signed assertion and a token request). A GCRA limiter (`governor`) keyed by the peer IP
//! address; over the limit a client gets a 429 page with `Retry-After`.
//!
//! The key is the client's address: the TCP peer, or behind reverse proxies the configuration
//! trusts (`consent.trusted_proxies`, `consent.trusted_proxy_hops`) the address they forwarded
//! ([`crate::client_ip`]). By default no forwarding header is trusted: a client could otherwise
//! pick its own key, and behind a proxy every client then shares the proxy's budget.
//!
//! The callback of a consent this service started is never refused: a request that carries a
//! valid, unexpired consent cookie passes once per started consent (the authorization code it
//! brings is single-use; a 429 would waste the admin's sign-in), and a cross-site `form_post`
//! return without the cookie passes too, because its only answer is the same-site re-post page
//! (nothing is decrypted or redeemed). Everything else, replays of a consent's cookie included,
//! counts against the client's budget; the number of exempt callbacks is bounded by `/start`'s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::middleware::Next;
use actix_web::web;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::client_ip::TrustedProxies;
use crate::pages::{self, FailurePage};
use crate::session::{PENDING_LIFETIME, PendingConsent, cookie_name};
use crate::startup::{AppState, unix_now};

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
    /// Whose forwarding headers name the client.
    proxies: TrustedProxies,
    clock: DefaultClock,
    /// Consents whose callback was let through, by their `state` (public: it travels in the
    /// authorize URL), with the Unix time after which the cookie is expired anyway.
    callbacks_passed: Mutex<HashMap<String, i64>>,
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
            proxies: TrustedProxies::default(),
            callbacks_passed: Mutex::new(HashMap::new()),
        }
    }

    /// The same limiter, believing the forwarding headers of `proxies`.
    #[must_use]
    pub fn with_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// The client a request from `peer` with `headers` counts against.
    pub fn client(&self, peer: IpAddr, headers: &actix_web::http::header::HeaderMap) -> IpAddr {
        self.proxies.client(peer, headers)
    }

    /// Whether the callback of `pending` may pass without counting: true the first time only.
    pub fn first_callback_of(&self, pending: &PendingConsent, now: i64) -> bool {
        let lifetime = i64::try_from(PENDING_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        let mut passed = self
            .callbacks_passed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if passed.len() > PRUNE_ABOVE {
            passed.retain(|_, until| *until >= now);
        }
        passed
            .insert(
                pending.state.clone(),
                pending.issued_at.saturating_add(lifetime),
            )
            .is_none()
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

/// Middleware for the callback: [`per_client`], except for the callback of a consent started
/// here (see the module's documentation).
pub async fn callback(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(app) = req.app_data::<web::Data<AppState>>().cloned() {
        let cookie = req.cookie(cookie_name(app.secure_cookies));
        let exempt = match cookie {
            // The cross-site `form_post` return: answered with the re-post page only.
            None => req.method() == actix_web::http::Method::POST,
            Some(cookie) => {
                let now = unix_now();
                PendingConsent::from_cookie(Some(cookie), &app.cookie_key, now)
                    .is_ok_and(|pending| app.limiter.first_callback_of(&pending, now))
            }
        };
        if exempt {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body);
        }
    }
    per_client(req, next).await
}

/// Middleware for the limited routes.
pub async fn per_client(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let app = req.app_data::<web::Data<AppState>>().cloned();
    if let (Some(app), Some(peer)) = (app, req.peer_addr())
        && let client = app.limiter.client(peer.ip(), req.headers())
        && let Err(wait) = app.limiter.check(client)
    {
        app.metrics.failed("rate_limited");
        tracing::info!(
            client.ip = %client,
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
