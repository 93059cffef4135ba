//! `csp-app watch`: keep the grant alive and watch what expires silently.
//!
//! One cycle ([`Watcher::cycle`]) runs the checks of [`checks`] — refresh-token inactivity
//! (before the keepalive), keepalive (one redemption per partner, whose Graph token the other
//! checks reuse), app credential expiry, GDAP relationship expiry and permission drift (the
//! doctor's typed token and registration checks) — each independent of the others, turns what they find into
//! [`Finding`]s, tells the webhook about every change of state ([`notify`]), remembers states in
//! the state file, and updates the metrics that [`server`] exposes. Without `--once`
//! [`run_loop`] repeats cycles every `--interval` until Ctrl-C or SIGTERM ([`daemon`]), printing
//! one summary line per cycle; after a cycle in which a check could not run for a reason that
//! may pass (an outage) the next one comes sooner (30 s, doubling, capped at the interval), while
//! a refusal (a permission not granted) waits for the interval. Time comes from a [`Clock`], so tests drive
//! the checks with the emulator's clock.

pub mod access_check;
pub mod checks;
pub mod console;
pub mod daemon;
pub mod metrics;
pub mod notify;
pub mod outcome;
pub mod relationship;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod table;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cli_kit::{Exit, Failure};
use serde::{Deserialize, Serialize};

use common::cloud::Resource;
use common::graph::{GraphClient, GraphOptions};
use common::http::RetryPolicy;

use crate::context::Context;
use access_check::CustomerWatch;
pub use daemon::run_loop;
use metrics::Metrics;
use notify::{Change, Webhook, WebhookFormat, WebhookUrl};
use snapshot::LastCycle;
use state::{HistoryEntry, WatchState};

/// Partners kept alive (and their GDAP relationships listed) at once by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// The first retry delay after a cycle with errors.
const ERROR_RETRY: Duration = Duration::from_secs(30);

/// Graph calls of the watch give up sooner than the CLI's (2 retries, 15 s of waiting at most):
/// a check that cannot run reports `unknown` and the next cycle comes in 30 s anyway, rather
/// than one cycle sitting in retries for minutes during an outage.
fn watch_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        min_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(5),
        max_retry_after: Some(Duration::from_secs(10)),
        max_total_wait: Duration::from_secs(15),
    }
}

/// What time it is, for the checks (the system clock in production).
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// The state of a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Fine.
    Ok,
    /// Not checked by design: it needs a permission the app does not request (the message says
    /// which, and how to turn the check on). Counts as fine.
    Skipped,
    /// Needs attention within the warning window.
    Warning,
    /// Needs attention now (within the critical window, expired, consent needed).
    Critical,
    /// The check could not run.
    Unknown,
}

impl State {
    /// Warning, critical or unknown: neither fine nor skipped by design.
    pub fn needs_attention(self) -> bool {
        !matches!(self, Self::Ok | Self::Skipped)
    }

    /// `ok`, `skipped`, `warning`, `critical` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Skipped => "skipped",
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Unknown => "unknown",
        }
    }
}

/// One thing a check found about one subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The check (`refresh_token`, `keepalive`, `credentials`, `gdap`, `permissions`).
    pub check: &'static str,
    /// What it is about (partner, credential, relationship, doctor check id, or `registration`
    /// when the registration checks are skipped). A GDAP finding's is its relationship's ID,
    /// shared with the relationship kept ([`relationship::Relationship::id`]).
    pub subject: Arc<str>,
    /// Its state.
    pub state: State,
    /// What was found and what to do.
    pub message: String,
    /// Seconds until it expires, for what expires.
    pub seconds_left: Option<i64>,
}

/// Warning and critical windows, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Warn when something expires within this.
    pub warn: i64,
    /// Critical when something expires within this (or has expired).
    pub critical: i64,
    /// Warn of a GDAP relationship left in a transitional status (approved, activating,
    /// expiring, terminationRequested, terminating) longer than this.
    pub gdap_stuck: i64,
}

impl Thresholds {
    /// The state of something `left` seconds from its end.
    pub fn state(self, left: i64) -> State {
        if left <= self.critical {
            State::Critical
        } else if left <= self.warn {
            State::Warning
        } else {
            State::Ok
        }
    }
}

/// How a [`Watcher`] works.
#[derive(Debug)]
pub struct WatchOptions {
    /// Warning and critical windows.
    pub thresholds: Thresholds,
    /// The state file.
    pub state_file: PathBuf,
    /// Where to notify, if anywhere.
    pub webhook: Option<(WebhookUrl, WebhookFormat)>,
}

/// What the HTTP endpoints read: the metrics and when the last cycle completed; and the count
/// of completed cycles, for whoever waits on it.
#[derive(Debug)]
pub struct Shared {
    metrics: Mutex<Metrics>,
    cycles: tokio::sync::watch::Sender<u64>,
    /// What the last cycle found, for the console's pages (replaced whole at each cycle).
    last: Mutex<Arc<LastCycle>>,
    /// Asks the loop for a cycle now (the console's action).
    run_now: tokio::sync::Notify,
}

impl Shared {
    fn new() -> Self {
        Self {
            metrics: Mutex::new(Metrics::new(&all_checks())),
            cycles: tokio::sync::watch::Sender::new(0),
            last: Mutex::new(Arc::new(LastCycle::default())),
            run_now: tokio::sync::Notify::new(),
        }
    }

    /// What the last cycle found (empty before the first).
    pub fn last(&self) -> Arc<LastCycle> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces what the last cycle found (the watch after each cycle; tests and benchmarks).
    pub fn set_last(&self, last: LastCycle) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(last);
    }

    /// Asks the long-running loop for a cycle now, rather than at the end of its wait; a
    /// request while a cycle runs gives one more cycle after it.
    pub fn request_cycle(&self) {
        self.run_now.notify_one();
    }

    /// Resolves when a cycle is requested ([`Self::request_cycle`]).
    pub async fn cycle_requested(&self) {
        self.run_now.notified().await;
    }

    /// The number of completed cycles, updated as each completes (await
    /// `wait_for(|n| *n >= 2)` on it rather than sleeping).
    pub fn cycles(&self) -> tokio::sync::watch::Receiver<u64> {
        self.cycles.subscribe()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Metrics) -> T) -> T {
        f(&mut self.metrics.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The Prometheus text (the GDAP gauges from the last cycle's snapshot).
    pub fn render_metrics(&self) -> String {
        let last = self.last();
        self.with(|m| m.render(&last.relationships, last.started))
    }

    /// When the last cycle completed (the watch's clock).
    pub fn last_cycle(&self) -> Option<i64> {
        self.with(|m| m.last_cycle)
    }

    /// Why the latest write of the state file failed, while it does.
    pub fn state_write_error(&self) -> Option<String> {
        self.with(|m| m.state_write_error.clone())
    }
}

/// Every check, in the order a cycle runs them (the access check last).
fn all_checks() -> Vec<&'static str> {
    let mut all = checks::CHECKS.to_vec();
    all.push(access_check::ACCESS);
    all
}

/// The result of one cycle.
#[derive(Debug)]
pub struct CycleReport {
    /// Every finding.
    pub findings: Vec<Finding>,
    /// Checks that could not (fully) run.
    pub errors: Vec<&'static str>,
    /// Some of `errors` may pass (outages, timeouts): the next cycle comes sooner. Refusals
    /// (a permission not granted) wait for the interval: a retry would change nothing.
    pub transient: bool,
    /// A partner must consent again.
    pub needs_consent: bool,
    /// Notifications delivered.
    pub notified: usize,
    /// Notifications that could not be delivered (retried next cycle).
    pub undelivered: usize,
}

impl CycleReport {
    /// 3 consent needed, 1 a check could not run, 4 warnings or critical findings, else 0
    /// (`skipped` findings are fine).
    pub fn exit(&self) -> ExitCode {
        if self.needs_consent {
            Exit::Reconsent.into()
        } else if !self.errors.is_empty() {
            Exit::Failure.into()
        } else if self.findings.iter().any(|f| f.state.needs_attention()) {
            Exit::Partial.into()
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// The watch over one run's clients.
pub struct Watcher<'a> {
    ctx: &'a Context,
    graph: GraphClient,
    options: WatchOptions,
    clock: Arc<dyn Clock>,
    webhook: Option<Webhook>,
    shared: Arc<Shared>,
    /// Which customers, and their access check ([`access_check`]).
    customers: CustomerWatch,
    /// Partners redeemed (and listed) at once.
    concurrency: usize,
    /// The state, read from the state file at the first cycle; held for a whole cycle, so
    /// cycles never overlap.
    memory: tokio::sync::Mutex<Option<WatchState>>,
}

impl std::fmt::Debug for Watcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("options", &self.options)
            .field("webhook", &self.webhook)
            .field("customers", &self.customers)
            .finish_non_exhaustive()
    }
}

impl<'a> Watcher<'a> {
    /// A watcher; fails when the webhook URL is unusable (the message never repeats it).
    pub fn new(
        ctx: &'a Context,
        options: WatchOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Failure> {
        let webhook = match &options.webhook {
            Some((url, format)) => {
                Some(Webhook::new(url, *format, ctx.http.clone()).map_err(Failure::config)?)
            }
            None => None,
        };
        let base = ctx
            .settings
            .cloud
            .base_url(Resource::Graph)
            .cloned()
            .ok_or_else(|| {
                Failure::config(format!(
                    "the {} cloud has no Microsoft Graph endpoint",
                    ctx.settings.cloud.name
                ))
            })?;
        let graph = GraphClient::new(
            base,
            ctx.http.clone(),
            ctx.tokens.clone(),
            GraphOptions {
                retry: watch_retry_policy(),
            },
        );
        Ok(Self {
            ctx,
            graph,
            options,
            clock,
            webhook,
            shared: Arc::new(Shared::new()),
            customers: CustomerWatch::from_settings(&ctx.settings),
            concurrency: DEFAULT_CONCURRENCY,
            memory: tokio::sync::Mutex::new(None),
        })
    }

    /// Which customers the watch covers and how it checks their access (default
    /// [`CustomerWatch::from_settings`]: every customer minus the configured exclusions, no
    /// access check).
    #[must_use]
    pub fn with_customers(mut self, customers: CustomerWatch) -> Self {
        self.customers = customers;
        self
    }

    /// Redeems (and lists the GDAP relationships of) `n` partners at once (at least 1; 16 by
    /// default).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// What the HTTP endpoints read.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Runs every check once, notifies changes, saves the state and updates the metrics.
    pub async fn cycle(&self) -> CycleReport {
        let mut memory = self.memory.lock().await;
        let state = match memory.as_mut() {
            Some(state) => state,
            None => memory.insert(self.load_state()),
        };
        let previous = self.shared.last();
        let cycle = checks::Cycle {
            ctx: self.ctx,
            graph: &self.graph,
            now: self.clock.now(),
            thresholds: self.options.thresholds,
            last_keepalive: &state.last_keepalive,
            concurrency: self.concurrency,
            previous: &previous.relationships,
        };
        let mut out = outcome::Outcome::default();
        let stored = cycle.partners(&mut out).await;
        cycle.refresh_tokens(&stored, &mut out);
        out.partners.clone_from(&stored);
        let mut partners: Vec<String> = stored.iter().map(|m| m.tenant_id.clone()).collect();
        if partners.is_empty() {
            partners.push(self.ctx.partner.clone());
        }
        let gdap = cycle.keepalive_and_gdap(&partners, &mut out).await;
        let access = cycle.graph_access().await;
        cycle.credentials(&mut out, &access).await;
        out.absorb(gdap);
        self.customers.restrict(&mut out);
        cycle.permissions(&mut out, &access).await;
        let started = cycle.now;
        let onboarding = self.customers.onboarding();
        let access_records = self
            .customers
            .access(&self.graph, state, &mut out, started, &onboarding)
            .await;
        let now = self.clock.now();
        for partner in &out.kept_alive {
            state.last_keepalive.insert(partner.clone(), now);
        }
        let findings = std::mem::take(&mut out.findings);
        let (notified, undelivered) = self.notify(state, &findings, now).await;
        self.save_state(state);
        let history = state.history.clone();
        drop(memory);
        // The snapshot first: the GDAP gauges are rendered from it, and whoever waits on the
        // cycle count (bumped by `record`) reads it next.
        let mut last = LastCycle::new(&mut out, &findings, (started, now), history);
        last.access = access_records;
        last.onboarding = onboarding;
        self.shared.set_last(last);
        self.record(&mut out, now);
        for f in findings.iter().filter(|f| f.state.needs_attention()) {
            tracing::warn!(check = f.check, subject = %f.subject, state = f.state.as_str(), "{}", f.message);
        }
        tracing::info!(
            findings = findings.len(),
            not_ok = findings
                .iter()
                .filter(|f| f.state.needs_attention())
                .count(),
            errors = out.errors.len(),
            notified,
            "watch cycle done"
        );
        CycleReport {
            findings,
            errors: out.errors,
            transient: out.transient,
            needs_consent: out.needs_consent,
            notified,
            undelivered,
        }
    }

    /// Sends one notification per change; a state advances only once its change is delivered
    /// (or when no webhook is configured).
    async fn notify(
        &self,
        state: &mut WatchState,
        findings: &[Finding],
        now: i64,
    ) -> (usize, usize) {
        let (mut sent, mut failed) = (0, 0);
        // Only the latest changes stay in the history: the first cycle over a large estate
        // (every finding new) builds entries for those only.
        let mut changed: Vec<(&Finding, Option<State>, bool)> = Vec::new();
        for (finding, previous) in notify::changes(state, findings) {
            let first_ok = previous.is_none() && finding.state == State::Ok;
            let mut told = false;
            if let (Some(webhook), false) = (&self.webhook, first_ok) {
                let change = Change {
                    finding,
                    previous,
                    at: now,
                };
                if let Err(e) = webhook.send(&change).await {
                    tracing::warn!(check = finding.check, subject = %finding.subject, error = %e, "notification not delivered; retried next cycle");
                    failed += 1;
                    continue;
                }
                sent += 1;
                told = true;
            }
            state.states.insert(notify::key(finding), finding.state);
            changed.push((finding, previous, told));
        }
        let older = changed.len().saturating_sub(state::HISTORY_LIMIT);
        state.record_all(
            changed
                .into_iter()
                .skip(older)
                .map(|(finding, previous, told)| HistoryEntry {
                    at: now,
                    check: finding.check.to_owned(),
                    subject: finding.subject.to_string(),
                    from: previous,
                    to: finding.state,
                    message: finding.message.clone(),
                    notified: told,
                }),
        );
        (sent, failed)
    }

    /// Reads the state file (a problem is counted; see [`state`]).
    fn load_state(&self) -> WatchState {
        let (state, problem) = WatchState::load(&self.options.state_file, self.clock.now());
        if problem.is_some() {
            self.shared
                .with(|m| *m.state_errors.entry("load").or_default() += 1);
        }
        state
    }

    /// Writes the state file; a failure is counted and shown by `/healthz` until a write
    /// succeeds. The state in memory stays the reference either way.
    fn save_state(&self, state: &WatchState) {
        let path = &self.options.state_file;
        let error = state.save(path).err().map(|e| {
            tracing::error!(path = %path.display(), error = %e, "cannot write the watch state file: notifications are deduplicated in memory until it can be written (a restart would send them again)");
            e.to_string()
        });
        self.shared.with(|m| {
            if error.is_some() {
                *m.state_errors.entry("save").or_default() += 1;
            }
            m.state_write_error = error;
        });
    }

    fn record(&self, out: &mut outcome::Outcome, now: i64) {
        let cycles = self.shared.with(|m| {
            m.cycles += 1;
            for check in &out.errors {
                *m.check_errors.entry((*check).to_owned()).or_default() += 1;
            }
            for (check, failing) in &mut m.check_failing {
                *failing = out.errors.contains(&check.as_str());
            }
            for (result, n) in &out.keepalive {
                *m.keepalive.entry(result).or_default() += n;
            }
            // Moved, not copied: two gauges per GDAP relationship make it large.
            m.gauges = std::mem::take(&mut out.gauges);
            m.last_cycle = Some(now);
            m.cycles
        });
        self.shared.cycles.send_replace(cycles);
    }
}

/// The delay before the next cycle: the interval, or after `failed` cycles in a row with
/// errors 30 s doubling, capped at the interval.
pub fn next_delay(interval: Duration, failed: u32) -> Duration {
    if failed == 0 {
        return interval;
    }
    let factor = 2u32.saturating_pow(failed.saturating_sub(1).min(20));
    ERROR_RETRY.saturating_mul(factor).min(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_errors_the_next_cycle_comes_sooner_doubling_up_to_the_interval() {
        let interval = Duration::from_secs(6 * 3600);
        assert_eq!(next_delay(interval, 0), interval);
        assert_eq!(next_delay(interval, 1), Duration::from_secs(30));
        assert_eq!(next_delay(interval, 2), Duration::from_secs(60));
        assert_eq!(next_delay(interval, 3), Duration::from_secs(120));
        assert_eq!(next_delay(interval, 40), interval);
        assert_eq!(
            next_delay(Duration::from_secs(45), 2),
            Duration::from_secs(45)
        );
    }

    #[test]
    fn thresholds_grade_time_left() {
        let t = Thresholds {
            warn: 30 * 86_400,
            critical: 7 * 86_400,
            gdap_stuck: 3_600,
        };
        assert_eq!(t.state(31 * 86_400), State::Ok);
        assert_eq!(t.state(10 * 86_400), State::Warning);
        assert_eq!(t.state(86_400), State::Critical);
        assert_eq!(t.state(-5), State::Critical);
    }
}
