//! What the Partner Center and Microsoft Graph clients share: where access tokens come from
//! ([`TokenSource`]), how a call is retried when throttled or failing transiently
//! ([`RetryPolicy`], [`send`]), and counters a caller can read ([`CallStats`]).
//!
//! Throttling follows "Partner Center API throttling guidance" (develop/api-throttling-guidance.md)
//! and Microsoft Graph "Throttling" (concepts/throttling.md): on 429 (and 503 with `Retry-After`)
//! wait exactly what the server asked, otherwise back off exponentially with jitter (`backon`).
//! The total time spent waiting for one call is capped, so a throttled job fails loudly instead of
//! hanging.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::BackoffBuilder as _;
use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::cloud::Resource;
use crate::secret::AccessToken;
use crate::tokens::{BrokerError, TokenBroker};

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

/// Where the clients get bearer tokens: the token broker in production (the partner's refresh
/// token redeemed at the partner tenant, or at a customer tenant's authority for GDAP calls).
pub trait TokenSource: Send + Sync {
    /// A valid access token for `resource`, issued by `tenant`'s authority.
    fn token<'a>(
        &'a self,
        tenant: Tenant<'a>,
        resource: Resource,
    ) -> BoxFuture<'a, Result<AccessToken, TokenSourceError>>;
}

/// What a person must do about a failed call: named in every error message the CLIs print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Remedy {
    /// The refresh token is expired or revoked: an admin agent must consent again.
    Reconsent,
    /// The consent was given without multi-factor authentication: consent again with MFA.
    Mfa,
    /// The partner has no (active) GDAP relationship with the customer tenant.
    GdapAccess,
    /// The application is not consented in the customer tenant.
    CustomerConsent,
    /// The application's credential or configuration is wrong.
    FixConfiguration,
    /// A transient failure; trying again later may work.
    RetryLater,
    /// Nothing specific.
    None,
}

impl Remedy {
    /// The advice, one sentence, or `None` when there is nothing specific to say.
    pub fn advice(self) -> Option<&'static str> {
        Some(match self {
            Self::Reconsent => {
                "the partner's refresh token is no longer valid: an admin agent of the partner tenant must sign in and consent again"
            }
            Self::Mfa => {
                "the consent was given without multi-factor authentication: an admin agent must consent again, signing in with MFA"
            }
            Self::GdapAccess => {
                "the partner has no active GDAP relationship with this customer granting the needed roles: create one (`csp-app gdap create`) and have the customer approve it"
            }
            Self::CustomerConsent => {
                "the application is not consented in the customer tenant: consent it there (CPV: Partner Center application consents)"
            }
            Self::FixConfiguration => {
                "the application's credential or configuration is wrong: run `config check` and compare app.client_id and its credential with the app registration"
            }
            Self::RetryLater => "the service is busy or unavailable: try again later",
            Self::None => return None,
        })
    }
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

/// Retry and throttling policy of a client (`Default`: 8 retries, 250 ms … 30 s with jitter,
/// at most 5 minutes spent waiting for one call).
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First back-off delay (doubles each time, with jitter) when the server gives no `Retry-After`.
    pub min_delay: Duration,
    /// Largest back-off delay.
    pub max_delay: Duration,
    /// Most time spent waiting (back-off plus `Retry-After`) for one call before giving up.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (for tests of error paths).
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }
}

/// Counters of one client (shared by its clones): what a benchmark or a summary reports.
#[derive(Debug, Default)]
pub struct CallStats {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    waited_ms: AtomicU64,
}

/// A snapshot of [`CallStats`].
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
    pub fn snapshot(&self) -> CallCounts {
        CallCounts {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            waited_ms: self.waited_ms.load(Ordering::Relaxed),
        }
    }
}

/// A response the caller must interpret (any status), or the reason no response came.
#[derive(Debug)]
pub(crate) enum SendError {
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

/// A complete response.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Whether a status is worth retrying: 429, 500, 502, 503, 504.
fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// Sends a request built by `build` (called again for each attempt, with a fresh token), retrying
/// 429 and 5xx answers and transport failures under `policy`. Any other status is returned as is.
pub(crate) async fn send<F>(
    source: &dyn TokenSource,
    tenant: Tenant<'_>,
    resource: Resource,
    policy: &RetryPolicy,
    stats: &CallStats,
    build: F,
) -> Result<Response, SendError>
where
    F: Fn(&AccessToken) -> reqwest::RequestBuilder,
{
    let mut backoff = backon::ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .without_max_times()
        .build();
    let mut waited = Duration::ZERO;
    let mut attempt = 0usize;
    loop {
        attempt += 1;
        let token = source
            .token(tenant, resource)
            .await
            .map_err(SendError::Token)?;
        stats.requests.fetch_add(1, Ordering::Relaxed);
        if attempt > 1 {
            stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        let outcome = build(&token).send().await;
        let (delay, last) = match outcome {
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                if status == StatusCode::TOO_MANY_REQUESTS {
                    stats.throttled.fetch_add(1, Ordering::Relaxed);
                }
                if !is_retryable(status) {
                    let body = response.bytes().await.map_err(SendError::Transport)?;
                    return Ok(Response {
                        status,
                        headers,
                        body: body.to_vec(),
                    });
                }
                let body = response
                    .bytes()
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                let delay = crate::http::retry_after(&headers)
                    .or_else(|| backoff.next())
                    .unwrap_or(policy.max_delay);
                tracing::debug!(
                    http.status = status.as_u16(),
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    "retrying a throttled or failing call"
                );
                (
                    delay,
                    SendError::GaveUp {
                        status,
                        headers,
                        body,
                        attempts: attempt,
                    },
                )
            }
            Err(e) if e.is_timeout() || e.is_connect() || e.is_request() => {
                let delay = backoff.next().unwrap_or(policy.max_delay);
                tracing::debug!(attempt, error = %e, "retrying after a transport failure");
                (delay, SendError::Transport(e))
            }
            Err(e) => return Err(SendError::Transport(e)),
        };
        if attempt > policy.max_retries || waited + delay > policy.max_total_wait {
            return Err(last);
        }
        waited += delay;
        stats.waited_ms.fetch_add(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        tokio::time::sleep(delay).await;
    }
}

/// Resolves a paging link against an API base URL: absolute links are used as they are; a
/// root-relative link that already carries the base's path (`/partnercenter/v1/...` behind a
/// gateway) is resolved against the origin; anything else is appended to the base
/// (`/v1/customers?...` under `https://api.partnercenter.microsoft.com`).
pub(crate) fn resolve_link(base: &url::Url, link: &str) -> Option<url::Url> {
    if let Ok(url) = url::Url::parse(link) {
        return Some(url);
    }
    let base_path = base.path().trim_end_matches('/');
    if !base_path.is_empty() && link.starts_with(&format!("{base_path}/")) {
        return base.join(link).ok();
    }
    Some(crate::cloud::join(base, link))
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
    fn token<'a>(
        &'a self,
        _tenant: Tenant<'a>,
        _resource: Resource,
    ) -> BoxFuture<'a, Result<AccessToken, TokenSourceError>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}

/// Shared handle to a token source.
pub type SharedTokenSource = Arc<dyn TokenSource>;

/// The token broker as a [`TokenSource`]: app + user tokens through one partner's stored grant,
/// redeemed at the partner's authority ([`Tenant::Partner`]) or at a customer's (GDAP).
#[derive(Clone, Debug)]
pub struct BrokerTokens {
    broker: TokenBroker,
    partner: String,
}

impl BrokerTokens {
    /// Tokens for `partner`'s grant (the partner tenant ID).
    pub fn new(broker: TokenBroker, partner: impl Into<String>) -> Self {
        Self {
            broker,
            partner: partner.into(),
        }
    }

    /// The partner tenant.
    pub fn partner(&self) -> &str {
        &self.partner
    }
}

impl TokenSource for BrokerTokens {
    fn token<'a>(
        &'a self,
        tenant: Tenant<'a>,
        resource: Resource,
    ) -> BoxFuture<'a, Result<AccessToken, TokenSourceError>> {
        Box::pin(async move {
            let tenant = match tenant {
                Tenant::Partner => self.partner.as_str(),
                Tenant::Customer(id) => id,
            };
            self.broker
                .delegated_token(&self.partner, tenant, resource)
                .await
                .map_err(|e| TokenSourceError::from(&e))
        })
    }
}

/// Entra's remedy in the clients' vocabulary (the one mapping; the CLIs refine it, never repeat it).
impl From<crate::entra::Remedy> for Remedy {
    fn from(remedy: crate::entra::Remedy) -> Self {
        use crate::entra::Remedy as Entra;
        match remedy {
            Entra::Reconsent => Self::Reconsent,
            Entra::Mfa => Self::Mfa,
            Entra::CustomerConsent => Self::CustomerConsent,
            Entra::GdapAccess => Self::GdapAccess,
            Entra::WrongClient | Entra::FixCredential => Self::FixConfiguration,
            Entra::RetryLater => Self::RetryLater,
            Entra::None => Self::None,
        }
    }
}

impl From<&BrokerError> for TokenSourceError {
    fn from(e: &BrokerError) -> Self {
        Self {
            remedy: e.remedy().into(),
            message: e.to_string(),
            consent_url: e.consent_page().map(ToString::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_under_the_base_whatever_their_form() {
        let real = url::Url::parse("https://api.partnercenter.microsoft.com").unwrap();
        assert_eq!(
            resolve_link(&real, "/v1/customers?size=40&seekOperation=Next")
                .unwrap()
                .as_str(),
            "https://api.partnercenter.microsoft.com/v1/customers?size=40&seekOperation=Next"
        );
        let emulated = url::Url::parse("https://127.0.0.1:8443/partnercenter").unwrap();
        assert_eq!(
            resolve_link(&emulated, "/v1/customers?size=2")
                .unwrap()
                .as_str(),
            "https://127.0.0.1:8443/partnercenter/v1/customers?size=2"
        );
        assert_eq!(
            resolve_link(&emulated, "/partnercenter/v1/customers?size=2")
                .unwrap()
                .as_str(),
            "https://127.0.0.1:8443/partnercenter/v1/customers?size=2"
        );
        assert_eq!(
            resolve_link(&emulated, "https://other.example/v1/x")
                .unwrap()
                .as_str(),
            "https://other.example/v1/x"
        );
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
