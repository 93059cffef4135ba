use common::cloud::Resource;
use common::secret::ExposeSecret;
use emulator::ResourceKind;

use crate::driver::{Browser, launch};
use crate::support::{
    ADMIN, CUSTOMER_ADMIN, CUSTOMER_TENANT, PARTNER_TENANT, Spawn, TestApp, User, spawn_app,
    spawn_app_with,
};

/// Landing page → "Grant consent" → the emulator's sign-in page.
async fn begin(browser: &Browser, app: &TestApp) {
    browser.goto(&app.url("/")).await;
    assert!(browser.text("h1").await.contains("Connect"));
    browser.click("#grant").await;
    browser.fill("#login", "").await;
    // The stock browser is on the emulator's plain-HTTP loopback sign-in page.
    let at = browser.url().await;
    assert!(
        at.starts_with(&app.emulator.sign_in_host()) && at.starts_with("http://127.0.0.1:"),
        "{at}"
    );
}

async fn sign_in(browser: &Browser, user: User) {
    browser.fill("#login", user.upn).await;
    browser.fill("#passwd", user.password).await;
    browser.click("#idSIButton9").await;
    if let Some(code) = user.mfa_code {
        browser.fill("#otc", code).await;
        browser.click("#idSubmit_SAOTCC_Continue").await;
    }
}

#[tokio::test]
async fn a_partner_admin_signs_in_with_mfa_consents_and_sees_success_with_a_working_token() {
    let app = spawn_app().await;
    let browser = launch().await;
    begin(&browser, &app).await;
    sign_in(&browser, ADMIN).await;
    let permissions = browser.text("#permissions").await;
    assert!(permissions.contains("user_impersonation"), "{permissions}");
    browser.click("#accept").await;

    assert_eq!(browser.text("#result").await, "Consent recorded");
    assert_eq!(browser.text("#tenant").await, PARTNER_TENANT);
    assert_eq!(browser.text("#user").await, ADMIN.upn);
    assert_eq!(browser.text("#mfa").await, "used");
    assert!(browser.text("#check").await.starts_with("working"));
    assert!(browser.url().await.starts_with(&app.url("/callback")));
    browser.close().await;

    let stored = app
        .stored(PARTNER_TENANT)
        .await
        .expect("the refresh token is stored");
    assert!(stored.meta.mfa);
    let token = app
        .state
        .broker
        .access_token(PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .expect("the stored token works");
    assert!(
        app.emulator
            .validate_access_token(token.expose_secret(), &[ResourceKind::PartnerCenter])
            .is_ok()
    );
}

#[tokio::test]
async fn cancelling_consent_in_the_browser_shows_that_nothing_was_granted() {
    let app = spawn_app().await;
    let browser = launch().await;
    begin(&browser, &app).await;
    sign_in(&browser, ADMIN).await;
    browser.click("#cancel").await;
    assert_eq!(browser.text("#result").await, "Consent was not granted");
    assert!(browser.text("#todo").await.contains("Accept"));
    browser.close().await;
    assert!(app.stored(PARTNER_TENANT).await.is_none());
}

#[tokio::test]
async fn another_tenants_admin_is_refused_in_csp_mode_and_nothing_is_stored() {
    let app = spawn_app().await;
    let browser = launch().await;
    begin(&browser, &app).await;
    sign_in(&browser, CUSTOMER_ADMIN).await;
    browser.click("#accept").await;
    assert_eq!(
        browser.text("#result").await,
        "This organization may not grant consent here"
    );
    assert!(browser.text("#what").await.contains(CUSTOMER_TENANT));
    browser.close().await;
    assert!(app.stored(CUSTOMER_TENANT).await.is_none());
    assert!(app.stored(PARTNER_TENANT).await.is_none());
}

#[tokio::test]
async fn a_browser_that_lost_the_cookie_is_told_to_allow_cookies_and_start_again() {
    let app = spawn_app().await;
    let browser = launch().await;
    begin(&browser, &app).await;
    let authorize_url = browser.url().await;
    // Drop the app's cookie (as a browser blocking cookies would), then finish the sign-in.
    browser.goto(&app.url("/healthz")).await;
    browser
        .client
        .delete_cookie("sam_consent")
        .await
        .expect("delete cookie");
    browser.goto(&authorize_url).await;
    sign_in(&browser, ADMIN).await;
    browser.click("#accept").await;
    assert_eq!(
        browser.text("#result").await,
        "Your browser did not keep the sign-in cookie"
    );
    assert!(browser.text("#todo").await.contains("Allow cookies"));
    browser.close().await;
    assert!(app.stored(PARTNER_TENANT).await.is_none());
}

#[tokio::test]
async fn a_form_post_response_completes_through_the_same_site_repost() {
    let app = spawn_app_with(Spawn {
        response_mode: Some("form_post".into()),
        ..Spawn::default()
    })
    .await;
    let browser = launch().await;
    begin(&browser, &app).await;
    sign_in(&browser, ADMIN).await;
    browser.click("#accept").await;
    assert_eq!(
        browser.text("#result").await,
        "Consent recorded",
        "{}",
        browser.source().await
    );
    browser.close().await;
    assert!(app.stored(PARTNER_TENANT).await.is_some());
}
