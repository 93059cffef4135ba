//! `watch`: each check driven through the emulator's clock, the metrics read from `/metrics`
//! (server on port 0), and the webhook calls received by a local HTTP server on port 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use common::cloud::{GRAPH_APP_ID, PARTNER_CENTER_APP_ID};
use common::secret::ExposeSecret as _;
use csp_app::watch::notify::{WebhookFormat, WebhookUrl};
use csp_app::watch::{Clock, CycleReport, Finding, State, Thresholds, WatchOptions, Watcher};
use emulator::seed::{PermissionSeed, ServicePrincipalSeed, ids};
use emulator::{Fault, Service};
use serde_json::Value;

use crate::helpers::{ADMIN, FABRIKAM, PARTNER, TestApp, spawn};

pub(crate) const DAY: i64 = 86_400;
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

/// The emulator's clock, as the watch's clock.
pub(crate) struct EmulatorTime(pub(crate) emulator::EmulatorClock);

impl Clock for EmulatorTime {
    fn now(&self) -> i64 {
        self.0.now()
    }
}

/// A webhook receiver on port 0 recording each POST body; it answers 500 while `failing`.
pub(crate) struct Receiver {
    pub(crate) url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    pub(crate) failing: Arc<AtomicBool>,
}

impl Receiver {
    pub(crate) fn start() -> Self {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let (b, f) = (bodies.clone(), failing.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let (b, f) = (b.clone(), f.clone());
            App::new().default_service(web::to(move |body: web::Bytes| {
                let (b, f) = (b.clone(), f.clone());
                async move {
                    if f.load(Ordering::SeqCst) {
                        return HttpResponse::InternalServerError().finish();
                    }
                    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    b.lock().unwrap().push(value);
                    HttpResponse::Ok().finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            bodies,
            failing,
        }
    }

    pub(crate) fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// The default seed, with the Partner Center service principal in the partner tenant (as
/// `setup` leaves it), consented by the admin agent; the app's Graph token may read app
/// registrations and grants (what the watch needs).
pub(crate) async fn spawn_watched() -> TestApp {
    let app = spawn().await;
    watched(&app);
    app
}

/// What `spawn_watched` adds to a consented app.
pub(crate) fn watched(app: &TestApp) {
    app.emu.state().add_service_principal(ServicePrincipalSeed {
        tenant: PARTNER.into(),
        app_id: PARTNER_CENTER_APP_ID.into(),
        object_id: "7c3a5e2b-0000-4000-8000-000000000c01".into(),
        app_roles: Vec::new(),
    });
    grant_read_permissions(app);
}

/// Registers on the app a certificate that expires `days` from the emulator's now; returns it.
pub(crate) fn add_certificate_expiring_in(app: &TestApp, days: u32) -> certgen::SelfSigned {
    let now = time::OffsetDateTime::from_unix_timestamp(app.emu.now()).unwrap();
    let cert = certgen::self_signed(&certgen::Request {
        common_name: "watch test",
        days,
        not_before: Some(now),
        key_pem: None,
    })
    .unwrap();
    app.emu
        .add_certificate(ids::CSP_APP, &cert.certificate_pem)
        .unwrap();
    cert
}

/// The app's Graph token may read app registrations and grants (what the watch needs).
pub(crate) fn grant_read_permissions(app: &TestApp) {
    app.emu.state().grant_consent(
        PARTNER,
        ids::CSP_APP,
        None,
        &[PermissionSeed {
            resource: GRAPH_APP_ID.into(),
            scopes: vec![
                "Application.Read.All".into(),
                "DelegatedPermissionGrant.Read.All".into(),
            ],
        }],
    );
}

pub(crate) fn options(app: &TestApp, hook: &Receiver, format: WebhookFormat) -> WatchOptions {
    WatchOptions {
        thresholds: Thresholds {
            warn: 30 * DAY,
            critical: 3 * DAY,
            gdap_stuck: 3_600,
        },
        state_file: app.dir.path().join("watch-state.json"),
        webhook: Some((WebhookUrl::new(hook.url.clone()), format)),
    }
}

/// One cycle on a fresh context (as a cron `--once` run), with the metrics it exposes.
pub(crate) async fn cycle(app: &TestApp, hook: &Receiver) -> (CycleReport, String) {
    cycle_as(app, hook, WebhookFormat::Generic).await
}

pub(crate) async fn cycle_as(
    app: &TestApp,
    hook: &Receiver,
    format: WebhookFormat,
) -> (CycleReport, String) {
    let ctx = app.context().await;
    let clock = Arc::new(EmulatorTime(app.emu.clock()));
    let watcher = Watcher::new(&ctx, options(app, hook, format), clock).unwrap();
    let report = watcher.cycle().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr, server) = csp_app::watch::server::start(listener, watcher.shared()).unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    handle.stop(false).await;
    assert_no_secret(app, &metrics).await;
    (report, metrics)
}

pub(crate) fn finding<'a>(report: &'a CycleReport, check: &str, subject: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.check == check && &*f.subject == subject)
        .unwrap_or_else(|| panic!("no {check} finding for {subject}: {:#?}", report.findings))
}

/// The value of one sample (`name{labels}`) in the exposition.
pub(crate) fn metric(text: &str, series: &str) -> i64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

/// Notifications the cycle should have sent: one per (check, subject) whose state changed.
pub(crate) fn calls_about<'a>(bodies: &'a [Value], check: &str, subject: &str) -> Vec<&'a Value> {
    bodies
        .iter()
        .filter(|b| b["check"] == check && b["subject"] == subject)
        .collect()
}

/// Neither the app's nor the Key Vault app's client secret, nor the stored refresh token, nor
/// any JWT.
pub(crate) async fn assert_no_secret(app: &TestApp, text: &str) {
    let secret = &app
        .emu
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::CSP_APP)
        .unwrap()
        .secrets[0];
    assert!(!text.contains(secret.as_str()), "client secret in {text}");
    let vault_secret = crate::helpers::key_vault_app_secret(&app.emu);
    assert!(!text.contains(&vault_secret), "Key Vault secret in {text}");
    // (Unreadable during an injected store outage: checked again once it is over.)
    if let Ok(Some(grant)) = app.try_stored_grant_in_store().await {
        assert!(!text.contains(grant.refresh_token.expose_secret()));
    }
    assert!(!text.contains("eyJ"), "a token in {text}");
}

pub(crate) async fn assert_bodies_hold_no_secret(app: &TestApp, hook: &Receiver) {
    for body in hook.bodies() {
        assert_no_secret(app, &body.to_string()).await;
    }
}

#[tokio::test]
async fn watch_warns_of_a_refresh_token_unused_80_days_then_notifies_its_recovery_once() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    app.emu
        .advance_clock(std::time::Duration::from_secs(80 * DAY as u64));

    let (first, metrics) = cycle(&app, &hook).await;
    let token = finding(&first, "refresh_token", PARTNER);
    assert_eq!(token.state, State::Warning, "{token:?}");
    let left = token.seconds_left.unwrap();
    assert!((10 * DAY - 300..=10 * DAY).contains(&left), "{left}");
    let series = format!("sam_refresh_token_expiry_seconds{{partner=\"{PARTNER}\"}}");
    assert_eq!(metric(&metrics, &series), left);
    assert_eq!(metric(&metrics, "sam_keepalive_total{result=\"ok\"}"), 1);
    assert_eq!(metric(&metrics, "sam_watch_cycles_total"), 1);
    assert_eq!(finding(&first, "keepalive", PARTNER).state, State::Ok);
    let bodies = hook.bodies();
    let calls = calls_about(&bodies, "refresh_token", PARTNER);
    assert_eq!(calls.len(), 1, "{bodies:#?}");
    assert_eq!(calls[0]["state"], "warning");
    assert_eq!(calls[0]["previousState"], Value::Null);
    assert_eq!(calls[0]["source"], "sam-watch");
    assert_eq!(calls[0]["secondsLeft"], left);
    // Exactly one call per non-ok finding: first seen ok sends nothing.
    let not_ok = first
        .findings
        .iter()
        .filter(|f| f.state != State::Ok && f.state != State::Unknown)
        .count();
    assert_eq!(bodies.len(), not_ok, "{bodies:#?}");

    // The keepalive of the first cycle reset the inactivity: one recovery call, nothing else.
    let (second, metrics) = cycle(&app, &hook).await;
    let token = finding(&second, "refresh_token", PARTNER);
    assert_eq!(token.state, State::Ok);
    assert!(token.seconds_left.unwrap() > 89 * DAY);
    assert_eq!(metric(&metrics, &series), token.seconds_left.unwrap());
    let after = hook.bodies();
    assert_eq!(after.len(), bodies.len() + 1, "{after:#?}");
    let recovery = &after[bodies.len()];
    assert_eq!(recovery["check"], "refresh_token");
    assert_eq!(recovery["state"], "ok");
    assert_eq!(recovery["previousState"], "warning");

    // Nothing changed: nothing sent.
    cycle(&app, &hook).await;
    assert_eq!(hook.bodies().len(), after.len());
    assert_bodies_hold_no_secret(&app, &hook).await;
}

#[tokio::test]
async fn watch_warns_of_a_certificate_10_days_from_expiry_once() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    add_certificate_expiring_in(&app, 10);

    let (first, metrics) = cycle(&app, &hook).await;
    let found = first
        .findings
        .iter()
        .find(|f| f.check == "credentials" && f.subject.contains("/certificate/"))
        .unwrap_or_else(|| panic!("{:#?}", first.findings));
    assert_eq!(found.state, State::Warning, "{found:?}");
    let left = found.seconds_left.unwrap();
    assert!((10 * DAY - 300..=10 * DAY).contains(&left), "{left}");
    let key_id = found.subject.rsplit('/').next().unwrap();
    let series = format!(
        "sam_credential_expiry_seconds{{app=\"{}\",kind=\"certificate\",key_id=\"{key_id}\"}}",
        ids::CSP_APP
    );
    assert_eq!(metric(&metrics, &series), left);
    // The client secret is there too, far from expiry.
    assert!(metrics.contains("kind=\"secret\""));
    assert_eq!(
        calls_about(&hook.bodies(), "credentials", &found.subject).len(),
        1
    );

    // A second cycle: the same state, nothing sent.
    let before = hook.bodies().len();
    cycle(&app, &hook).await;
    assert_eq!(hook.bodies().len(), before);
    assert_bodies_hold_no_secret(&app, &hook).await;
}

#[tokio::test]
async fn watch_warns_of_a_gdap_relationship_5_days_from_expiry_without_auto_extend() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    let out = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "create",
            "--display-name",
            "Watch test",
            "--customer",
            FABRIKAM,
            "--duration",
            "P90D",
            "--role",
            DIRECTORY_READERS,
        ])
        .await;
    out.assert_code(0);
    let id = out.json()["id"].as_str().unwrap().to_owned();
    app.run(&["gdap", "lock-for-approval", &id])
        .await
        .assert_code(0);
    app.emu.approve_gdap_relationship(&id, None).unwrap();
    app.emu
        .advance_clock(std::time::Duration::from_secs(85 * DAY as u64));

    let (first, metrics) = cycle(&app, &hook).await;
    let found = finding(&first, "gdap", &id);
    assert_eq!(found.state, State::Warning, "{found:?}");
    let left = found.seconds_left.unwrap();
    assert!((5 * DAY - 300..=5 * DAY + 300).contains(&left), "{left}");
    let labels = format!("{{customer=\"{FABRIKAM}\",relationship=\"{id}\"}}");
    assert_eq!(
        metric(
            &metrics,
            &format!("sam_gdap_relationship_expiry_seconds{labels}")
        ),
        left
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("sam_gdap_relationship_auto_extend{labels}")
        ),
        0
    );
    assert_eq!(calls_about(&hook.bodies(), "gdap", &id).len(), 1);

    // Auto-extend on: a recovery, sent once.
    app.run(&["gdap", "extend", "--relationship", &id])
        .await
        .assert_code(0);
    let (second, metrics) = cycle(&app, &hook).await;
    assert_eq!(finding(&second, "gdap", &id).state, State::Ok);
    assert_eq!(
        metric(
            &metrics,
            &format!("sam_gdap_relationship_auto_extend{labels}")
        ),
        1
    );
    let calls = hook.bodies();
    let about = calls_about(&calls, "gdap", &id);
    assert_eq!(about.len(), 2);
    assert_eq!(about[1]["previousState"], "warning");
    assert_eq!(about[1]["state"], "ok");
    assert_bodies_hold_no_secret(&app, &hook).await;
}

#[tokio::test]
async fn watch_reports_a_removed_permission_once_and_its_return_once() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    let (first, _) = cycle(&app, &hook).await;
    let baseline = finding(&first, "permissions", "app.permissions");
    assert_eq!(baseline.state, State::Ok, "{baseline:?}");
    let before = hook.bodies().len();

    let original = app
        .emu
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::CSP_APP)
        .unwrap()
        .clone();
    let mut drifted = original.clone();
    for p in &mut drifted.required_delegated {
        p.scopes.retain(|s| s != "User.Read.All");
    }
    app.emu.state().add_app(drifted).unwrap();
    let (second, _) = cycle(&app, &hook).await;
    let found = finding(&second, "permissions", "app.permissions");
    assert_eq!(found.state, State::Critical);
    assert!(found.message.contains("User.Read.All"), "{}", found.message);
    assert!(found.message.contains("fix: "), "{}", found.message);
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), before + 1, "{bodies:#?}");
    assert_eq!(bodies[before]["subject"], "app.permissions");
    assert_eq!(bodies[before]["previousState"], "ok");

    app.emu.state().add_app(original).unwrap();
    let (third, _) = cycle(&app, &hook).await;
    assert_eq!(
        finding(&third, "permissions", "app.permissions").state,
        State::Ok
    );
    let after = hook.bodies();
    assert_eq!(after.len(), before + 2);
    assert_eq!(after[before + 1]["state"], "ok");
    assert_bodies_hold_no_secret(&app, &hook).await;
}

#[tokio::test]
async fn watch_survives_graph_down_with_unknown_findings_and_error_metrics() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    app.emu.inject_fault(Fault::status(Service::Graph, 503));
    let (report, metrics) = cycle(&app, &hook).await;
    assert!(report.transient, "an outage: the next cycle comes sooner");
    for check in ["credentials", "gdap", "permissions"] {
        assert!(
            report.errors.contains(&check),
            "{check}: {:?}",
            report.errors
        );
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.check == check && f.state == State::Unknown),
            "{check}: {:#?}",
            report.findings
        );
        assert_eq!(
            metric(
                &metrics,
                &format!("sam_check_errors_total{{check=\"{check}\"}}")
            ),
            1
        );
        assert_eq!(
            metric(&metrics, &format!("sam_check_failing{{check=\"{check}\"}}")),
            1
        );
    }
    // The keepalive does not need Graph.
    assert_eq!(finding(&report, "keepalive", PARTNER).state, State::Ok);
    assert_eq!(
        metric(&metrics, "sam_check_errors_total{check=\"keepalive\"}"),
        0
    );
    assert_eq!(
        metric(&metrics, "sam_check_failing{check=\"keepalive\"}"),
        0
    );
    assert_eq!(report.exit(), std::process::ExitCode::from(1));
    // Unknown is not a state change: nothing sent.
    assert!(hook.bodies().is_empty(), "{:#?}", hook.bodies());
}

#[tokio::test]
async fn an_undelivered_notification_is_sent_again_next_cycle() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    add_certificate_expiring_in(&app, 10);
    hook.failing.store(true, Ordering::SeqCst);
    let (first, _) = cycle(&app, &hook).await;
    assert_eq!(first.notified, 0);
    assert!(first.undelivered > 0);
    assert!(hook.bodies().is_empty());
    let subject = first
        .findings
        .iter()
        .find(|f| f.check == "credentials" && f.state == State::Warning)
        .unwrap()
        .subject
        .clone();
    // Delivery works again: the change is sent now, once.
    hook.failing.store(false, Ordering::SeqCst);
    let (second, _) = cycle(&app, &hook).await;
    assert_eq!(second.undelivered, 0);
    assert_eq!(second.notified, first.undelivered);
    let bodies = hook.bodies();
    let calls = calls_about(&bodies, "credentials", &subject);
    assert_eq!(calls.len(), 1, "{bodies:#?}");
    assert_eq!(calls[0]["previousState"], Value::Null);
    cycle(&app, &hook).await;
    assert_eq!(hook.bodies().len(), bodies.len());
}

#[tokio::test]
async fn teams_and_slack_bodies_have_their_shape_and_no_secret() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    app.emu
        .advance_clock(std::time::Duration::from_secs(80 * DAY as u64));
    cycle_as(&app, &hook, WebhookFormat::Teams).await;
    let bodies = hook.bodies();
    let card = bodies
        .iter()
        .find(|b| {
            b["title"]
                .as_str()
                .is_some_and(|t| t.contains("refresh_token"))
        })
        .unwrap_or_else(|| panic!("{bodies:#?}"));
    assert_eq!(card["@type"], "MessageCard");
    assert_eq!(card["@context"], "https://schema.org/extensions");
    assert!(
        card["summary"].is_string() && card["themeColor"].is_string() && card["text"].is_string()
    );
    assert_bodies_hold_no_secret(&app, &hook).await;

    let slack_app = spawn_watched().await;
    let slack = Receiver::start();
    slack_app.emu.revoke_user_sessions(ADMIN);
    let (report, _) = cycle_as(&slack_app, &slack, WebhookFormat::Slack).await;
    assert!(report.needs_consent);
    assert_eq!(report.exit(), std::process::ExitCode::from(3));
    let bodies = slack.bodies();
    let text = bodies
        .iter()
        .filter_map(|b| b["text"].as_str())
        .find(|t| t.contains("keepalive"))
        .unwrap_or_else(|| panic!("{bodies:#?}"));
    assert!(text.contains("consent"), "{text}");
    assert!(
        bodies
            .iter()
            .all(|b| b.as_object().is_some_and(|o| o.len() == 1))
    );
    assert_bodies_hold_no_secret(&slack_app, &slack).await;
}

#[tokio::test]
async fn watch_once_prints_findings_and_exits_by_the_worst() {
    let app = spawn().await;
    let state = app.dir.path().join("cron-state.json");
    let state = state.display().to_string();
    let watch_once = |format: &'static str| {
        let state = state.clone();
        let app = &app;
        async move {
            app.run(&[
                "-o",
                format,
                "watch",
                "--once",
                "--listen",
                "off",
                "--state-file",
                &state,
            ])
            .await
        }
    };
    // Without Application.Read.All (the app as setup registers it) the credential check does
    // not read the registration: skipped, saying how to turn it on; the watch is green.
    let out = watch_once("json").await;
    out.assert_code(0);
    let findings = out.json();
    let cred = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "credentials")
        .unwrap();
    assert_eq!(cred["state"], "skipped");
    assert!(
        cred["message"]
            .as_str()
            .unwrap()
            .contains("Application.Read.All")
    );
    assert!(std::fs::metadata(&state).is_ok());

    grant_read_permissions(&app);
    let out = watch_once("ndjson").await;
    let lines = out.ndjson();
    let worst = lines.iter().filter(|f| f["state"] != "ok").count();
    out.assert_code(if worst == 0 { 0 } else { 4 });
    assert!(
        lines
            .iter()
            .any(|f| f["check"] == "refresh_token" && f["state"] == "ok")
    );
}

#[tokio::test]
async fn healthz_is_503_before_the_first_cycle_and_other_paths_are_404() {
    let app = spawn().await;
    let hook = Receiver::start();
    let ctx = app.context().await;
    let clock = Arc::new(EmulatorTime(app.emu.clock()));
    let watcher = Watcher::new(&ctx, options(&app, &hook, WebhookFormat::Generic), clock).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr, server) = csp_app::watch::server::start(listener, watcher.shared()).unwrap();
    tokio::spawn(server);
    let get = |path: &str| reqwest::get(format!("http://{addr}{path}"));
    assert_eq!(get("/healthz").await.unwrap().status(), 503);
    assert_eq!(get("/nope").await.unwrap().status(), 404);
    watcher.cycle().await;
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), 200);
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(body["lastCycle"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_warns_of_a_gdap_relationship_stuck_in_a_transitional_status() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    // Activation takes two hours here; the watch's threshold is one (`options`).
    app.emu
        .set_gdap_timings(emulator::partner_data::gdap::GdapTimings {
            activating_secs: 7_200,
            ..Default::default()
        });
    let out = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "create",
            "--display-name",
            "Stuck",
            "--customer",
            FABRIKAM,
            "--duration",
            "P90D",
            "--role",
            DIRECTORY_READERS,
        ])
        .await;
    out.assert_code(0);
    let id = out.json()["id"].as_str().unwrap().to_owned();
    app.run(&["gdap", "lock-for-approval", &id])
        .await
        .assert_code(0);
    app.emu.approve_gdap_relationship(&id, None).unwrap();
    let (first, _) = cycle(&app, &hook).await;
    let found = finding(&first, "gdap", &id);
    assert_eq!(found.state, State::Ok, "{found:?}");
    assert!(found.message.contains("is activating"), "{found:?}");
    app.emu.advance_clock(std::time::Duration::from_secs(3_700));
    let (second, metrics) = cycle(&app, &hook).await;
    let found = finding(&second, "gdap", &id);
    assert_eq!(found.state, State::Warning, "{found:?}");
    assert!(
        found.message.contains("has been activating for 61 min"),
        "{found:?}"
    );
    let series = format!(
        "sam_gdap_relationship_transitional_seconds{{relationship=\"{id}\",status=\"activating\"}}"
    );
    assert!((3_700..3_760).contains(&metric(&metrics, &series)));
    assert_eq!(calls_about(&hook.bodies(), "gdap", &id).len(), 1);
}
