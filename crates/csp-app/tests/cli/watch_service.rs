//! `watch` as a service: the grant kept in the emulator's Key Vault (the Key Vault app's own
//! credential watched, Key Vault and Entra outages survived), the app's certificate watched from
//! its file when Graph may not read the registration, the long-running loop in-process, and the
//! real binary stopped by SIGTERM.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli_kit::output::OutputFormat;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use common::cloud::{GRAPH_APP_ID, Resource};
use common::secret::ExposeSecret as _;
use csp_app::watch::notify::WebhookFormat;
use csp_app::watch::{CycleReport, State, Watcher};
use emulator::seed::{PermissionSeed, ids};
use emulator::{Fault, Service};
use serde_json::{Value, json};

use crate::helpers::{PARTNER, TestApp, spawn_key_vault};
use crate::watch::{
    DAY, EmulatorTime, Receiver, add_certificate_expiring_in, assert_bodies_hold_no_secret,
    assert_no_secret, calls_about, cycle, finding, metric, options, spawn_watched, watched,
};

/// The Key Vault store, watched (as `spawn_watched`).
async fn spawn_watched_key_vault() -> TestApp {
    let app = spawn_key_vault().await;
    watched(&app);
    app
}

/// Adds to the Key Vault app, through Graph (`addPassword`, as an admin would in the portal), a
/// client secret expiring `days` from the emulator's now; returns its key ID.
async fn add_key_vault_secret_expiring_in(app: &TestApp, days: i64) -> String {
    app.emu.state().grant_consent(
        PARTNER,
        ids::CSP_APP,
        None,
        &[PermissionSeed {
            resource: GRAPH_APP_ID.into(),
            scopes: vec!["Application.ReadWrite.All".into()],
        }],
    );
    let token = app
        .broker()
        .await
        .access_token(PARTNER, Resource::Graph)
        .await
        .unwrap();
    let end = time::OffsetDateTime::from_unix_timestamp(app.emu.now() + days * DAY)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let url = format!(
        "{}/v1.0/applications/{}/addPassword",
        app.emu.graph_url(),
        ids::KEYVAULT_APP
    );
    let response = app
        .http
        .post(url)
        .bearer_auth(token.expose_secret())
        .json(&json!({"passwordCredential": {"displayName": "watch test", "endDateTime": end}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["keyId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn watch_warns_once_of_the_key_vault_apps_client_secret_10_days_from_expiry() {
    let app = spawn_watched_key_vault().await;
    let hook = Receiver::start();
    let key_id = add_key_vault_secret_expiring_in(&app, 10).await;

    let (first, metrics) = cycle(&app, &hook).await;
    let subject = format!("{}/secret/{key_id}", ids::KEYVAULT_APP);
    let found = finding(&first, "credentials", &subject);
    assert_eq!(found.state, State::Warning, "{found:?}");
    let left = found.seconds_left.unwrap();
    assert!((10 * DAY - 300..=10 * DAY).contains(&left), "{left}");
    assert!(
        found.message.contains("add a new client secret"),
        "{found:?}"
    );
    let series = format!(
        "sam_credential_expiry_seconds{{app=\"{}\",kind=\"secret\",key_id=\"{key_id}\"}}",
        ids::KEYVAULT_APP
    );
    assert_eq!(metric(&metrics, &series), left);
    assert!(first.errors.is_empty(), "{:#?}", first.findings);
    let bodies = hook.bodies();
    let calls = calls_about(&bodies, "credentials", &subject);
    assert_eq!(calls.len(), 1, "{bodies:#?}");
    assert_eq!(calls[0]["state"], "warning");

    let (second, _) = cycle(&app, &hook).await;
    assert_eq!(
        finding(&second, "credentials", &subject).state,
        State::Warning
    );
    assert_eq!(hook.bodies().len(), bodies.len(), "{:#?}", hook.bodies());
    assert_bodies_hold_no_secret(&app, &hook).await;
}

#[tokio::test]
async fn a_key_vault_outage_leaves_the_store_checks_unknown_and_the_grant_intact() {
    let app = spawn_watched_key_vault().await;
    let hook = Receiver::start();
    let (healthy, _) = cycle(&app, &hook).await;
    assert!(healthy.errors.is_empty(), "{:#?}", healthy.findings);
    assert_eq!(finding(&healthy, "refresh_token", PARTNER).state, State::Ok);
    let notified = hook.bodies().len();
    let before = app.stored_grant_in_store().await.unwrap();

    // `Retry-After: 0`: the clients' retries run at once, so the test does not wait on them.
    app.emu
        .inject_fault(Fault::status(Service::KeyVault, 503).retry_after(0));
    let (down, metrics) = cycle(&app, &hook).await;
    // A fresh process reads the refresh token from the vault before any token: every check
    // but none of them panics, each is `unknown` and counted once.
    assert_failed_once(
        &down,
        &metrics,
        &[
            "refresh_token",
            "keepalive",
            "credentials",
            "gdap",
            "permissions",
        ],
    );
    assert!(
        down.findings.iter().all(|f| f.state == State::Unknown),
        "{:#?}",
        down.findings
    );
    assert!(
        finding(&down, "refresh_token", "store")
            .message
            .contains("Key Vault is throttling or unavailable"),
        "{:#?}",
        down.findings
    );
    // Unknown is not a state change: nothing sent.
    assert_eq!(hook.bodies().len(), notified, "{:#?}", hook.bodies());
    assert_eq!(down.exit(), std::process::ExitCode::from(1));

    app.emu.clear_faults();
    let after = app.stored_grant_in_store().await.unwrap();
    assert_eq!(after.meta, before.meta);
    assert_eq!(
        after.refresh_token.expose_secret(),
        before.refresh_token.expose_secret()
    );
    let (back, _) = cycle(&app, &hook).await;
    assert!(back.errors.is_empty(), "{:#?}", back.findings);
    assert_eq!(finding(&back, "keepalive", PARTNER).state, State::Ok);
    assert_eq!(hook.bodies().len(), notified, "{:#?}", hook.bodies());
    assert_bodies_hold_no_secret(&app, &hook).await;
}

#[tokio::test]
async fn an_entra_token_endpoint_outage_leaves_the_token_checks_unknown_then_recovers() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    let before = app.stored_grant_in_store().await.unwrap();
    app.emu.inject_fault(
        Fault::status(Service::Entra, 503)
            .on_route("/token")
            .retry_after(0),
    );
    let (down, metrics) = cycle(&app, &hook).await;
    assert_failed_once(
        &down,
        &metrics,
        &["keepalive", "credentials", "gdap", "permissions"],
    );
    assert!(
        down.findings
            .iter()
            .all(|f| f.state == State::Unknown || f.check == "refresh_token"),
        "{:#?}",
        down.findings
    );
    // The local store answers: the inactivity check still ran.
    assert_eq!(finding(&down, "refresh_token", PARTNER).state, State::Ok);
    assert!(hook.bodies().is_empty(), "{:#?}", hook.bodies());
    // Nothing was redeemed, so nothing was stored: the grant is the one consented.
    let after = app.stored_grant_in_store().await.unwrap();
    assert_eq!(after.meta, before.meta);
    assert_eq!(
        after.refresh_token.expose_secret(),
        before.refresh_token.expose_secret()
    );

    app.emu.clear_faults();
    let (back, _) = cycle(&app, &hook).await;
    assert!(back.errors.is_empty(), "{:#?}", back.findings);
    assert_eq!(finding(&back, "keepalive", PARTNER).state, State::Ok);
    assert_bodies_hold_no_secret(&app, &hook).await;
}

#[tokio::test]
async fn run_loop_runs_cycles_until_shutdown_and_notifies_a_lasting_state_once() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    add_certificate_expiring_in(&app, 10);
    let ctx = app.context().await;
    let clock = Arc::new(EmulatorTime(app.emu.clock()));
    let options = options(&app, &hook, WebhookFormat::Generic);
    let watcher = Watcher::new(&ctx, options, clock).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr, server) = csp_app::watch::server::start(listener, watcher.shared()).unwrap();
    let handle = server.handle();
    tokio::spawn(server);

    // Shutdown is asked for as soon as the second cycle completes, while the loop waits out
    // its 2 s interval: it must return at once, not after the interval.
    let mut cycles = watcher.shared().cycles();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut out = Vec::new();
    let shutdown = async {
        let _ = stopped.await;
    };
    let asked = async {
        cycles.wait_for(|n| *n >= 2).await.unwrap();
        stop.send(()).unwrap();
        Instant::now()
    };
    let interval = Duration::from_secs(2);
    let (ran, asked_at) = tokio::join!(
        csp_app::watch::run_loop(&watcher, interval, OutputFormat::Ndjson, &mut out, shutdown),
        asked
    );
    assert!(
        asked_at.elapsed() < Duration::from_millis(1500),
        "{:?}",
        asked_at.elapsed()
    );
    assert_eq!(ran.unwrap(), 2);

    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    handle.stop(true).await;
    assert_eq!(metric(&metrics, "sam_watch_cycles_total"), 2);
    assert_no_secret(&app, &metrics).await;

    let out = String::from_utf8(out).unwrap();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["cycle"], 1);
    assert_eq!(lines[1]["cycle"], 2);
    assert!(lines[1]["warning"].as_u64().unwrap() >= 1, "{out}");
    assert_eq!(lines[1]["errors"], json!([]), "{out}");
    assert_eq!(lines[1]["notified"], 0, "{out}");
    assert_eq!(lines[0]["notified"], hook.bodies().len(), "{out}");

    // The certificate is at warning in both cycles: one notification.
    let bodies = hook.bodies();
    let about: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["check"] == "credentials" && b["state"] == "warning")
        .collect();
    assert_eq!(about.len(), 1, "{bodies:#?}");
    assert_bodies_hold_no_secret(&app, &hook).await;
}

/// Reads lines of a child's pipe until `done` says so; returns them.
async fn read_until<R: tokio::io::AsyncRead + Unpin>(
    lines: &mut tokio::io::Lines<BufReader<R>>,
    mut done: impl FnMut(&str) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let stop = done(&line);
        seen.push(line);
        if stop {
            return seen;
        }
    }
    panic!("the pipe closed first: {seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_a_line_per_cycle_serves_its_endpoints_and_exits_0_on_sigterm() {
    let app = spawn_watched().await;
    let state = app.dir.path().join("binary-state.json");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_csp-app"))
        .args(app.config_flags())
        .args([
            "-o",
            "ndjson",
            "watch",
            "--interval",
            "1s",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--state-file")
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Duration::from_secs(20);

    let prefix = "watch: serving /metrics and /healthz on ";
    let errors = tokio::time::timeout(deadline, read_until(&mut stderr, |l| l.starts_with(prefix)))
        .await
        .expect("the address line within 20 s");
    let base = errors
        .last()
        .unwrap()
        .strip_prefix(prefix)
        .unwrap()
        .to_owned();
    assert!(!base.ends_with(":0"), "{base}");
    // Keep stderr drained (logs) while the watch runs.
    let drain = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            rest.push(line);
        }
        rest
    });

    let mut cycles = 0;
    let lines = tokio::time::timeout(
        deadline,
        read_until(&mut stdout, |_| {
            cycles += 1;
            cycles == 2
        }),
    )
    .await
    .expect("two cycle lines within 20 s");
    for (n, line) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["cycle"], n + 1, "{line}");
        assert_eq!(v["errors"], json!([]), "{line}");
        assert_no_secret(&app, line).await;
    }

    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metric(&metrics, "sam_watch_cycles_total") >= 2, "{metrics}");
    assert!(
        metric(&metrics, "sam_keepalive_total{result=\"ok\"}") >= 2,
        "{metrics}"
    );
    assert_no_secret(&app, &metrics).await;

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(deadline, child.wait())
        .await
        .expect("the watch exits within 20 s of SIGTERM")
        .unwrap();
    let logs = drain.await.unwrap();
    assert!(status.success(), "{status:?}\n{logs:#?}");
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "the endpoints are down once the watch exits"
    );
}

#[tokio::test]
async fn a_shutdown_asked_during_a_cycle_lets_it_finish_and_prints_its_table_line() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    let ctx = app.context().await;
    let clock = Arc::new(EmulatorTime(app.emu.clock()));
    let watcher = Watcher::new(&ctx, options(&app, &hook, WebhookFormat::Generic), clock).unwrap();
    let mut out = Vec::new();
    // Already resolved when the first cycle starts: that cycle still runs to its end (the
    // keepalive stored its rotation), then the loop returns without waiting the hour.
    let ran = csp_app::watch::run_loop(
        &watcher,
        Duration::from_secs(3600),
        OutputFormat::Table,
        &mut out,
        std::future::ready(()),
    )
    .await
    .unwrap();
    assert_eq!(ran, 1);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("cycle 1: "), "{out}");
    assert!(out.contains(" 0 unknown; errors: none; "), "{out}");
    assert!(out.trim_end().ends_with("next in 3600s"), "{out}");
    let metrics = watcher.shared().render_metrics();
    assert_eq!(metric(&metrics, "sam_keepalive_total{result=\"ok\"}"), 1);
    // ... and the cycle's end was reached: its state file records the keepalive.
    let state = std::fs::read_to_string(app.dir.path().join("watch-state.json")).unwrap();
    let state: Value = serde_json::from_str(&state).unwrap();
    assert!(state["lastKeepalive"][PARTNER].is_i64(), "{state}");
}

/// Each of `checks` could not run in the cycle `report`, and its error counter is 1.
#[track_caller]
fn assert_failed_once(report: &CycleReport, metrics: &str, checks: &[&str]) {
    for check in checks {
        assert!(
            report.errors.contains(check),
            "{check}: {:#?}",
            report.findings
        );
        let series = format!("sam_check_errors_total{{check=\"{check}\"}}");
        assert_eq!(metric(metrics, &series), 1, "{check}");
    }
}

/// Without `Application.Read.All` the watch does not read the app's registration (skipped), yet
/// the certificate the app signs in with (`app.certificate_path`) is still watched, from its file.
#[tokio::test]
async fn without_graph_read_access_the_configured_certificate_is_still_watched() {
    let app = crate::helpers::spawn_with(emulator::EmulatorConfig::default()).await;
    let cert = add_certificate_expiring_in(&app, 10);
    let (cert_path, key_path) = (
        app.dir.path().join("app.pem"),
        app.dir.path().join("app-key.pem"),
    );
    std::fs::write(&cert_path, &cert.certificate_pem).unwrap();
    std::fs::write(&key_path, cert.private_key_pem.expose_secret()).unwrap();
    let config: String = std::fs::read_to_string(&app.config_file)
        .unwrap()
        .lines()
        .map(|line| {
            if line.starts_with("client_secret") {
                format!(
                    "certificate_path = \"{}\"\nprivate_key_path = \"{}\"\n",
                    cert_path.display(),
                    key_path.display()
                )
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    std::fs::write(&app.config_file, config).unwrap();
    app.consent(crate::helpers::ADMIN).await;
    // Not `watched`: the app holds none of Graph's read permissions.
    let hook = Receiver::start();

    let (first, metrics) = cycle(&app, &hook).await;
    let unread = finding(&first, "credentials", ids::CSP_APP);
    assert_eq!(unread.state, State::Skipped);
    assert!(
        unread.message.contains("Application.Read.All"),
        "{unread:?}"
    );
    // Least privilege by design, not an error: the next cycle waits for the interval.
    assert!(first.errors.is_empty() && !first.transient, "{first:#?}");
    let thumbprint = admin::setup::AppCertificate::read(&cert_path)
        .unwrap()
        .thumbprint;
    let subject = format!("{}/certificate/{thumbprint}", ids::CSP_APP);
    let found = finding(&first, "credentials", &subject);
    assert_eq!(found.state, State::Warning, "{found:?}");
    assert!(found.message.contains("app.pem"), "{found:?}");
    let left = found.seconds_left.unwrap();
    assert!((10 * DAY - 300..=10 * DAY).contains(&left), "{left}");
    let series = format!(
        "sam_credential_expiry_seconds{{app=\"{}\",kind=\"certificate\",key_id=\"{thumbprint}\"}}",
        ids::CSP_APP
    );
    assert_eq!(metric(&metrics, &series), left);
    assert_eq!(
        calls_about(&hook.bodies(), "credentials", &subject).len(),
        1
    );

    let before = hook.bodies().len();
    let (second, _) = cycle(&app, &hook).await;
    assert_eq!(
        finding(&second, "credentials", &subject).state,
        State::Warning
    );
    assert_eq!(hook.bodies().len(), before, "{:#?}", hook.bodies());
    assert_bodies_hold_no_secret(&app, &hook).await;
}
