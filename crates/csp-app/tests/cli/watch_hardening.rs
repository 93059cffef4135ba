//! `watch` hardened: a corrupt state file set aside (not reset), a state file that cannot be
//! written (a metric, a degraded `/healthz`, no notification sent twice), `http://` webhooks
//! refused off loopback, and hostile names (a GDAP relationship's display name) as plain text in
//! Slack and Teams bodies.

use std::sync::Arc;

use csp_app::watch::notify::{WebhookFormat, WebhookUrl};
use csp_app::watch::{State, Watcher};
use serde_json::Value;

use crate::helpers::{FABRIKAM, TestApp};
use crate::watch::{
    DAY, EmulatorTime, Receiver, add_certificate_expiring_in, cycle, cycle_as, metric, options,
    spawn_watched,
};

const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

/// `/metrics` and `/healthz` of a watcher, on port 0.
struct Endpoints {
    addr: std::net::SocketAddr,
}

impl Endpoints {
    fn start(watcher: &Watcher<'_>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (addr, server) = csp_app::watch::server::start(listener, watcher.shared()).unwrap();
        tokio::spawn(server);
        Self { addr }
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn health(&self) -> (u16, Value) {
        let r = reqwest::get(format!("http://{}/healthz", self.addr))
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

#[tokio::test]
async fn a_corrupt_state_file_is_set_aside_counted_and_replaced() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    let path = app.dir.path().join("watch-state.json");
    std::fs::write(&path, b"{\"states\": {\"gdap|r1\": \"warn").unwrap();

    let (report, metrics) = cycle(&app, &hook).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        metric(&metrics, "sam_watch_state_errors_total{operation=\"load\"}"),
        1
    );
    assert_eq!(
        metric(&metrics, "sam_watch_state_errors_total{operation=\"save\"}"),
        0
    );
    let aside: Vec<_> = std::fs::read_dir(app.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("watch-state.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read(app.dir.path().join(&aside[0])).unwrap(),
        b"{\"states\": {\"gdap|r1\": \"warn"
    );
    let state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(state["states"].as_object().is_some_and(|s| !s.is_empty()));

    // The new file reads back: nothing set aside, nothing notified again.
    let before = hook.bodies().len();
    let (_, metrics) = cycle(&app, &hook).await;
    assert_eq!(
        metric(&metrics, "sam_watch_state_errors_total{operation=\"load\"}"),
        0
    );
    assert_eq!(hook.bodies().len(), before);
}

#[tokio::test]
async fn a_state_file_that_cannot_be_written_degrades_healthz_and_notifies_once() {
    let app = spawn_watched().await;
    let hook = Receiver::start();
    add_certificate_expiring_in(&app, 10);
    // A directory where the file should be: it can be neither read nor replaced (a read-only
    // directory would not do: the tests may run as root).
    let path = app.dir.path().join("state-in-the-way");
    std::fs::create_dir(&path).unwrap();
    let mut options = options(&app, &hook, WebhookFormat::Generic);
    options.state_file = path.clone();
    let ctx = app.context().await;
    let watcher = Watcher::new(&ctx, options, Arc::new(EmulatorTime(app.emu.clock()))).unwrap();
    let endpoints = Endpoints::start(&watcher);

    let first = watcher.cycle().await;
    assert!(first.notified > 0, "{first:?}");
    assert!(
        first
            .findings
            .iter()
            .any(|f| f.check == "credentials" && f.state == State::Warning)
    );
    let sent = hook.bodies().len();
    let metrics = endpoints.metrics().await;
    assert_eq!(
        metric(&metrics, "sam_watch_state_errors_total{operation=\"load\"}"),
        1
    );
    assert_eq!(
        metric(&metrics, "sam_watch_state_errors_total{operation=\"save\"}"),
        1
    );
    assert_eq!(metric(&metrics, "sam_watch_state_write_failing"), 1);
    let (status, body) = endpoints.health().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "degraded");
    assert!(body["lastCycle"].is_string());
    assert!(
        body["stateFile"]
            .as_str()
            .is_some_and(|s| s.starts_with("cannot be written: ")),
        "{body}"
    );

    // Still failing: counted again, nothing sent again (the state in memory dedups).
    let second = watcher.cycle().await;
    assert_eq!(second.notified, 0);
    assert_eq!(hook.bodies().len(), sent);
    let metrics = endpoints.metrics().await;
    assert_eq!(
        metric(&metrics, "sam_watch_state_errors_total{operation=\"save\"}"),
        2
    );

    // The way is clear: written, healthy again, still nothing sent twice.
    std::fs::remove_dir(&path).unwrap();
    watcher.cycle().await;
    assert_eq!(hook.bodies().len(), sent);
    let metrics = endpoints.metrics().await;
    assert_eq!(metric(&metrics, "sam_watch_state_write_failing"), 0);
    let (status, body) = endpoints.health().await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    assert!(body.get("stateFile").is_none());
    let state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(state["states"].as_object().is_some_and(|s| !s.is_empty()));
}

#[tokio::test]
async fn an_http_webhook_off_loopback_is_a_configuration_error_naming_no_url() {
    let app = spawn_watched().await;
    let state = app.dir.path().join("s.json").display().to_string();
    let out = app
        .run(&[
            "watch",
            "--once",
            "--listen",
            "off",
            "--state-file",
            &state,
            "--webhook-url",
            "http://hooks.example/services/s3cr3t",
        ])
        .await;
    out.assert_code(2);
    assert!(out.stderr.contains("https"), "{}", out.stderr);
    assert!(out.stderr.contains("loopback"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("s3cr3t") && !out.stderr.contains("hooks.example"),
        "{}",
        out.stderr
    );
    assert!(
        !std::path::Path::new(&state).exists(),
        "no cycle ran: {}",
        out.stdout
    );
    // The same URL over https, or http to this machine, is fine.
    let ctx = app.context().await;
    for url in [
        "https://hooks.example/services/s3cr3t",
        "http://127.0.0.1:9/hook",
    ] {
        let mut options = options(&app, &Receiver::start(), WebhookFormat::Slack);
        options.webhook = Some((WebhookUrl::new(url), WebhookFormat::Slack));
        let clock = Arc::new(EmulatorTime(app.emu.clock()));
        assert!(Watcher::new(&ctx, options, clock).is_ok(), "{url}");
    }
}

/// Label names `/metrics` may use: identifiers and fixed words only (crates/csp-app/README.md,
/// "No personal data in `/metrics`").
const LABELS: [&str; 9] = [
    "partner",
    "customer",
    "relationship",
    "app",
    "kind",
    "key_id",
    "check",
    "result",
    "operation",
];

/// Every sample's labels are among [`LABELS`], and no name (the relationship's, the customer's,
/// a user's) is anywhere in the exposition.
fn assert_identifiers_only(app: &TestApp, metrics: &str) {
    let mut seen = 0;
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, rest)) = line.split_once('{') else {
            continue;
        };
        let (labels, _) = rest.rsplit_once('}').unwrap();
        for pair in labels.split("\",") {
            let (name, _) = pair.split_once('=').unwrap();
            assert!(LABELS.contains(&name), "label {name} in {line}");
            seen += 1;
        }
    }
    assert!(seen > 10, "{metrics}");
    assert!(metrics.contains("relationship=\""), "{metrics}");
    let seed = app.emu.seed();
    let mut names: Vec<&str> = vec!["e.example", "channel"];
    names.extend(seed.tenants.iter().map(|t| t.display_name.as_str()));
    names.extend(seed.tenants.iter().map(|t| t.domain.as_str()));
    names.extend(seed.users.iter().map(|u| u.upn.as_str()));
    names.extend(seed.users.iter().map(|u| u.display_name.as_str()));
    for name in names {
        assert!(!metrics.contains(name), "{name} in\n{metrics}");
    }
}

/// A GDAP relationship named to mention everyone and link away, approved and 5 days from its
/// end without auto-extension (a warning, notified).
async fn hostile_relationship(app: &TestApp) -> String {
    let out = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "create",
            "--display-name",
            "<!channel> @here [x](https://e.example) *y*",
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
    id
}

#[tokio::test]
async fn a_hostile_relationship_name_is_plain_text_in_slack_and_teams() {
    let app = spawn_watched().await;
    let id = hostile_relationship(&app).await;

    let slack = Receiver::start();
    let (_, metrics) = cycle_as(&app, &slack, WebhookFormat::Slack).await;
    assert_identifiers_only(&app, &metrics);
    let bodies = slack.bodies();
    let text = bodies
        .iter()
        .filter_map(|b| b["text"].as_str())
        .find(|t| t.contains(&id))
        .unwrap_or_else(|| panic!("{bodies:#?}"));
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
    assert!(!text.contains("@here"), "{text}");

    let teams_app = spawn_watched().await;
    let id = hostile_relationship(&teams_app).await;
    let teams = Receiver::start();
    cycle_as(&teams_app, &teams, WebhookFormat::Teams).await;
    let bodies = teams.bodies();
    let card = bodies
        .iter()
        .find(|b| b["title"].as_str().is_some_and(|t| t.contains(&id)))
        .unwrap_or_else(|| panic!("{bodies:#?}"));
    let text = card["text"].as_str().unwrap();
    assert!(
        text.contains("&lt;!channel&gt; @here \\[x\\](https://e.example) \\*y\\*"),
        "{text}"
    );
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
}
