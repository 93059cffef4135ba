//! `watch` as a service: the grant kept in the emulator's Key Vault (the Key Vault app's own
//! credential watched, Key Vault and Entra outages survived), the long-running loop in-process,
//! and the real binary stopped by SIGTERM.

use std::sync::Arc;

use common::cloud::{GRAPH_APP_ID, Resource};
use common::secret::ExposeSecret as _;
use csp_app::watch::notify::WebhookFormat;
use csp_app::watch::{CycleReport, State, Watcher};
use emulator::seed::{PermissionSeed, ids};
use emulator::{Fault, Service};
use serde_json::{Value, json};

use crate::helpers::{PARTNER, TestApp, spawn_key_vault};
use crate::watch::{
    DAY, EmulatorTime, Receiver, assert_bodies_hold_no_secret, calls_about, cycle, finding,
    metric, options, watched,
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

fn errors_of(report: &CycleReport) -> Vec<&'static str> {
    report.errors.clone()
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
    assert!(found.message.contains("add a new client secret"), "{found:?}");
    let series = format!(
        "sam_credential_expiry_seconds{{app=\"{}\",kind=\"secret\",key_id=\"{key_id}\"}}",
        ids::KEYVAULT_APP
    );
    assert_eq!(metric(&metrics, &series), left);
    assert!(errors_of(&first).is_empty(), "{:#?}", first.findings);
    let bodies = hook.bodies();
    let calls = calls_about(&bodies, "credentials", &subject);
    assert_eq!(calls.len(), 1, "{bodies:#?}");
    assert_eq!(calls[0]["state"], "warning");

    let (second, _) = cycle(&app, &hook).await;
    assert_eq!(finding(&second, "credentials", &subject).state, State::Warning);
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
    for check in ["refresh_token", "keepalive", "credentials", "gdap", "permissions"] {
        assert!(down.errors.contains(&check), "{check}: {:#?}", down.findings);
        let series = format!("sam_check_errors_total{{check=\"{check}\"}}");
        assert_eq!(metric(&metrics, &series), 1, "{check}");
    }
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
    let app = crate::watch::spawn_watched().await;
    let hook = Receiver::start();
    app.emu
        .inject_fault(Fault::status(Service::Entra, 503).on_route("/token").retry_after(0));
    let (down, metrics) = cycle(&app, &hook).await;
    for check in ["keepalive", "credentials", "gdap", "permissions"] {
        assert!(down.errors.contains(&check), "{check}: {:#?}", down.findings);
        let series = format!("sam_check_errors_total{{check=\"{check}\"}}");
        assert_eq!(metric(&metrics, &series), 1, "{check}");
    }
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
    let grant = app.stored_grant_in_store().await.unwrap();

    app.emu.clear_faults();
    let (back, _) = cycle(&app, &hook).await;
    assert!(back.errors.is_empty(), "{:#?}", back.findings);
    assert_eq!(finding(&back, "keepalive", PARTNER).state, State::Ok);
    assert!(
        app.stored_grant_in_store().await.unwrap().meta.rotated_at >= grant.meta.rotated_at
    );
    assert_bodies_hold_no_secret(&app, &hook).await;
}
