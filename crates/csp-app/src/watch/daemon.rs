//! The long-running watch: cycles until told to stop, one summary line per cycle.
//!
//! [`run_loop`] runs a cycle, prints its line, waits for the next one and returns once
//! `shutdown` resolves: a cycle in progress always finishes first (a keepalive is never cut
//! between redeeming a refresh token and storing the rotated one). [`shutdown_signal`] is the
//! `shutdown` of `csp-app watch`: Ctrl-C, or SIGTERM (what `docker stop` and Kubernetes send).

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use cli_kit::Failure;
use cli_kit::output::OutputFormat;
use serde_json::json;

use super::{CycleReport, State, Watcher, next_delay};

/// Runs cycles every `interval` (sooner after errors, see [`next_delay`]) until `shutdown`
/// resolves, writing one line per cycle to `out` in `format`; returns the number of cycles run.
/// `shutdown` is only looked at between cycles: the cycle in progress finishes first. A cycle
/// requested from the console ([`super::Shared::request_cycle`]) ends the wait at once.
pub async fn run_loop(
    watcher: &Watcher<'_>,
    interval: Duration,
    format: OutputFormat,
    out: &mut dyn Write,
    shutdown: impl Future<Output = ()>,
) -> Result<u64, Failure> {
    let mut shutdown = std::pin::pin!(shutdown);
    let (mut cycles, mut failed) = (0u64, 0u32);
    loop {
        let report = watcher.cycle().await;
        cycles += 1;
        failed = if report.transient { failed + 1 } else { 0 };
        let delay = next_delay(interval, failed);
        writeln!(out, "{}", cycle_line(format, cycles, &report, delay))?;
        out.flush()?;
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = watcher.shared.cycle_requested() => {
                tracing::info!("a cycle was requested from the console");
            }
            () = tokio::time::sleep(delay) => {}
        }
    }
    tracing::info!(cycles, "watch stopped");
    Ok(cycles)
}

/// The summary of one cycle: `cycle N: X ok, Y warning, ...` for tables, one JSON object
/// otherwise. Findings' texts stay out of it (they are logged and sent to the webhook).
pub fn cycle_line(
    format: OutputFormat,
    cycle: u64,
    report: &CycleReport,
    next: Duration,
) -> String {
    let count = |state| report.findings.iter().filter(|f| f.state == state).count();
    let (ok, skipped, warning, critical, unknown) = (
        count(State::Ok),
        count(State::Skipped),
        count(State::Warning),
        count(State::Critical),
        count(State::Unknown),
    );
    match format {
        OutputFormat::Table => {
            let errors = if report.errors.is_empty() {
                "none".to_owned()
            } else {
                report.errors.join(",")
            };
            format!(
                "cycle {cycle}: {ok} ok, {skipped} skipped, {warning} warning, {critical} critical, {unknown} unknown; errors: {errors}; notified {}, undelivered {}; next in {}s",
                report.notified,
                report.undelivered,
                next.as_secs()
            )
        }
        OutputFormat::Json | OutputFormat::Ndjson => json!({
            "cycle": cycle,
            "ok": ok,
            "skipped": skipped,
            "warning": warning,
            "critical": critical,
            "unknown": unknown,
            "errors": report.errors,
            "notified": report.notified,
            "undelivered": report.undelivered,
            "nextInSeconds": next.as_secs(),
        })
        .to_string(),
    }
}

/// The line on stderr naming where `/metrics` and `/healthz` are served (the bound address:
/// with port 0, the port the system chose).
pub fn address_line(bound: SocketAddr) -> String {
    format!("watch: serving /metrics and /healthz on http://{bound}")
}

/// The line on stderr saying where the console is, or how to turn it on.
pub fn console_line(console: Option<&url::Url>) -> String {
    match console {
        Some(redirect) => {
            let mut home = redirect.clone();
            home.set_path("/");
            home.set_query(None);
            format!("watch: operator console at {home} (sign in with Entra ID)")
        }
        None => "watch: the operator console is off (configure [watch.console] to turn it on)"
            .to_owned(),
    }
}

/// A future resolving on Ctrl-C (SIGINT) or, on Unix, SIGTERM. The handlers are installed
/// now, so a signal arriving before the future is first polled (during the first cycle) is
/// kept, not lost.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("interrupted: stopping after this cycle"),
                _ = terminate.recv() => tracing::info!("SIGTERM: stopping after this cycle"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("interrupted: stopping after this cycle");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::Finding;

    fn report() -> CycleReport {
        let finding = |state| Finding {
            check: "gdap",
            subject: "r".into(),
            state,
            message: "m".into(),
            seconds_left: None,
        };
        CycleReport {
            findings: vec![
                finding(State::Ok),
                finding(State::Ok),
                finding(State::Skipped),
                finding(State::Warning),
                finding(State::Unknown),
            ],
            errors: vec!["gdap"],
            transient: true,
            needs_consent: false,
            notified: 1,
            undelivered: 0,
        }
    }

    #[test]
    fn the_cycle_line_counts_states_as_text_or_one_json_object() {
        let next = Duration::from_secs(30);
        assert_eq!(
            cycle_line(OutputFormat::Table, 3, &report(), next),
            "cycle 3: 2 ok, 1 skipped, 1 warning, 0 critical, 1 unknown; errors: gdap; notified 1, undelivered 0; next in 30s"
        );
        let line = cycle_line(OutputFormat::Ndjson, 3, &report(), next);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            json!({"cycle": 3, "ok": 2, "skipped": 1, "warning": 1, "critical": 0, "unknown": 1,
                   "errors": ["gdap"], "notified": 1, "undelivered": 0, "nextInSeconds": 30})
        );
    }
}
