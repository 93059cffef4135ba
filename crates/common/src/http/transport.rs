//! What every REST client (Partner Center, Microsoft Graph) sends through: where access tokens
//! come from ([`TokenSource`]), one `Transport` that adds the bearer token, retries throttled and
//! transiently failing calls under the one [`RetryPolicy`], and maps the failures that come without
//! an answer into the client's error type (`ServiceError`); and counters a caller can read
//! ([`CallCounts`]).
//!
//! Throttling follows "Partner Center API throttling guidance" (develop/api-throttling-guidance.md)
//! and Microsoft Graph "Throttling" (concepts/throttling.md): 429, 500, 502, 503 and 504 are
//! retried, waiting what `Retry-After` asks or backing off exponentially with jitter, within the
//! policy's caps (see [`super::retry`]). The clients only describe their APIs: paths, headers of
//! their own (`MS-RequestId`, `client-request-id`), bodies and error shapes.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use url::Url;

use super::retry::RetryPolicy;
use crate::cloud::Resource;
use crate::remedy::Remedy;
use crate::secret::{AccessToken, ExposeSecret as _};

/// Whose authority issues a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tenant<'a> {
    /// The partner's own tenant (Partner Center, partner-side Graph such as GDAP relationships).
    Partner,
    /// A customer tenant, reached through GDAP: the partner's refresh token redeemed at the
    /// customer's authority.
    Customer(&'a str),
}

impl fmt::Display for Tenant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Partner => f.write_str("partner"),
            Self::Customer(id) => f.write_str(id),
        }
    }
}

/// What [`TokenSource::token`] returns.
pub type TokenFuture<'a> = BoxFuture<'a, Result<AccessToken, TokenSourceError>>;

/// Where the clients get bearer tokens. A client receives one and knows nothing else of it: in
/// production it is the token broker (the partner's refresh token redeemed at the partner
/// tenant, or at a customer tenant's authority for GDAP calls), in tests and one-off calls a
/// [`StaticToken`].
pub trait TokenSource: Send + Sync {
    /// A valid access token for `resource`, issued by `tenant`'s authority.
    fn token<'a>(&'a self, tenant: Tenant<'a>, resource: Resource) -> TokenFuture<'a>;
}

/// Why a [`TokenSource`] could not produce a token.
#[derive(Clone, Debug)]
pub struct TokenSourceError {
    /// What to do about it.
    pub remedy: Remedy,
    /// The failure, already readable (e.g. Entra's `error: description (trace ID …)`).
    pub message: String,
    /// Where to consent again, when the remedy is [`Remedy::Reconsent`] or [`Remedy::Mfa`].
    pub consent_url: Option<String>,
}

impl TokenSourceError {
    /// A token this source cannot give at all (wrong tenant or resource for it): nothing a
    /// person can change at run time, no consent link.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            remedy: Remedy::None,
            message: message.into(),
            consent_url: None,
        }
    }
}

impl fmt::Display for TokenSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(url) = self
            .consent_url
            .as_ref()
            .filter(|u| !self.message.contains(u.as_str()))
        {
            write!(f, " — consent again at {url}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TokenSourceError {}

/// Counters of one client (shared by its clones): what a benchmark or a summary reports.
#[derive(Debug, Default)]
pub(crate) struct CallStats {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    waited_ms: AtomicU64,
}

/// A snapshot of the client's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallCounts {
    /// HTTP requests sent (every attempt counts).
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Answers that were 429 Too Many Requests.
    pub throttled: u64,
    /// Total time spent waiting before retries, in milliseconds.
    pub waited_ms: u64,
}

impl CallStats {
    /// The current counts.
    pub(crate) fn snapshot(&self) -> CallCounts {
        CallCounts {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            waited_ms: self.waited_ms.load(Ordering::Relaxed),
        }
    }
}

/// Why a call got no answer the client can interpret.
#[derive(Debug)]
enum SendError {
    /// No token.
    Token(TokenSourceError),
    /// Connection, TLS or timeout failure after every retry.
    Transport(reqwest::Error),
    /// Still throttled (or failing with 5xx) after the retries or the wait budget ran out.
    GaveUp {
        /// The last status.
        status: StatusCode,
        /// The last response's headers.
        headers: HeaderMap,
        /// The last response's body.
        body: Vec<u8>,
        /// How many attempts were made.
        attempts: usize,
    },
}

/// The error type of a client over the [`Transport`]: how the failures that come without an
/// answer to interpret map into it. Answers (any status) are the client's to interpret.
/// No access token (`From<TokenSourceError>`), or the service could not be reached after every
/// retry (`From<reqwest::Error>`), are the API's own error variants.
pub(crate) trait ServiceError:
    Sized + From<TokenSourceError> + From<reqwest::Error>
{
    /// Still throttled (429) or failing (5xx) after every retry allowed: the last status, how many
    /// attempts were made, the last `Retry-After`, and the last body (to read a message from).
    fn gave_up(status: u16, attempts: usize, retry_after: Option<Duration>, body: &[u8]) -> Self;
}

impl SendError {
    fn into_service_error<E: ServiceError>(self) -> E {
        match self {
            Self::Token(e) => E::from(e),
            Self::Transport(e) => E::from(e),
            Self::GaveUp {
                status,
                headers,
                body,
                attempts,
            } => E::gave_up(
                status.as_u16(),
                attempts,
                super::retry_after(&headers),
                &body,
            ),
        }
    }
}

/// A complete answer, whatever its status.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The request ID the answered attempt carried (see [`Transport::call`]).
    pub request_id: uuid::Uuid,
    /// From the first attempt to the answer, retries included.
    pub elapsed: Duration,
}

impl Response {
    /// [`Response::elapsed`] in whole milliseconds, for the `duration_ms` log field.
    pub fn duration_ms(&self) -> u64 {
        u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Whether a status is worth retrying: 429, 500, 502, 503, 504.
fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// Options of one API's [`ApiClient`]: which resource its tokens are for, and its retries.
pub trait ApiOptions: fmt::Debug + Send + Sync + 'static {
    /// The resource the client's tokens are for.
    const RESOURCE: Resource;
    /// The client's name in `Debug` output.
    const NAME: &'static str;
    /// Retries and throttling.
    fn retry(&self) -> &RetryPolicy;
}

/// A client of one API (Graph, Partner Center): its `Transport` and its options, shared by its
/// clones, so a clone is cheap and counts into the same [`CallCounts`]. What the API offers is
/// in the inherent methods each API module adds (`GraphClient`, `PartnerCenterClient`).
pub struct ApiClient<O> {
    pub(crate) inner: Arc<ApiInner<O>>,
}

/// What the clones of an [`ApiClient`] share.
pub(crate) struct ApiInner<O> {
    pub(crate) transport: Transport,
    pub(crate) options: O,
}

impl<O> Clone for ApiClient<O> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<O: ApiOptions> fmt::Debug for ApiClient<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(O::NAME)
            .field("base", &self.inner.transport.base().as_str())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl<O: ApiOptions> ApiClient<O> {
    /// A client for the API at `base_url` (`CloudEndpoints::base_url` of the API's resource,
    /// e.g. `https://graph.microsoft.com`), sending through the process's `http` client with
    /// tokens from `tokens`.
    pub fn new(
        base_url: Url,
        http: reqwest::Client,
        tokens: SharedTokenSource,
        options: O,
    ) -> Self {
        let transport =
            Transport::new(base_url, O::RESOURCE, http, tokens, options.retry().clone());
        Self {
            inner: Arc::new(ApiInner { transport, options }),
        }
    }

    /// Counters of every call made so far.
    pub fn stats(&self) -> CallCounts {
        self.inner.transport.stats()
    }
}

/// One API's connection: its base URL, the process's HTTP client, the token source, the retry
/// policy and the counters. A client keeps one (shared by its clones) and describes its API on it.
pub(crate) struct Transport {
    base: Url,
    resource: Resource,
    http: reqwest::Client,
    tokens: SharedTokenSource,
    retry: RetryPolicy,
    stats: CallStats,
}

impl Transport {
    /// A transport to the API at `base`, with tokens for `resource` from `tokens`.
    pub(crate) fn new(
        base: Url,
        resource: Resource,
        http: reqwest::Client,
        tokens: SharedTokenSource,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            base,
            resource,
            http,
            tokens,
            retry,
            stats: CallStats::default(),
        }
    }

    /// The API's base URL.
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// Counters of every call made so far.
    pub(crate) fn stats(&self) -> CallCounts {
        self.stats.snapshot()
    }

    /// Resolves a link or a path against the base URL (see [`resolve_link`]); the error says
    /// why a link is not followed.
    pub(crate) fn resolve(&self, api_root: Option<&str>, link: &str) -> Result<Url, String> {
        resolve_link(&self.base, api_root, link)
    }

    /// One call: `method url` with the bearer token of `tenant` and `Accept: application/json`,
    /// plus what `decorate` adds (called again for each attempt, with the attempt's request ID).
    /// 429 and 5xx answers and transport failures are retried under the policy; any other answer
    /// is returned as is, for the client to interpret.
    ///
    /// Request IDs: every attempt gets a new one, except a retry after a timeout, which reuses
    /// the timed-out attempt's ID so the service can recognise a request it may already have
    /// carried out (Partner Center `develop/headers.md`, `MS-RequestId`: "idempotency";
    /// docs/microsoft-behaviour.md §0).
    pub(crate) async fn call<E, F>(
        &self,
        tenant: Tenant<'_>,
        method: &Method,
        url: &Url,
        decorate: F,
    ) -> Result<Response, E>
    where
        E: ServiceError,
        F: Fn(reqwest::RequestBuilder, uuid::Uuid) -> reqwest::RequestBuilder,
    {
        self.call_under(&self.retry, tenant, method, url, decorate)
            .await
    }

    /// One attempt of [`Transport::call`], never retried and never waiting: a 429 or 5xx answer
    /// comes back as the client's [`ServiceError::gave_up`] (with the `Retry-After` asked) and a
    /// transport failure as its transport error, for a caller that schedules its own waits (a
    /// fan-out gives the wait's slot to another tenant) and spends the policy's budget itself
    /// ([`Transport::retry_policy`], [`Transport::record_retry`]).
    pub(crate) async fn call_once<E, F>(
        &self,
        tenant: Tenant<'_>,
        method: &Method,
        url: &Url,
        decorate: F,
    ) -> Result<Response, E>
    where
        E: ServiceError,
        F: Fn(reqwest::RequestBuilder, uuid::Uuid) -> reqwest::RequestBuilder,
    {
        self.call_under(&RetryPolicy::none(), tenant, method, url, decorate)
            .await
    }

    /// The access token the calls in `tenant` carry, from the token source (which caches it).
    pub(crate) async fn token(&self, tenant: Tenant<'_>) -> Result<AccessToken, TokenSourceError> {
        self.tokens.token(tenant, self.resource).await
    }

    /// The retry policy of this API's calls.
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Counts a retry whose wait of `delay` the caller schedules itself (see
    /// [`Transport::call_once`]).
    pub(crate) fn record_retry(&self, delay: Duration) {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        self.stats.waited_ms.fetch_add(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    async fn call_under<E, F>(
        &self,
        policy: &RetryPolicy,
        tenant: Tenant<'_>,
        method: &Method,
        url: &Url,
        decorate: F,
    ) -> Result<Response, E>
    where
        E: ServiceError,
        F: Fn(reqwest::RequestBuilder, uuid::Uuid) -> reqwest::RequestBuilder,
    {
        let started = std::time::Instant::now();
        let (status, headers, body, request_id) = self
            .send(policy, tenant, |token, request_id| {
                decorate(
                    self.http
                        .request(method.clone(), url.clone())
                        .bearer_auth(token.expose_secret())
                        .header("Accept", "application/json"),
                    request_id,
                )
            })
            .await
            .map_err(SendError::into_service_error::<E>)?;
        Ok(Response {
            status,
            headers,
            body,
            request_id,
            elapsed: started.elapsed(),
        })
    }

    /// Sends a request built by `build` (called again for each attempt, with a fresh token and
    /// the attempt's request ID), retrying 429 and 5xx answers and transport failures under
    /// `policy`. Returns the answered attempt's request ID with the answer.
    async fn send<F>(
        &self,
        policy: &RetryPolicy,
        tenant: Tenant<'_>,
        build: F,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>, uuid::Uuid), SendError>
    where
        F: Fn(&AccessToken, uuid::Uuid) -> reqwest::RequestBuilder,
    {
        let stats = &self.stats;
        let mut schedule = policy.schedule();
        let mut attempt = 0usize;
        let mut request_id = uuid::Uuid::new_v4();
        let mut timed_out = false;
        loop {
            attempt += 1;
            if attempt > 1 && !timed_out {
                request_id = uuid::Uuid::new_v4();
            }
            timed_out = false;
            let token = self
                .tokens
                .token(tenant, self.resource)
                .await
                .map_err(SendError::Token)?;
            stats.requests.fetch_add(1, Ordering::Relaxed);
            if attempt > 1 {
                stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            let (retry_after, last) = match build(&token, request_id).send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        stats.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    if !is_retryable(status) {
                        let body = response.bytes().await.map_err(SendError::Transport)?;
                        return Ok((status, headers, body.to_vec(), request_id));
                    }
                    let body = response
                        .bytes()
                        .await
                        .map(|b| b.to_vec())
                        .unwrap_or_default();
                    let retry_after = super::retry_after(&headers);
                    let gave_up = SendError::GaveUp {
                        status,
                        headers,
                        body,
                        attempts: attempt,
                    };
                    (retry_after, gave_up)
                }
                Err(e) if e.is_timeout() || e.is_connect() || e.is_request() => {
                    tracing::debug!(attempt, error = %e, "retrying after a transport failure");
                    timed_out = e.is_timeout();
                    (None, SendError::Transport(e))
                }
                Err(e) => return Err(SendError::Transport(e)),
            };
            let Some(delay) = schedule.next_delay(retry_after) else {
                return Err(last);
            };
            if let SendError::GaveUp { status, .. } = &last {
                tracing::debug!(
                    http.status = status.as_u16(),
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    "retrying a throttled or failing call"
                );
            }
            stats.waited_ms.fetch_add(
                u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// An ID refused as a URL path segment: empty, `.` or `..`. A URL parser (the WHATWG rules the
/// `url` crate follows, RFC 3986 §5.2.4) reads the last two as "this" and "the parent"
/// collection, so `customers/..` would read the customers' parent, not a customer; encoding does
/// not help (`%2E%2E` is a dot segment too), an empty one names the collection itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid ID: an ID cannot be empty, \".\" or \"..\"")]
pub struct InvalidSegment(pub String);

/// One URL path segment from an ID a user gave (customer, relationship, user, application…):
/// percent-encoded, and refused when it is empty, `.` or `..` ([`InvalidSegment`]). Every path
/// segment the Graph and Partner Center clients build from input goes through it.
pub(crate) fn segment(value: &str) -> Result<String, InvalidSegment> {
    if matches!(value, "" | "." | "..") {
        return Err(InvalidSegment(value.to_owned()));
    }
    Ok(url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20"))
}

/// Resolves a paging link against an API base URL, as Microsoft's Partner Center SDK does
/// (`PartnerServiceProxy.BuildPartnerServiceApiUri` adds the API root to a link without it):
///
/// - an absolute link is followed only on the base's origin (scheme, host, port): the bearer
///   token is never sent to another host, whatever an answer says;
/// - a root-relative link that already carries the base's path (`/partnercenter/v1/...` behind
///   a gateway) is resolved against the origin;
/// - a link under the API root (`/v1/customers?...`) is appended to the base;
/// - any other relative link gets the API root first: Partner Center documents `next` links such
///   as `/customers/{id}/users?...` without `/v1` (docs/microsoft-behaviour.md §0).
///
/// `api_root` is the version segment a link may lack (`Some("v1")` for Partner Center's links);
/// `None` joins relative paths to the base as they are (Graph's absolute `@odata.nextLink`s, and
/// the raw paths of `graph get` / `partner-center get`, which name their own version).
pub(crate) fn resolve_link(base: &Url, api_root: Option<&str>, link: &str) -> Result<Url, String> {
    if let Ok(url) = Url::parse(link) {
        return if url.origin() == base.origin() {
            Ok(url)
        } else {
            Err(format!(
                "{} is not on {}: not followed (the token is sent only to the configured API)",
                url.origin().ascii_serialization(),
                base.origin().ascii_serialization()
            ))
        };
    }
    if link.starts_with("//") {
        return Err(format!(
            "{link:?} names another host: not followed (the token is sent only to the configured API)"
        ));
    }
    let base_path = base.path().trim_end_matches('/');
    let resolved = if !base_path.is_empty() && link.starts_with(&format!("{base_path}/")) {
        base.join(link).map_err(|e| e.to_string())?
    } else {
        let relative = link.trim_start_matches('/');
        match api_root {
            Some(root) if !(relative.starts_with(&format!("{root}/")) || relative == root) => {
                crate::cloud::join(base, &format!("{root}/{relative}"))
            }
            _ => crate::cloud::join(base, relative),
        }
    };
    if resolved.origin() == base.origin() {
        Ok(resolved)
    } else {
        Err(format!(
            "{link:?} leaves {}",
            base.origin().ascii_serialization()
        ))
    }
}

/// A [`TokenSource`] that hands out one fixed token for every tenant and resource (scripts that
/// already hold a token, e.g. from `csp-app token`).
#[derive(Clone)]
pub struct StaticToken(pub AccessToken);

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken([redacted])")
    }
}

impl TokenSource for StaticToken {
    fn token<'a>(&'a self, _tenant: Tenant<'a>, _resource: Resource) -> TokenFuture<'a> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}

/// Shared handle to a token source.
pub type SharedTokenSource = Arc<dyn TokenSource>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_encoded_and_dot_segments_are_refused() {
        for id in ["", ".", ".."] {
            let e = segment(id).unwrap_err();
            assert!(e.to_string().contains("is not a valid ID"), "{e}");
        }
        for (id, encoded) in [
            ("a.b", "a.b"),
            ("...", "..."),
            ("..x", "..x"),
            ("%2e%2e", "%252e%252e"),
            ("a/../b", "a%2F..%2Fb"),
            ("a b", "a%20b"),
        ] {
            assert_eq!(segment(id).unwrap(), encoded, "{id}");
            // Joined under a base, an accepted segment stays one segment.
            let base = url::Url::parse("https://example.invalid/v1/customers/").unwrap();
            let url = base.join(&segment(id).unwrap()).unwrap();
            assert_eq!(url.path_segments().unwrap().count(), 3, "{id}: {url}");
        }
    }

    #[test]
    fn links_resolve_under_the_base_whatever_their_form() {
        let real = url::Url::parse("https://api.partnercenter.microsoft.com").unwrap();
        let emulated = url::Url::parse("https://127.0.0.1:8443/partnercenter").unwrap();
        let cases = [
            (
                &real,
                "/v1/customers?size=40&seekOperation=Next",
                "https://api.partnercenter.microsoft.com/v1/customers?size=40&seekOperation=Next",
            ),
            // Documented without the API root (get-a-list-of-all-user-accounts-for-a-customer.md).
            (
                &real,
                "/customers/c1/users?size=2&seekOperation=Next",
                "https://api.partnercenter.microsoft.com/v1/customers/c1/users?size=2&seekOperation=Next",
            ),
            (
                &emulated,
                "/v1/customers?size=2",
                "https://127.0.0.1:8443/partnercenter/v1/customers?size=2",
            ),
            (
                &emulated,
                "/customers/c1/users?size=2",
                "https://127.0.0.1:8443/partnercenter/v1/customers/c1/users?size=2",
            ),
            (
                &emulated,
                "/partnercenter/v1/customers?size=2",
                "https://127.0.0.1:8443/partnercenter/v1/customers?size=2",
            ),
            (
                &emulated,
                "https://127.0.0.1:8443/partnercenter/v1/x",
                "https://127.0.0.1:8443/partnercenter/v1/x",
            ),
        ];
        for (base, link, want) in cases {
            let got = resolve_link(base, Some("v1"), link).unwrap();
            assert_eq!(got.as_str(), want, "{link}");
        }
        // Another origin is never followed: not another host, port or scheme.
        for foreign in [
            "https://other.example/v1/x",
            "https://127.0.0.1:9443/partnercenter/v1/x",
            "http://127.0.0.1:8443/partnercenter/v1/x",
            "//other.example/v1/x",
        ] {
            let e = resolve_link(&emulated, Some("v1"), foreign).unwrap_err();
            assert!(
                e.contains("not followed") || e.contains("leaves"),
                "{foreign}: {e}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever an answer puts in a paging link, the resolved URL is on the base's origin.
        #[test]
        fn a_resolved_link_never_leaves_the_base_origin(link in "\\PC{0,60}") {
            let base = url::Url::parse("https://127.0.0.1:8443/partnercenter").unwrap();
            for root in [Some("v1"), None] {
                if let Ok(url) = resolve_link(&base, root, &link) {
                    proptest::prop_assert_eq!(url.origin(), base.origin());
                }
            }
        }
    }

    #[test]
    fn token_source_errors_name_the_consent_url() {
        let e = TokenSourceError {
            remedy: Remedy::Reconsent,
            message: "refresh token expired".into(),
            consent_url: Some("https://consent.example/".into()),
        };
        assert_eq!(
            e.to_string(),
            "refresh token expired — consent again at https://consent.example/"
        );
    }
}
