//! The console's browser flows.

use std::time::Duration;

use cli_kit::output::OutputFormat;
use csp_app::watch::run_loop;

use crate::driver::{Browser, launch};
use crate::helpers::{ADMIN, FABRIKAM, PARTNER, TAILSPIN, TestApp};
use crate::support::{
    CONSOLE_SECRET, NO_ROLE, OPERATOR, User, add_onboarding_journal, add_upcoming_expiries,
    assert_accessible, screenshot, serve, serve_cross_site_form, sign_in, spawn, watcher,
};

/// From the console's sign-in page through Entra ID's (the emulator's) as `user`.
async fn sign_in_to_console(browser: &Browser, origin: &str, user: User) {
    browser.goto(&format!("{origin}/")).await;
    assert_eq!(browser.text("h1").await, "Sign in");
    browser.click("#signin").await;
    sign_in(browser, user).await;
}

/// The page holds none of the app's secrets.
async fn assert_no_secret(browser: &Browser, app: &TestApp) {
    let source = browser.source().await;
    assert!(!source.contains(CONSOLE_SECRET));
    let config = std::fs::read_to_string(&app.config_file).unwrap();
    let app_secret = config
        .lines()
        .find_map(|l| l.strip_prefix("client_secret = \""))
        .unwrap()
        .trim_end_matches('"');
    assert!(!source.contains(app_secret));
}

#[tokio::test]
async fn an_operator_signs_in_sees_partners_customers_timeline_history_and_runs_a_cycle() {
    let app = spawn().await;
    add_upcoming_expiries(&app).await;
    add_onboarding_journal(&app);
    let ctx = app.context().await;
    let watcher = watcher(&app, &ctx);
    let origin = serve(&app, &ctx, &watcher);
    let mut cycles = watcher.shared().cycles();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut out = Vec::new();
    let service = run_loop(
        &watcher,
        Duration::from_secs(3600),
        OutputFormat::Table,
        &mut out,
        async {
            drop(stopped.await);
        },
    );
    let browse = async {
        cycles.wait_for(|n| *n >= 1).await.unwrap();
        let browser = launch().await;
        browser.goto(&format!("{origin}/")).await;
        assert_accessible(&browser, "sign-in").await;
        sign_in_to_console(&browser, &origin, OPERATOR).await;

        // Overview: the partner, who consented, MFA, the keepalive.
        let partners = browser.text("#partners").await;
        assert!(partners.contains(PARTNER), "{partners}");
        assert!(partners.contains(ADMIN), "{partners}");
        assert!(
            partners.contains("refresh token redeemed and rotated"),
            "{partners}"
        );
        assert_eq!(browser.text("#signed-in-as").await, OPERATOR.upn);
        // Findings not ok: the relationship ending in 20 days, the certificate in 25.
        let attention = browser.text("#attention").await;
        assert!(
            attention.contains("Contoso - Northwind helpdesk"),
            "{attention}"
        );
        assert!(attention.contains("certificate"), "{attention}");
        let credentials = browser.text("#credentials").await;
        assert!(credentials.contains("/certificate/"), "{credentials}");
        assert_accessible(&browser, "overview").await;
        assert_no_secret(&browser, &app).await;
        screenshot(&browser, "overview").await;

        // The write role's action.
        browser.click("#run-cycle").await;
        assert!(
            browser
                .text("#requested")
                .await
                .contains("A cycle was requested")
        );
        tokio::time::timeout(Duration::from_secs(60), cycles.wait_for(|n| *n >= 2))
            .await
            .expect("the requested cycle ran")
            .unwrap();

        // Customers: both GDAP customers, searchable.
        browser.goto(&format!("{origin}/customers")).await;
        let text = browser.text("main").await;
        assert!(text.contains("Fabrikam"), "{text}");
        assert!(text.contains("Northwind"), "{text}");
        assert!(text.contains("Contoso - Fabrikam support"), "{text}");
        assert!(text.contains("Global Reader"), "{text}");
        // The app's consent and the access check, from the customer's side.
        // (Text as shown: the state badges are upper case.)
        let fabrikam = browser
            .text(&format!("[id=\"c-{FABRIKAM}\"] + dl"))
            .await
            .to_lowercase();
        assert!(fabrikam.contains("consented"), "{fabrikam}");
        assert!(fabrikam.contains("works"), "{fabrikam}");
        // The onboarding step of a customer the journal has.
        let tailspin = browser
            .text(&format!("[id=\"c-{TAILSPIN}\"] + dl"))
            .await
            .to_lowercase();
        assert!(tailspin.contains("approval"), "{tailspin}");
        assert!(tailspin.contains("3 days"), "{tailspin}");
        assert!(tailspin.contains("the customer's approval"), "{tailspin}");
        assert!(tailspin.contains("not checked yet"), "{tailspin}");
        assert_accessible(&browser, "customers").await;
        assert_no_secret(&browser, &app).await;
        screenshot(&browser, "customers").await;
        browser
            .goto(&format!("{origin}/customers?q=northwind"))
            .await;
        assert!(
            browser
                .text("#matching")
                .await
                .starts_with("1 customers match")
        );
        // Filtered by the access check's cause.
        browser
            .goto(&format!("{origin}/customers?access=works"))
            .await;
        let works = browser.text("main").await;
        assert!(works.contains("Fabrikam"), "{works}");
        assert!(!works.contains(TAILSPIN), "{works}");

        // The timeline: the refresh token's 90 days, on the SVG and in the table.
        browser.goto(&format!("{origin}/expiries")).await;
        browser.find("svg.timeline").await;
        let table = browser.text("#expiries").await;
        assert!(table.contains(PARTNER), "{table}");
        assert!(table.contains("Refresh tokens"), "{table}");
        assert!(table.contains("Contoso - Northwind helpdesk"), "{table}");
        assert!(table.contains("Certificates and secrets"), "{table}");
        assert_accessible(&browser, "expiries").await;
        screenshot(&browser, "expiries").await;

        // History, newest first.
        browser.goto(&format!("{origin}/history")).await;
        let history = browser.text("#history").await;
        assert!(history.contains("refresh_token"), "{history}");
        assert_accessible(&browser, "history").await;
        assert_no_secret(&browser, &app).await;
        screenshot(&browser, "history").await;

        // Logout ends the session.
        browser.click("#logout").await;
        browser.goto(&format!("{origin}/customers")).await;
        assert_eq!(browser.text("h1").await, "Sign in");
        browser.close().await;
        let _ = stop.send(());
    };
    let (ran, ()) = tokio::join!(service, browse);
    assert!(ran.unwrap() >= 2);
}

#[tokio::test]
async fn a_user_without_the_role_gets_403_naming_what_is_missing() {
    let app = spawn().await;
    let ctx = app.context().await;
    let watcher = watcher(&app, &ctx);
    let origin = serve(&app, &ctx, &watcher);
    watcher.cycle().await;
    let browser = launch().await;
    sign_in_to_console(&browser, &origin, NO_ROLE).await;
    assert_eq!(browser.text("#result").await, "Access denied");
    assert_eq!(browser.text("#user").await, NO_ROLE.upn);
    assert!(browser.text("#missing").await.contains("Console.Read"));
    assert_accessible(&browser, "forbidden").await;
    screenshot(&browser, "forbidden").await;
    // No session was opened.
    browser.goto(&format!("{origin}/")).await;
    assert_eq!(browser.text("h1").await, "Sign in");
    browser.close().await;
}

#[tokio::test]
async fn a_cross_site_post_of_the_action_is_refused() {
    let app = spawn().await;
    let ctx = app.context().await;
    let watcher = watcher(&app, &ctx);
    let origin = serve(&app, &ctx, &watcher);
    watcher.cycle().await;
    let browser = launch().await;
    sign_in_to_console(&browser, &origin, OPERATOR).await;
    browser.find("#run-cycle").await;

    let elsewhere = serve_cross_site_form(&origin);
    browser.goto(&format!("{elsewhere}/")).await;
    browser.click("#forged").await;
    assert_eq!(browser.text("#result").await, "Refused");
    assert!(browser.text("#why").await.contains("cross-site"));
    let shared = watcher.shared();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), shared.cycle_requested())
            .await
            .is_err(),
        "no cycle was requested"
    );
    browser.close().await;
}
