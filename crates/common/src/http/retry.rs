//! The one retry policy of every outgoing call: the Entra ID token client
//! ([`RetryPolicy::token_requests`]) and the Partner Center / Microsoft Graph transport
//! ([`RetryPolicy::default`]).
//!
//! What is retried is the caller's call (429, 5xx, connection failures and timeouts, never
//! `invalid_grant`); how long to wait and when to give up is decided here, the same way for both:
//!
//! - **attempts**: at most [`RetryPolicy::max_retries`] retries after the first attempt;
//! - **back-off**: when the server gave no `Retry-After`, exponential from
//!   [`RetryPolicy::min_delay`] (doubling, with jitter, `backon`) up to [`RetryPolicy::max_delay`];
//! - **`Retry-After`**: a delay the server asked for ([`crate::http::retry_after`]) is obeyed
//!   instead of the back-off, as "Partner Center API throttling guidance" and Microsoft Graph
//!   "Throttling" (concepts/throttling.md) ask, shortened to [`RetryPolicy::max_retry_after`] when
//!   that is set;
//! - **cap**: once the waits of one call would pass [`RetryPolicy::max_total_wait`], the call gives
//!   up with its last failure, so a throttled job fails loudly instead of hanging.

use std::fmt;
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff};

/// Retry and throttling policy of a client.
///
/// `Default` is the policy of API calls (Partner Center, Graph): 8 retries, back-off 250 ms …
/// 30 s with jitter, `Retry-After` obeyed as sent, at most 5 minutes spent waiting for one call.
/// [`RetryPolicy::token_requests`] is the token client's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First back-off delay (doubles each time, with jitter) when the server gives no `Retry-After`.
    pub min_delay: Duration,
    /// Largest back-off delay.
    pub max_delay: Duration,
    /// Longest `Retry-After` obeyed as sent; a longer one is shortened to this. `None`: obey it
    /// exactly (and let [`RetryPolicy::max_total_wait`] decide whether to wait at all).
    pub max_retry_after: Option<Duration>,
    /// Most time spent waiting (back-off plus `Retry-After`) for one call before giving up.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_retry_after: None,
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

    /// The policy of token requests: 3 retries, back-off 200 ms … 30 s with jitter, `Retry-After`
    /// obeyed up to 30 s, no cap on the total wait beyond that.
    pub fn token_requests() -> Self {
        let max_delay = Duration::from_secs(30);
        Self {
            max_retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay,
            max_retry_after: Some(max_delay),
            max_total_wait: Duration::MAX,
        }
    }

    /// The waits of one call under this policy. The schedule keeps its own copy of the policy, so
    /// a caller that schedules its own waits (a Graph `Pager`) can keep it across calls.
    pub(crate) fn schedule(&self) -> Schedule {
        Schedule {
            policy: self.clone(),
            backoff: backon::ExponentialBuilder::default()
                .with_jitter()
                .with_min_delay(self.min_delay)
                .with_max_delay(self.max_delay)
                .without_max_times()
                .build(),
            retries: 0,
            waited: Duration::ZERO,
        }
    }

    /// Runs `op` until it succeeds, fails permanently ([`RetryableError::is_transient`] is
    /// false), or the policy gives up; then returns the last outcome. Each retry is logged at
    /// `WARN` with the operation's name.
    pub async fn run<T, E, F, Fut>(&self, what: &'static str, mut op: F) -> Result<T, E>
    where
        E: RetryableError + fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut schedule = self.schedule();
        loop {
            let e = match op().await {
                Err(e) if e.is_transient() => e,
                outcome => return outcome,
            };
            let Some(delay) = schedule.next_delay(e.retry_after()) else {
                return Err(e);
            };
            tracing::warn!(
                operation = what,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "transient failure, retrying: {e}"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// A failure [`RetryPolicy::run`] can decide about.
pub trait RetryableError {
    /// Whether trying again may succeed.
    fn is_transient(&self) -> bool;
    /// The delay the server asked for, if it did.
    fn retry_after(&self) -> Option<Duration>;
}

/// The waits of one call: where the back-off is, how many retries and how much waiting are spent.
#[derive(Debug)]
pub(crate) struct Schedule {
    policy: RetryPolicy,
    backoff: ExponentialBackoff,
    retries: usize,
    waited: Duration,
}

impl Schedule {
    /// How long to wait before the next attempt, given the `Retry-After` of the failed one; `None`
    /// when the policy gives up (retries spent, or the wait would pass the total cap).
    pub(crate) fn next_delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        let policy = &self.policy;
        if self.retries >= policy.max_retries {
            return None;
        }
        let delay = match retry_after {
            Some(asked) => policy.max_retry_after.map_or(asked, |cap| asked.min(cap)),
            None => self.backoff.next().unwrap_or(policy.max_delay),
        };
        let waited = self.waited.checked_add(delay)?;
        if waited > policy.max_total_wait {
            return None;
        }
        self.retries += 1;
        self.waited = waited;
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stop_after_max_retries() {
        let policy = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let mut schedule = policy.schedule();
        assert!(schedule.next_delay(None).is_some());
        assert!(schedule.next_delay(None).is_some());
        assert_eq!(schedule.next_delay(None), None);
        assert_eq!(RetryPolicy::none().schedule().next_delay(None), None);
    }

    #[test]
    fn back_off_stays_between_min_and_twice_max_with_jitter() {
        let policy = RetryPolicy {
            max_retries: 20,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            ..RetryPolicy::default()
        };
        let mut schedule = policy.schedule();
        for _ in 0..20 {
            let d = schedule.next_delay(None).unwrap();
            assert!(d >= Duration::from_millis(10), "{d:?}");
            // backon's jitter adds up to one more delay on top of the capped one.
            assert!(d <= Duration::from_millis(80), "{d:?}");
        }
    }

    #[test]
    fn retry_after_is_obeyed_exactly_by_default_and_capped_for_token_requests() {
        let asked = Some(Duration::from_secs(45));
        let mut api = RetryPolicy::default();
        assert_eq!(
            api.schedule().next_delay(asked),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            RetryPolicy::token_requests().schedule().next_delay(asked),
            Some(Duration::from_secs(30))
        );
        api.max_total_wait = Duration::from_secs(40);
        assert_eq!(api.schedule().next_delay(asked), None);
    }

    #[test]
    fn the_total_wait_is_capped_across_retries() {
        let policy = RetryPolicy {
            max_total_wait: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let mut schedule = policy.schedule();
        let six = Some(Duration::from_secs(6));
        assert_eq!(schedule.next_delay(six), Some(Duration::from_secs(6)));
        assert_eq!(schedule.next_delay(six), None);
        assert_eq!(
            schedule.next_delay(Some(Duration::from_secs(4))),
            Some(Duration::from_secs(4))
        );
    }

    #[derive(Debug)]
    struct Failure {
        transient: bool,
    }

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "transient: {}", self.transient)
        }
    }

    impl RetryableError for Failure {
        fn is_transient(&self) -> bool {
            self.transient
        }
        fn retry_after(&self) -> Option<Duration> {
            Some(Duration::ZERO)
        }
    }

    #[tokio::test]
    async fn run_retries_transient_failures_only() {
        let policy = RetryPolicy::token_requests();
        let mut calls = 0;
        let outcome: Result<(), _> = policy
            .run("test", || {
                calls += 1;
                std::future::ready(Err(Failure { transient: true }))
            })
            .await;
        assert!(outcome.is_err());
        assert_eq!(calls, 4, "the first attempt and 3 retries");
        let mut calls = 0;
        let outcome: Result<(), _> = policy
            .run("test", || {
                calls += 1;
                std::future::ready(Err(Failure { transient: false }))
            })
            .await;
        assert!(outcome.is_err());
        assert_eq!(calls, 1);
    }
}
