use std::time::Duration;

use crate::helpers::{PARTNER, spawn, spawn_with};
use common::secret::ExposeSecret as _;

const NINETY_ONE_DAYS: Duration = Duration::from_secs(91 * 24 * 3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_a_healthy_grant() {
    let app = spawn().await;
    let out = app.run(&["-o", "json", "status"]).await;
    out.assert_code(0);
    let s = out.json();
    assert_eq!(s["healthy"], true);
    assert_eq!(s["partnerTenantId"], PARTNER);
    assert_eq!(s["mfa"], true);
    assert_eq!(s["consentedBy"], crate::helpers::ADMIN);
    assert_eq!(s["redemption"], "ok");
    assert!(s["store"].as_str().unwrap().contains("tokens.enc"), "{s}");
    let table = app.run(&["status"]).await;
    assert!(table.stdout.contains("lastRotatedAt"), "{}", table.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_rotates_the_stored_refresh_token() {
    let app = spawn().await;
    let before = app.stored_grant().await.unwrap();
    let out = app.run(&["-o", "json", "keepalive"]).await;
    out.assert_code(0);
    assert_eq!(out.json()["rotatedTokenStored"], true);
    let after = app.stored_grant().await.unwrap();
    assert_ne!(
        before.refresh_token.expose_secret(),
        after.refresh_token.expose_secret(),
        "a new refresh token is stored"
    );
    assert!(after.meta.rotated_at >= before.meta.rotated_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_refresh_token_turns_into_the_reconsent_message() {
    let app = spawn().await;
    app.emu.advance_clock(NINETY_ONE_DAYS);

    let out = app.run(&["customers", "list"]).await;
    out.assert_code(csp_app::Exit::Reconsent.code());
    assert!(out.stderr.contains("re-consent needed"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("remedy: the partner's refresh token is no longer valid"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("http://127.0.0.1:8080/"),
        "names the consent page: {}",
        out.stderr
    );

    let keepalive = app.run(&["keepalive"]).await;
    keepalive.assert_code(csp_app::Exit::Reconsent.code());
    assert!(
        keepalive
            .stderr
            .contains("consent again at http://127.0.0.1:8080/"),
        "{}",
        keepalive.stderr
    );

    let status = app.run(&["-o", "json", "status"]).await;
    status.assert_code(csp_app::Exit::Reconsent.code());
    assert_eq!(status.json()["healthy"], false);
    assert_eq!(status.json()["consentUrl"], "http://127.0.0.1:8080/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_prints_only_the_access_token() {
    let app = spawn().await;
    let out = app.run(&["token", "--resource", "graph"]).await;
    out.assert_code(0);
    let token = out.stdout.trim_end();
    assert_eq!(out.stdout.lines().count(), 1);
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    assert!(out.stderr.is_empty());
    let json = app
        .run(&["-o", "json", "token", "--resource", "partner-center"])
        .await;
    json.assert_code(0);
    assert_eq!(json.json()["resource"], "partner-center");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stored_consent_asks_for_one() {
    let app = spawn_with(emulator::EmulatorConfig::default()).await;
    let out = app.run(&["customers", "list"]).await;
    out.assert_code(csp_app::Exit::Reconsent.code());
    assert!(
        out.stderr.contains("no consent is stored"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_without_a_stored_consent_says_so_without_blank_rows() {
    let app = spawn_with(emulator::EmulatorConfig::default()).await;
    let out = app.run(&["status"]).await;
    out.assert_code(csp_app::Exit::Reconsent.code());
    for line in out.stdout.lines() {
        let mut cells = line.split_whitespace();
        assert!(
            cells.next().is_some() && cells.next().is_some(),
            "a field without a value: {line:?} in\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains("no consent stored yet"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("no longer valid"),
        "no token was ever stored: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("http://127.0.0.1:8080/"),
        "{}",
        out.stdout
    );
    let json = app.run(&["-o", "json", "status"]).await;
    let s = json.json();
    assert_eq!(s["consented"], false);
    assert_eq!(s["redemption"], "no consent stored yet");
    assert!(s["consentedBy"].is_null(), "JSON keeps every field: {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_exit_2() {
    let app = spawn_with(emulator::EmulatorConfig::default()).await;
    let out = app
        .run(&["--set", "cloud.name=mars", "customers", "list"])
        .await;
    out.assert_code(2);
}

#[test]
fn help_documents_every_exit_status() {
    let help = <csp_app::Cli as clap::CommandFactory>::command()
        .render_long_help()
        .to_string();
    for line in [
        "0  success",
        "2  configuration error",
        "3  the partner must consent again",
        "4  partial failure",
    ] {
        assert!(help.contains(line), "{line} missing from:\n{help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_restore_puts_the_earlier_grant_back_after_checking_it() {
    let app = spawn().await;
    let consented = app.stored_grant().await.unwrap();
    app.run(&["keepalive"]).await.assert_code(0);
    let rotated = app.stored_grant().await.unwrap();

    let dry = app
        .run(&["-o", "json", "grant", "restore", "--dry-run"])
        .await;
    dry.assert_code(0);
    let shown = dry.json();
    assert_eq!(shown["dryRun"], true);
    assert_eq!(shown["wouldRestore"]["consentedBy"], crate::helpers::ADMIN);
    assert_eq!(
        app.stored_grant()
            .await
            .unwrap()
            .refresh_token
            .expose_secret(),
        rotated.refresh_token.expose_secret(),
        "--dry-run changes nothing"
    );

    let out = app.run(&["-o", "json", "grant", "restore"]).await;
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["restored"]["consentedBy"], crate::helpers::ADMIN);
    assert!(report["replaced"].is_object(), "{report}");
    let restored = app.stored_grant().await.unwrap();
    assert_ne!(
        restored.refresh_token.expose_secret(),
        rotated.refresh_token.expose_secret()
    );
    for secret in [&consented, &rotated, &restored] {
        let token = secret.refresh_token.expose_secret();
        assert!(!out.stdout.contains(token) && !out.stderr.contains(token));
        assert!(!dry.stdout.contains(token));
    }
    app.run(&["status"]).await.assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_restore_refuses_an_earlier_grant_that_no_longer_redeems() {
    let app = spawn().await;
    app.run(&["keepalive"]).await.assert_code(0);
    let before = app.stored_grant().await.unwrap();
    assert!(app.emu.revoke_user_sessions(crate::helpers::ADMIN));
    let out = app.run(&["grant", "restore"]).await;
    assert_ne!(out.code, std::process::ExitCode::SUCCESS);
    assert!(out.stderr.contains("no longer redeems"), "{}", out.stderr);
    assert_eq!(
        app.stored_grant()
            .await
            .unwrap()
            .refresh_token
            .expose_secret(),
        before.refresh_token.expose_secret()
    );
}
