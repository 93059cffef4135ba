//! Microsoft's own sign-in flow in a stock browser, and MFA asked for instead of a sign-in loop.

use crate::driver::{Browser, launch};
use crate::support::{ADMIN, PARTNER_TENANT, Spawn, TestApp, User, spawn_app, spawn_app_with};

/// Landing page → "Grant consent" → the emulator's sign-in page; the authorize request's query.
async fn begin(browser: &Browser, app: &TestApp) -> std::collections::HashMap<String, String> {
    browser.goto(&app.url("/")).await;
    browser.click("#grant").await;
    browser.fill("#login", "").await;
    let at = url::Url::parse(&browser.url().await).expect("URL");
    at.query_pairs().into_owned().collect()
}

/// Password; then the MFA code only when the emulator asks for it. Whether it asked.
async fn sign_in(browser: &Browser, user: User) -> bool {
    browser.fill("#login", user.upn).await;
    browser.fill("#passwd", user.password).await;
    browser.click("#idSIButton9").await;
    // The next page is the MFA page or the consent page.
    let page = browser.find("#otc, #accept").await;
    let asked = page.attr("id").await.ok().flatten().as_deref() == Some("otc");
    if asked {
        browser
            .fill("#otc", user.mfa_code.expect("an MFA method"))
            .await;
        browser.click("#idSubmit_SAOTCC_Continue").await;
    }
    asked
}

#[tokio::test]
async fn the_hybrid_flow_completes_in_a_stock_browser() {
    let app = spawn_app().await;
    let browser = launch().await;
    let q = begin(&browser, &app).await;
    assert_eq!(q["response_type"], "code id_token");
    assert_eq!(q["response_mode"], "form_post");
    assert_eq!(q["amr_values"], "mfa");
    assert!(sign_in(&browser, ADMIN).await);
    browser.click("#accept").await;
    assert_eq!(
        browser.text("#result").await,
        "Consent recorded",
        "{}",
        browser.source().await
    );
    assert_eq!(browser.text("#mfa").await, "used");
    browser.close().await;
    assert!(app.stored(PARTNER_TENANT).await.expect("stored").meta.mfa);
}

/// An admin agent with an MFA method, and no policy that demands MFA.
fn no_policy(version: &'static str) -> Spawn {
    Spawn {
        endpoint_version: version,
        mfa_policies: Some(Vec::new()),
        entra_requires_mfa: false,
        ..Spawn::default()
    }
}

#[tokio::test]
async fn without_a_policy_v1_asks_for_mfa_and_v2_says_which_policy_is_missing() {
    // Asked (v1, amr_values=mfa): Entra challenges MFA, the consent is recorded.
    let app = spawn_app_with(no_policy("v1")).await;
    let browser = launch().await;
    begin(&browser, &app).await;
    assert!(sign_in(&browser, ADMIN).await, "MFA was asked for");
    browser.click("#accept").await;
    assert_eq!(browser.text("#result").await, "Consent recorded");
    browser.close().await;

    // Not asked (v2 cannot): no MFA page, and a page that ends the loop by naming the fix.
    let app = spawn_app_with(no_policy("v2")).await;
    let browser = launch().await;
    let q = begin(&browser, &app).await;
    assert!(!q.contains_key("amr_values"));
    assert!(!sign_in(&browser, ADMIN).await, "Entra did not ask");
    browser.click("#accept").await;
    assert_eq!(
        browser.text("#result").await,
        "Multi-factor authentication is required"
    );
    let todo = browser.text("#todo").await;
    assert!(todo.contains("Signing in again will not help"), "{todo}");
    assert!(todo.contains("Conditional Access policy"), "{todo}");
    browser.close().await;
    assert!(app.stored(PARTNER_TENANT).await.is_none());
}
