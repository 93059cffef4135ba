//! Waiting for Microsoft's directory to replicate what a consent or an app-role assignment
//! created (docs/microsoft-behaviour.md §6.6). Partner Center answers an application consent at
//! once, but the service principal and the delegated grant reach Graph and the customer's
//! authority later: until then the partner user's token there is refused (AADSTS65001) and Graph
//! does not list the service principal; an app-role assignment is listed (and in app-only
//! tokens) later too. So after each change the fan-out looks again with back-off, within a budget
//! ([`WaitPolicy`], default 5 minutes), saying on standard error what it waits for.
//!
//! The back-off is proportional: each pause is a quarter of the time waited so far (at least
//! half a second, at most 15 s), so an object that appears after `d` is seen by `1.25 d` (plus
//! half a second) — a few looks for a delay of seconds, and about thirty over five minutes.
//!
//! The fan-out is never idle while one customer waits: [`Waits`] holds the fan-out's slots
//! (`--concurrency`) for the customers that *work* — a request in flight — and a customer that
//! waits holds none, so the others go on. Partner Center's consents and the Graph steps share
//! the slots (measured in `cargo bench -p cpv-app --bench grant_1000`: separate slots for each
//! step loaded the emulator unevenly enough to draw Partner Center 429s at 48/s). That covers Graph's throttling too: Graph budgets each
//! application per tenant (docs/microsoft-behaviour.md §0b), so one customer's `Retry-After` is
//! waited out by [`Waits::call`] without a slot while the other customers' calls go on.

use std::future::Future;
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use cli_kit::Failure;
use common::graph::GraphError;
use common::remedy::Remedy;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long to wait for replication, and how often to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitPolicy {
    /// Longest wait for one object of one customer (default 5 minutes).
    pub budget: Duration,
    /// Shortest pause (default 500 ms); later ones are a quarter of the time waited so far.
    pub first: Duration,
    /// Longest pause between two looks (default 15 s).
    pub longest: Duration,
    /// Also wait until Graph lists new app-role assignments (`--wait-for-roles`; default off:
    /// the service principal is waited for, as the next step needs it, but the assignments'
    /// own replication only delays the app-only tokens that carry them).
    pub roles: bool,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(300),
            first: Duration::from_millis(500),
            longest: Duration::from_secs(15),
            roles: false,
        }
    }
}

impl WaitPolicy {
    /// The default pauses within `budget`.
    pub fn within(budget: Duration) -> Self {
        Self {
            budget,
            ..Self::default()
        }
    }

    /// The pause after a look, `waited` into the wait.
    pub fn pause(&self, waited: Duration) -> Duration {
        (waited / 4).clamp(self.first, self.longest.max(self.first))
    }
}

/// What one look found.
#[derive(Debug)]
pub enum Look<T> {
    /// The object is there.
    Visible(T),
    /// Not yet, and why (for the failure when the budget runs out).
    NotYet(String),
}

/// The slots of the customers that work, the wait policy, and where progress is written.
pub struct Waits<'a> {
    slots: Semaphore,
    policy: WaitPolicy,
    progress: Mutex<&'a mut dyn Write>,
}

impl std::fmt::Debug for Waits<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waits")
            .field("free_slots", &self.slots.available_permits())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<'a> Waits<'a> {
    /// Whether new app-role assignments are waited for too.
    pub fn for_roles(&self) -> bool {
        self.policy.roles
    }

    /// `concurrency` slots (at least one); progress lines to `progress`.
    pub fn new(concurrency: usize, policy: WaitPolicy, progress: &'a mut dyn Write) -> Self {
        Self {
            slots: Semaphore::new(concurrency.clamp(1, Semaphore::MAX_PERMITS)),
            policy,
            progress: Mutex::new(progress),
        }
    }

    /// A slot for work (requests in flight); release it before waiting.
    pub async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        // The semaphores are never closed.
        self.slots.acquire().await.ok()
    }

    /// Writes one progress line.
    pub fn say(&self, line: &str) {
        let mut out = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = writeln!(out, "{line}");
    }

    /// One Graph call holding a slot; a 429 (its `Retry-After`), a 5xx or a transport failure
    /// is waited out holding none, then the call is made again (at most 8 times in all). The
    /// client must not retry by itself (`App::graph_as_unretried`).
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, GraphError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, GraphError>>,
    {
        const ATTEMPTS: u32 = 8;
        let mut attempt = 1;
        loop {
            let result = {
                let _slot = self.slot().await;
                call().await
            };
            let wait = match &result {
                Err(GraphError::GaveUp {
                    status: 429,
                    retry_after,
                    ..
                }) => retry_after.unwrap_or(Duration::from_secs(1)),
                Err(GraphError::GaveUp { .. } | GraphError::Transport(_)) => {
                    Duration::from_millis(250).saturating_mul(2u32.pow(attempt.min(6)))
                }
                _ => return result,
            };
            if attempt >= ATTEMPTS {
                return result;
            }
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    /// Looks until `look` finds the object, pausing (holding no slot: a look takes one for each
    /// call it makes, through [`Waits::call`]) with back-off in between; a failure naming
    /// `what`, `place` and the last reason once the budget is spent. A look's own failure ends
    /// the wait at once.
    pub async fn until_visible<T, F, Fut>(
        &self,
        what: &str,
        place: &str,
        mut look: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Look<T>, Failure>>,
    {
        let started = Instant::now();
        let mut looks = 0u32;
        loop {
            let found = look().await?;
            let why = match found {
                Look::Visible(t) => {
                    if looks > 0 {
                        self.say(&format!(
                            "{what} replicated in {place} after {:.1} s",
                            started.elapsed().as_secs_f64()
                        ));
                    }
                    return Ok(t);
                }
                Look::NotYet(why) => why,
            };
            let pause = self.policy.pause(started.elapsed());
            if started.elapsed() + pause > self.policy.budget {
                return Err(Failure::with_remedy(
                    format!(
                        "{what} has not replicated in {place} after {} s ({why}); Microsoft's directory can take longer: run the same command again later",
                        started.elapsed().as_secs()
                    ),
                    Remedy::RetryLater,
                ));
            }
            if looks == 0 {
                self.say(&format!("waiting for {what} to replicate in {place}…"));
            }
            looks += 1;
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick(budget_ms: u64) -> WaitPolicy {
        WaitPolicy {
            budget: Duration::from_millis(budget_ms),
            first: Duration::from_millis(10),
            longest: Duration::from_millis(40),
            roles: false,
        }
    }

    #[test]
    fn pauses_are_a_quarter_of_the_wait_within_bounds() {
        let p = WaitPolicy::default();
        let pause = |s: u64| p.pause(Duration::from_secs(s)).as_millis();
        assert_eq!(pause(0), 500);
        assert_eq!(pause(1), 500);
        assert_eq!(pause(10), 2_500);
        assert_eq!(pause(100), 15_000);
        // Looks until five minutes have passed: a few dozen.
        let (mut t, mut looks) = (Duration::ZERO, 0);
        while t < p.budget {
            t += p.pause(t);
            looks += 1;
        }
        assert!((25..=45).contains(&looks), "{looks}");
    }

    #[tokio::test]
    async fn waits_until_the_object_is_there_and_says_so() {
        let mut err = Vec::new();
        let looks = AtomicU32::new(0);
        {
            let waits = Waits::new(1, quick(5_000), &mut err);
            let found = waits
                .until_visible("the service principal", "Fabrikam", || async {
                    Ok(if looks.fetch_add(1, Ordering::Relaxed) < 2 {
                        Look::NotYet("not listed".into())
                    } else {
                        Look::Visible(7)
                    })
                })
                .await
                .expect("visible");
            assert_eq!(found, 7);
        }
        let err = String::from_utf8(err).expect("utf-8");
        assert!(
            err.starts_with("waiting for the service principal to replicate in Fabrikam…\n"),
            "{err}"
        );
        assert!(err.contains("replicated in Fabrikam after"), "{err}");
        assert_eq!(looks.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn gives_up_with_the_reason_once_the_budget_is_spent() {
        let mut err = Vec::new();
        let waits = Waits::new(1, quick(50), &mut err);
        let failure = waits
            .until_visible("the grant", "Northwind", || async {
                Ok(Look::<()>::NotYet("AADSTS65001".into()))
            })
            .await
            .expect_err("never visible");
        assert_eq!(failure.remedy, Remedy::RetryLater);
        assert!(
            failure
                .message
                .contains("the grant has not replicated in Northwind")
        );
        assert!(failure.message.contains("AADSTS65001"));
    }

    #[tokio::test]
    async fn a_waiting_customer_holds_no_slot() {
        let mut err = Vec::new();
        let waits = Waits::new(1, quick(5_000), &mut err);
        let looks = AtomicU32::new(0);
        let waiting = waits.until_visible("x", "A", || async {
            Ok(if looks.fetch_add(1, Ordering::Relaxed) < 3 {
                Look::NotYet("no".into())
            } else {
                Look::Visible(())
            })
        });
        // With the only slot taken by nobody else, another customer works while A waits.
        let other = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let slot = waits.slot().await;
            let at = looks.load(Ordering::Relaxed);
            drop(slot);
            at
        };
        let (a, at) = tokio::join!(waiting, other);
        a.expect("visible");
        assert!(at < 4, "the other customer had to wait for A to finish");
    }
}
