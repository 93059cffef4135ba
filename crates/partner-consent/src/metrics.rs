//! Prometheus counters of the consent app, rendered as text exposition format 0.0.4 on `/metrics`.
//!
//! A handful of counters needs no metrics library: a mutex-guarded map keyed by label, rendered in
//! a stable order.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The app's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    consents: AtomicU64,
    starts: AtomicU64,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    redemptions: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Metrics {
    /// A consent flow was started (`/start`).
    pub fn started(&self) {
        self.starts.fetch_add(1, Ordering::Relaxed);
    }

    /// A consent completed: token stored and verified.
    pub fn consented(&self) {
        self.consents.fetch_add(1, Ordering::Relaxed);
    }

    /// A consent failed, with a short stable reason (`state_mismatch`, `access_denied`, …).
    pub fn failed(&self, reason: &'static str) {
        *lock(&self.failures).entry(reason).or_default() += 1;
    }

    /// A token request: `grant` is `authorization_code` or `refresh_token`, `result` `ok` or `error`.
    pub fn redeemed(&self, grant: &'static str, result: &'static str) {
        *lock(&self.redemptions).entry((grant, result)).or_default() += 1;
    }

    /// Completed consents so far.
    pub fn consents(&self) -> u64 {
        self.consents.load(Ordering::Relaxed)
    }

    /// Failures with one reason so far.
    pub fn failures(&self, reason: &str) -> u64 {
        lock(&self.failures).get(reason).copied().unwrap_or(0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP consent_started_total Consent flows started (redirects to Entra ID).\n# TYPE consent_started_total counter\nconsent_started_total {}",
            self.starts.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP consent_completed_total Consents whose refresh token was stored and verified.\n# TYPE consent_completed_total counter\nconsent_completed_total {}",
            self.consents()
        );
        let _ = writeln!(
            out,
            "# HELP consent_failures_total Consent callbacks that failed, by reason.\n# TYPE consent_failures_total counter"
        );
        for (reason, n) in lock(&self.failures).iter() {
            let _ = writeln!(out, "consent_failures_total{{reason=\"{reason}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP token_redemptions_total Token requests to Entra ID, by grant and result.\n# TYPE token_redemptions_total counter"
        );
        for ((grant, result), n) in lock(&self.redemptions).iter() {
            let _ = writeln!(
                out,
                "token_redemptions_total{{grant=\"{grant}\",result=\"{result}\"}} {n}"
            );
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.consented();
        m.failed("state_mismatch");
        m.failed("state_mismatch");
        m.redeemed("authorization_code", "ok");
        let text = m.render();
        assert!(text.contains("consent_completed_total 1\n"), "{text}");
        assert!(
            text.contains("consent_failures_total{reason=\"state_mismatch\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "token_redemptions_total{grant=\"authorization_code\",result=\"ok\"} 1\n"
            )
        );
    }
}
