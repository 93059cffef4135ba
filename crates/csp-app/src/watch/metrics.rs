//! The watch's metrics in the Prometheus text exposition format (version 0.0.4).
//!
//! Hand-written rather than through `prometheus-client`: the watch exports a handful of
//! gauges and counters whose label sets are rebuilt every cycle, the renderer is ~60 lines with
//! escaping tested below, and it keeps a new dependency tree (and its build time) out of the CLI.
//! Gauges describe the latest cycle only: a subject that is gone (or whose check failed this
//! cycle) has no sample, never a stale one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::relationship::Relationship;

/// Results a keepalive can have (`sam_keepalive_total{result}`).
pub const KEEPALIVE_RESULTS: [&str; 3] = ["ok", "reconsent", "failed"];

/// What can go wrong with the state file (`sam_watch_state_errors_total{operation}`): reading
/// it (corrupt, set aside, or unreadable) and writing it.
pub const STATE_OPERATIONS: [&str; 2] = ["load", "save"];

/// One gauge sample of the latest cycle.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name (one of [`GAUGES`]).
    pub name: &'static str,
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// Value.
    pub value: i64,
}

impl Sample {
    /// A sample.
    pub fn new(name: &'static str, labels: &[(&'static str, &str)], value: i64) -> Self {
        Self {
            name,
            labels: labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            value,
        }
    }
}

/// Gauges, with their help text, in exposition order.
pub const GAUGES: [(&str, &str); 6] = [
    (
        "sam_refresh_token_expiry_seconds",
        "Seconds until the partner's refresh token expires from 90 days of inactivity (measured before the cycle's keepalive).",
    ),
    (
        "sam_credential_expiry_seconds",
        "Seconds until an app credential (certificate or client secret) expires.",
    ),
    (
        "sam_gdap_relationship_expiry_seconds",
        "Seconds until an active GDAP relationship ends.",
    ),
    (
        "sam_gdap_relationship_auto_extend",
        "1 when an active GDAP relationship extends automatically at its end, else 0.",
    ),
    (
        "sam_gdap_relationship_transitional_seconds",
        "Seconds a GDAP relationship has been in a transitional status (approved, activating, expiring, terminationRequested, terminating).",
    ),
    (
        "sam_customer_access",
        "1 per watched customer, labelled with the cause of its last access check (works, appNotConsented, assignmentPending, ...).",
    ),
];

/// Everything `/metrics` shows.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Completed cycles.
    pub cycles: u64,
    /// Errors per check.
    pub check_errors: BTreeMap<String, u64>,
    /// Per check, whether it could not (fully) run in the latest cycle.
    pub check_failing: BTreeMap<String, bool>,
    /// Keepalives per result.
    pub keepalive: BTreeMap<&'static str, u64>,
    /// When the last cycle completed (Unix seconds).
    pub last_cycle: Option<i64>,
    /// Gauges of the latest cycle.
    pub gauges: Vec<Sample>,
    /// State file problems per operation (`load`, `save`).
    pub state_errors: BTreeMap<&'static str, u64>,
    /// Why the latest write of the state file failed, while it does (`/healthz` says
    /// `degraded`; not a metric label).
    pub state_write_error: Option<String>,
}

/// Escapes a label value (backslash, double quote, line feed).
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn labels(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Metrics {
    /// A registry with every counter at 0 for `checks`.
    pub fn new(checks: &[&str]) -> Self {
        Self {
            check_errors: checks.iter().map(|c| ((*c).to_owned(), 0)).collect(),
            check_failing: checks.iter().map(|c| ((*c).to_owned(), false)).collect(),
            keepalive: KEEPALIVE_RESULTS.iter().map(|r| (*r, 0)).collect(),
            state_errors: STATE_OPERATIONS.iter().map(|o| (*o, 0)).collect(),
            ..Self::default()
        }
    }

    /// The Prometheus text exposition; the GDAP relationship gauges come from the last cycle's
    /// `relationships`, counted from `started`, when it began.
    pub fn render(&self, relationships: &[Arc<Relationship>], started: i64) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "sam_watch_cycles_total",
            "counter",
            "Watch cycles completed.",
        );
        let _ = writeln!(out, "sam_watch_cycles_total {}", self.cycles);
        header(
            &mut out,
            "sam_watch_last_cycle_timestamp_seconds",
            "gauge",
            "When the last watch cycle completed (Unix seconds).",
        );
        if let Some(t) = self.last_cycle {
            let _ = writeln!(out, "sam_watch_last_cycle_timestamp_seconds {t}");
        }
        header(
            &mut out,
            "sam_check_errors_total",
            "counter",
            "Cycles in which a check could not run (outage, missing permission).",
        );
        for (check, n) in &self.check_errors {
            let l = labels(&[("check", check.clone())]);
            let _ = writeln!(out, "sam_check_errors_total{l} {n}");
        }
        header(
            &mut out,
            "sam_check_failing",
            "gauge",
            "1 when the check could not (fully) run in the latest cycle, else 0.",
        );
        for (check, failing) in &self.check_failing {
            let l = labels(&[("check", check.clone())]);
            let _ = writeln!(out, "sam_check_failing{l} {}", u8::from(*failing));
        }
        header(
            &mut out,
            "sam_keepalive_total",
            "counter",
            "Keepalive redemptions of stored refresh tokens, by result.",
        );
        for (result, n) in &self.keepalive {
            let l = labels(&[("result", (*result).to_owned())]);
            let _ = writeln!(out, "sam_keepalive_total{l} {n}");
        }
        header(
            &mut out,
            "sam_watch_state_errors_total",
            "counter",
            "State file problems: a corrupt file set aside or an unreadable one (operation=\"load\"), a failed write (operation=\"save\").",
        );
        for (operation, n) in &self.state_errors {
            let l = labels(&[("operation", (*operation).to_owned())]);
            let _ = writeln!(out, "sam_watch_state_errors_total{l} {n}");
        }
        header(
            &mut out,
            "sam_watch_state_write_failing",
            "gauge",
            "1 while the latest write of the state file failed (notifications are deduplicated in memory meanwhile), else 0.",
        );
        let _ = writeln!(
            out,
            "sam_watch_state_write_failing {}",
            u8::from(self.state_write_error.is_some())
        );
        for (name, help) in GAUGES {
            header(&mut out, name, "gauge", help);
            for s in self.gauges.iter().filter(|s| s.name == name) {
                let _ = writeln!(out, "{name}{} {}", labels(&s.labels), s.value);
            }
            let expiry = name == "sam_gdap_relationship_expiry_seconds";
            if expiry || name == "sam_gdap_relationship_auto_extend" {
                for r in relationships {
                    let Some((left, auto)) = r.active_expiry(started) else {
                        continue;
                    };
                    let l = labels(&[
                        ("customer", r.customer_id.to_string()),
                        ("relationship", r.id.to_string()),
                    ]);
                    let value = if expiry { left } else { i64::from(auto) };
                    let _ = writeln!(out, "{name}{l} {value}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn render_lists_counters_at_zero_and_the_cycle_gauges() {
        let m = Metrics::new(&["gdap"]);
        let relationship = serde_json::json!({
            "id": "r",
            "status": "active",
            "customer": {"tenantId": "c\"1"},
            "autoExtendDuration": "P180D",
            "endDateTime": "2026-01-01T00:01:40Z",
        });
        let relationships = [Arc::new(
            super::super::relationship::Interner::default()
                .keep(serde_json::from_value(relationship).unwrap()),
        )];
        let text = m.render(&relationships, 1_767_225_600);
        assert!(text.contains("sam_check_errors_total{check=\"gdap\"} 0\n"));
        assert!(text.contains("sam_keepalive_total{result=\"reconsent\"} 0\n"));
        assert!(text.contains("sam_check_failing{check=\"gdap\"} 0\n"));
        assert!(text.contains(
            "sam_gdap_relationship_auto_extend{customer=\"c\\\"1\",relationship=\"r\"} 1\n"
        ));
        assert!(text.contains(
            "sam_gdap_relationship_expiry_seconds{customer=\"c\\\"1\",relationship=\"r\"} 100\n"
        ));
        assert!(text.contains("# TYPE sam_watch_cycles_total counter\n"));
        assert!(text.contains("sam_watch_state_errors_total{operation=\"load\"} 0\n"));
        assert!(text.contains("sam_watch_state_errors_total{operation=\"save\"} 0\n"));
        assert!(text.contains("sam_watch_state_write_failing 0\n"));
        assert!(!text.contains("sam_watch_last_cycle_timestamp_seconds 0"));
    }
}
