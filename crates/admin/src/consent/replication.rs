//! Waiting for Microsoft's directory to replicate what a consent or an app-role assignment
//! created (docs/microsoft-behaviour.md §6.6). Partner Center answers an application consent at
//! once, but the service principal and the delegated grant reach Graph and the customer's
//! authority later: until then the partner user's token there is refused (AADSTS65001) and Graph
//! does not list the service principal; an app-role assignment is listed (and in app-only
//! tokens) later too. So after each change the fan-out looks again with back-off, within a budget
//! ([`WaitPolicy`], default 5 minutes), saying on standard error what it waits for.
//!
//! The fan-out is never idle while one customer waits: [`Waits`] holds the fan-out's slots
//! (`--concurrency`) for the customers that *work* — a request in flight — and a customer that
//! waits holds none, so the others go on.

use std::future::Future;
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use cli_kit::Failure;
use common::remedy::Remedy;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long to wait for replication, and how often to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitPolicy {
    /// Longest wait for one object of one customer (default 5 minutes).
    pub budget: Duration,
    /// First pause; each later one doubles (default 1 s).
    pub first: Duration,
    /// Longest pause between two looks (default 15 s).
    pub longest: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(300),
            first: Duration::from_secs(1),
            longest: Duration::from_secs(15),
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

    /// The pause after the `n`-th look (0-based).
    pub fn pause(&self, n: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(n.min(16)))
            .min(self.longest)
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
        // The semaphore is never closed.
        self.slots.acquire().await.ok()
    }

    /// Writes one progress line.
    pub fn say(&self, line: &str) {
        let mut out = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = writeln!(out, "{line}");
    }

    /// Looks (holding a slot) until `look` finds the object, pausing (holding none) with
    /// back-off in between; a failure naming `what`, `place` and the last reason once the budget
    /// is spent. A look's own failure ends the wait at once.
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
            let found = {
                let _slot = self.slot().await;
                look().await?
            };
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
            let pause = self.policy.pause(looks);
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
        }
    }

    #[test]
    fn pauses_double_up_to_the_longest() {
        let p = WaitPolicy::default();
        let pauses: Vec<u64> = (0..6).map(|n| p.pause(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 15, 15]);
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
