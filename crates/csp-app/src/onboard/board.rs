//! Where waiting customers park: a customer waiting for Graph (the lock, the customer's
//! approval, the activation, the access assignments) gives its concurrency slot back and waits
//! here, and one shared poller reads for all of them: one listing of the partner's
//! relationships per round (paged at `$top=300`, docs/microsoft-behaviour.md §6.2) instead of
//! one read per customer, plus one listing of the access assignments of each relationship
//! whose assignments are awaited (Graph lists assignments per relationship only). A parked
//! customer is woken when its status moves, fails, or its wait runs out.
//!
//! The rounds keep within Graph's budget: each round's listings (relationship pages and
//! assignment listings) use at most a quarter of the 3,500 requests per 10 seconds Graph allows
//! an application in a (small) tenant (docs/microsoft-behaviour.md §0b), leaving the rest to
//! the steps' calls, never more often than every [`MIN_ROUND`]; a throttled
//! listing (429) waits its `Retry-After` (§6.4; the transport retries it, and a listing that
//! still fails puts the next round off by the last `Retry-After`).
//!
//! Also here: [`Pace`], which keeps Partner Center's application consents under their
//! documented 50 requests per second (§5.5).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::graph::{DelegatedAdminRelationship, GraphClient, GraphError, Progress};
use futures::{StreamExt as _, TryStreamExt as _};
use tokio::sync::oneshot;

/// The shortest pause between two rounds.
pub const MIN_ROUND: Duration = Duration::from_millis(500);
/// Relationships per listing page (Graph's maximum, docs/microsoft-behaviour.md §6.2).
const PAGE: usize = 300;
/// Graph's budget per application and tenant in 10 s (docs/microsoft-behaviour.md §0b).
const GRAPH_BUDGET_PER_10S: f64 = 3_500.0;
/// The share of that budget the poller's listings may use (the rest is the steps' calls).
const POLL_SHARE: f64 = 0.25;

/// What a parked customer waits for.
#[derive(Clone, Debug)]
pub enum Await {
    /// Relationship `id` until `judge(id, status)` is done (or failed).
    Relationship {
        /// The relationship.
        id: String,
        /// Done, still waiting, or failed, from its status.
        judge: fn(&str, &str) -> Progress,
    },
    /// The access assignments `ids` of relationship `relationship` until each is active.
    Assignments {
        /// The relationship.
        relationship: String,
        /// The assignments.
        ids: Vec<String>,
    },
}

/// How a wait ended.
#[derive(Debug)]
pub enum Woken {
    /// The wanted state (the relationship as last listed, for a relationship wait).
    Done(Option<Box<DelegatedAdminRelationship>>),
    /// A state it never leaves, and why.
    Failed(String),
    /// The wait ran out in this state.
    TimedOut(String),
}

struct Parked {
    what: Await,
    deadline: Instant,
    last: String,
    tx: oneshot::Sender<Woken>,
}

/// Request counts of the poller (for the run's summary).
#[derive(Clone, Copy, Debug, Default)]
pub struct PollCounts {
    /// Rounds that read something.
    pub rounds: u64,
    /// Relationship listing pages read.
    pub relationship_pages: u64,
    /// Assignment listings read.
    pub assignment_listings: u64,
}

/// The parked customers, the relationships as last listed, and the poller.
pub struct Board {
    graph: GraphClient,
    latest: Mutex<HashMap<String, DelegatedAdminRelationship>>,
    parked: Mutex<Vec<Parked>>,
    counts: Mutex<PollCounts>,
    concurrency: usize,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Board {
    /// A board knowing the relationships listed at the start of the run; assignment listings
    /// of one round run `concurrency` at once.
    pub fn new<'a>(
        graph: &GraphClient,
        listed: impl IntoIterator<Item = &'a DelegatedAdminRelationship>,
        concurrency: usize,
    ) -> Self {
        Self {
            graph: graph.clone(),
            latest: Mutex::new(
                listed
                    .into_iter()
                    .map(|r| (r.id.clone(), r.clone()))
                    .collect(),
            ),
            parked: Mutex::default(),
            counts: Mutex::default(),
            concurrency: concurrency.max(1),
        }
    }

    /// Relationship `id` as last listed (or seen in an answer of this run).
    pub fn relationship(&self, id: &str) -> Option<DelegatedAdminRelationship> {
        lock(&self.latest).get(id).cloned()
    }

    /// Records a relationship an answer of this run returned.
    pub fn saw(&self, r: &DelegatedAdminRelationship) {
        lock(&self.latest).insert(r.id.clone(), r.clone());
    }

    /// The poller's request counts so far.
    pub fn counts(&self) -> PollCounts {
        *lock(&self.counts)
    }

    /// Waits (without a concurrency slot) until `what` is done, failed, or `budget` ran out.
    /// A relationship already known to be there returns at once.
    pub async fn wait(&self, what: Await, budget: Duration) -> Woken {
        if let Await::Relationship { id, judge } = &what
            && let Some(r) = self.relationship(id)
        {
            match judge(id, &r.status) {
                Progress::Done => return Woken::Done(Some(Box::new(r))),
                Progress::Failed(why) => return Woken::Failed(why),
                Progress::Waiting(_) => {}
            }
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.parked).push(Parked {
            what,
            deadline: Instant::now() + budget,
            last: "not read yet".into(),
            tx,
        });
        rx.await
            .unwrap_or_else(|_| Woken::Failed("the onboarding run stopped polling".into()))
    }

    /// Polls for the parked customers, round after round (the caller drops it when every
    /// customer has finished).
    pub async fn poll(&self) {
        let mut pause = MIN_ROUND;
        loop {
            tokio::time::sleep(pause).await;
            pause = match self.round().await {
                Ok(requests) => round_interval(requests),
                Err(e) => {
                    tracing::warn!("onboard poller: {e}");
                    match &e {
                        GraphError::GaveUp {
                            retry_after: Some(after),
                            ..
                        } => (*after).max(MIN_ROUND),
                        _ => MIN_ROUND * 4,
                    }
                }
            };
        }
    }

    /// One round: the listings the parked customers need, then each one judged. The number of
    /// requests it made.
    async fn round(&self) -> Result<usize, GraphError> {
        let (relationships, assignments): (bool, Vec<String>) = {
            let parked = lock(&self.parked);
            if parked.is_empty() {
                return Ok(0);
            }
            let rel = parked
                .iter()
                .any(|p| matches!(p.what, Await::Relationship { .. }));
            let asg = parked
                .iter()
                .filter_map(|p| match &p.what {
                    Await::Assignments { relationship, .. } => Some(relationship.clone()),
                    Await::Relationship { .. } => None,
                })
                .collect();
            (rel, asg)
        };
        let mut pages = 0;
        if relationships {
            let all: Vec<DelegatedAdminRelationship> = self
                .graph
                .list_delegated_admin_relationships_paged(PAGE as u16)
                .try_collect()
                .await?;
            pages = all.len() / PAGE + 1;
            let mut latest = lock(&self.latest);
            for r in all {
                latest.insert(r.id.clone(), r);
            }
        }
        let statuses = self.assignment_statuses(assignments).await;
        {
            let mut counts = lock(&self.counts);
            counts.rounds += 1;
            counts.relationship_pages += pages as u64;
            counts.assignment_listings += statuses.len() as u64;
        }
        let requests = pages + statuses.len();
        self.judge(&statuses);
        Ok(requests)
    }

    /// The status of each access assignment of each relationship, by relationship (a listing
    /// that failed is left out: its customers wait for the next round).
    async fn assignment_statuses(
        &self,
        relationships: Vec<String>,
    ) -> HashMap<String, HashMap<String, String>> {
        futures::stream::iter(relationships)
            .map(|id| async move {
                let list: Result<Vec<_>, _> =
                    self.graph.list_access_assignments(&id).try_collect().await;
                (id, list)
            })
            .buffer_unordered(self.concurrency)
            .filter_map(|(id, list)| async move {
                match list {
                    Ok(list) => Some((
                        id,
                        list.into_iter()
                            .map(|a| (a.id, a.status))
                            .collect::<HashMap<_, _>>(),
                    )),
                    Err(e) => {
                        tracing::warn!(relationship = %id, "onboard poller: {e}");
                        None
                    }
                }
            })
            .collect()
            .await
    }

    /// Wakes every parked customer whose wait is over.
    fn judge(&self, assignments: &HashMap<String, HashMap<String, String>>) {
        let latest = lock(&self.latest);
        let mut parked = lock(&self.parked);
        let now = Instant::now();
        let mut keep = Vec::with_capacity(parked.len());
        for mut p in parked.drain(..) {
            let progress = match &p.what {
                Await::Relationship { id, judge } => latest
                    .get(id)
                    .map(|r| (judge(id, &r.status), Some(Box::new(r.clone())))),
                Await::Assignments { relationship, ids } => assignments
                    .get(relationship)
                    .map(|statuses| (all_active(ids, statuses), None)),
            };
            let woken = match progress {
                Some((Progress::Done, r)) => Some(Woken::Done(r)),
                Some((Progress::Failed(why), _)) => Some(Woken::Failed(why)),
                Some((Progress::Waiting(state), _)) => {
                    p.last = state;
                    None
                }
                None => None,
            };
            match woken {
                Some(w) => {
                    let _ = p.tx.send(w);
                }
                None if now >= p.deadline => {
                    let _ = p.tx.send(Woken::TimedOut(p.last));
                }
                // A customer whose run stopped waiting (dropped) is forgotten.
                None if p.tx.is_closed() => {}
                None => keep.push(p),
            }
        }
        *parked = keep;
    }
}

/// Whether every assignment of `ids` is active (an absent one is still waited for).
fn all_active(ids: &[String], statuses: &HashMap<String, String>) -> Progress {
    let mut waiting = None;
    for id in ids {
        match statuses.get(id) {
            Some(status) => match crate::gdap_wait::assignment_until_active(id, status) {
                Progress::Done => {}
                Progress::Waiting(s) => waiting = Some(s),
                failed @ Progress::Failed(_) => return failed,
            },
            None => waiting = Some(format!("{id} not listed yet")),
        }
    }
    waiting.map_or(Progress::Done, Progress::Waiting)
}

/// The pause after a round that made `requests` requests: at least [`MIN_ROUND`], long
/// enough for the listings to stay within [`POLL_SHARE`] of Graph's budget.
pub fn round_interval(requests: usize) -> Duration {
    let per_second = GRAPH_BUDGET_PER_10S / 10.0 * POLL_SHARE;
    Duration::from_secs_f64(requests as f64 / per_second).max(MIN_ROUND)
}

/// Keeps calls under `limit` per `window`: Partner Center documents 50 application consents
/// per second per application (docs/microsoft-behaviour.md §5.5). A call counts from the
/// moment it is admitted until `window` after its answer, so however late a call reaches the
/// server, no window of the server holds more than `limit` of them.
#[derive(Debug)]
pub struct Pace {
    limit: usize,
    window: Duration,
    state: Mutex<PaceState>,
}

#[derive(Debug, Default)]
struct PaceState {
    in_flight: usize,
    answered: VecDeque<Instant>,
}

/// An admitted call; dropping it (once answered) starts its last `window`.
#[derive(Debug)]
pub struct Ticket<'a>(&'a Pace);

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut s = lock(&self.0.state);
        s.in_flight = s.in_flight.saturating_sub(1);
        s.answered.push_back(Instant::now());
    }
}

impl Pace {
    /// At most `limit` calls in any `window`.
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            state: Mutex::default(),
        }
    }

    /// Waits until one more call fits; the call counts until the ticket is dropped and for
    /// `window` after.
    pub async fn admit(&self) -> Ticket<'_> {
        loop {
            let pause = {
                let mut s = lock(&self.state);
                let now = Instant::now();
                while s
                    .answered
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    s.answered.pop_front();
                }
                if s.in_flight + s.answered.len() < self.limit {
                    s.in_flight += 1;
                    return Ticket(self);
                }
                s.answered.front().map_or(Duration::from_millis(5), |t| {
                    (*t + self.window).saturating_duration_since(now)
                })
            };
            tokio::time::sleep(pause.max(Duration::from_millis(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_stay_within_a_quarter_of_graphs_budget() {
        assert_eq!(round_interval(0), MIN_ROUND);
        assert_eq!(round_interval(40), MIN_ROUND);
        // 334 pages (100,000 relationships) and 16 listings: 350 / 87.5 per second.
        let long = round_interval(350);
        assert_eq!(long, Duration::from_secs(4));
    }

    #[test]
    fn every_assignment_must_be_active() {
        let ids = vec!["a".to_owned(), "b".to_owned()];
        let mut s: HashMap<String, String> = [
            ("a".into(), "active".into()),
            ("b".into(), "pending".into()),
        ]
        .into();
        assert!(matches!(all_active(&ids, &s), Progress::Waiting(_)));
        s.insert("b".into(), "active".into());
        assert_eq!(all_active(&ids, &s), Progress::Done);
        s.insert("b".into(), "error".into());
        assert!(matches!(all_active(&ids, &s), Progress::Failed(_)));
        s.remove("b");
        assert!(matches!(all_active(&ids, &s), Progress::Waiting(_)));
    }

    #[tokio::test]
    async fn the_pace_admits_the_limit_per_window_counting_calls_in_flight() {
        let pace = Pace::new(3, Duration::from_millis(200));
        let started = Instant::now();
        for _ in 0..6 {
            drop(pace.admit().await);
        }
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_millis(400));
        // Three calls in flight: a fourth waits until one is answered, and a window more.
        let pace = Pace::new(3, Duration::from_millis(100));
        let held: Vec<Ticket<'_>> =
            vec![pace.admit().await, pace.admit().await, pace.admit().await];
        let started = Instant::now();
        let fourth = async {
            let _t = pace.admit().await;
            started.elapsed()
        };
        let release = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(held);
        };
        let (waited, ()) = tokio::join!(fourth, release);
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
    }
}
