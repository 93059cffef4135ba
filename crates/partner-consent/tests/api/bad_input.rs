use partner_consent::session::PendingConsent;

use crate::support::{
    ADMIN, Decision, PARTNER_TENANT, Returned, Spawn, TestApp, code_of, spawn_app, spawn_app_with,
};

/// The app with `consent.sign_in_flow = "code"`: a query-string return carrying only the code
/// (the hybrid flow's own checks are in `hybrid.rs`).
async fn spawn_code_flow() -> TestApp {
    spawn_app_with(Spawn {
        sign_in_flow: "code",
        ..Spawn::default()
    })
    .await
}

async fn assert_refused(app: &TestApp, resp: reqwest::Response, status: u16, text: &str) -> String {
    assert_eq!(resp.status(), status, "status");
    let body = resp.text().await.unwrap();
    assert!(body.contains(text), "expected {text:?} in:\n{body}");
    assert!(
        app.stored(PARTNER_TENANT).await.is_none(),
        "nothing may be stored"
    );
    body
}

/// A real sign-in's return, not yet delivered to the callback.
async fn signed_in(app: &TestApp) -> (crate::support::Started, Returned) {
    let started = app.start().await;
    let returned = app
        .sign_in(&started.authorize_url, ADMIN, Decision::Accept)
        .await;
    (started, returned)
}

#[tokio::test]
async fn a_callback_without_the_cookie_says_cookies_are_needed_and_redeems_nothing() {
    let app = spawn_code_flow().await;
    let (_, returned) = signed_in(&app).await;
    let resp = app.callback(&returned, None).await;
    assert_refused(
        &app,
        resp,
        400,
        "Your browser did not keep the sign-in cookie",
    )
    .await;
    assert_eq!(app.emulator.counter("entra.token.authorization_code"), 0);
}

#[tokio::test]
async fn a_forged_cookie_is_refused() {
    let app = spawn_app().await;
    let (_, returned) = signed_in(&app).await;
    let resp = app
        .callback(&returned, Some("sam_consent=Zm9yZ2VkLWNvb2tpZS12YWx1ZQ=="))
        .await;
    assert_refused(&app, resp, 400, "The sign-in cookie is not valid").await;
}

#[tokio::test]
async fn a_cookie_older_than_ten_minutes_is_refused() {
    let app = spawn_app().await;
    let (started, returned) = signed_in(&app).await;
    let old = PendingConsent {
        state: started.state.clone(),
        nonce: "n".repeat(32),
        verifier: common::secret::CodeVerifier::new("v".repeat(43)),
        issued_at: partner_consent::startup::unix_now() - 700,
    }
    .to_cookie(&app.state.cookie_key, false);
    let cookie = format!("sam_consent={}", old.value());
    let resp = app.callback(&returned, Some(&cookie)).await;
    assert_refused(&app, resp, 400, "longer than ten minutes").await;
}

#[tokio::test]
async fn a_callback_without_state_is_refused() {
    let app = spawn_app().await;
    let (started, returned) = signed_in(&app).await;
    let code = code_of(&returned).unwrap();
    let url = format!("{}?code={}", app.url("/callback"), urlencode(&code));
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_refused(&app, resp, 400, "carried no state value").await;
    assert_eq!(app.emulator.counter("entra.token.authorization_code"), 0);
}

#[tokio::test]
async fn a_forged_state_is_refused_and_the_code_is_never_redeemed() {
    let app = spawn_app().await;
    let (started, returned) = signed_in(&app).await;
    let code = code_of(&returned).unwrap();
    let url = format!(
        "{}?code={}&state=forged-state-value",
        app.url("/callback"),
        urlencode(&code)
    );
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_refused(
        &app,
        resp,
        400,
        "does not match the sign-in started in this browser",
    )
    .await;
    assert_eq!(app.emulator.counter("entra.token.authorization_code"), 0);
}

#[tokio::test]
async fn a_forged_state_does_not_cancel_the_consent_in_progress() {
    let app = spawn_app().await;
    let (started, returned) = signed_in(&app).await;
    // A cross-site link carrying a forged state, followed in the admin's browser.
    let forged = app
        .client
        .get(format!("{}?code=x&state=forged", app.url("/callback")))
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(
        forged.headers().get("set-cookie").is_none(),
        "the pending-consent cookie must not be cleared"
    );
    // The real callback still completes with the same cookie.
    let real = app.callback(&returned, Some(&started.cookie)).await;
    assert_eq!(real.status(), 200);
    assert!(app.stored(PARTNER_TENANT).await.is_some());
}

#[tokio::test]
async fn a_state_from_another_sign_in_is_refused() {
    let app = spawn_app().await;
    let (_, returned) = signed_in(&app).await;
    let other = app.start().await;
    let resp = app.callback(&returned, Some(&other.cookie)).await;
    assert_refused(
        &app,
        resp,
        400,
        "does not match the sign-in started in this browser",
    )
    .await;
}

#[tokio::test]
async fn a_replayed_callback_shows_the_same_result_and_redeems_nothing_again() {
    let app = spawn_app().await;
    let (started, returned) = signed_in(&app).await;
    let first = app.callback(&returned, Some(&started.cookie)).await;
    assert_eq!(first.status(), 200);
    let first_page = first.text().await.unwrap();
    let stored = app
        .stored(PARTNER_TENANT)
        .await
        .expect("first consent stored");
    // A reload of the result page (the browser kept the cookie) gets the same page: the code is
    // not sent to Entra again, so nothing new is redeemed or stored.
    let replay = app.callback(&returned, Some(&started.cookie)).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.text().await.unwrap(), first_page);
    let after = app.stored(PARTNER_TENANT).await.expect("still stored");
    assert_eq!(after.meta.consented_at, stored.meta.consented_at);
    assert_eq!(after.refresh_token, stored.refresh_token);
    assert_eq!(
        app.metric("token_redemptions_total{grant=\"authorization_code\",result=\"ok\"}")
            .await,
        1
    );
    assert_eq!(
        app.metric("consent_failures_total{reason=\"code_rejected\"}")
            .await,
        0
    );
}

#[tokio::test]
async fn an_error_redirect_with_html_in_error_description_is_shown_escaped() {
    let app = spawn_app().await;
    let started = app.start().await;
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";
    let url = format!(
        "{}?error=access_denied&error_description={}&state={}",
        app.url("/callback"),
        urlencode(evil),
        urlencode(&started.state)
    );
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    let body = assert_refused(&app, resp, 403, "Consent was not granted").await;
    assert!(!body.contains("<script>alert"), "reflected script:\n{body}");
    assert!(!body.contains("<img src=x"), "reflected markup:\n{body}");
    assert!(
        body.contains("alert(1)"),
        "the description is shown, escaped:\n{body}"
    );
    assert!(body.contains("script&"), "escaped as an entity:\n{body}");
}

#[tokio::test]
async fn an_error_redirect_with_an_unknown_error_code_is_shown_escaped_with_a_generic_page() {
    let app = spawn_app().await;
    let started = app.start().await;
    let url = format!(
        "{}?error=%3Cb%3Ebold%3C%2Fb%3E&error_description=x&state={}",
        app.url("/callback"),
        urlencode(&started.state)
    );
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    let body = assert_refused(&app, resp, 400, "Microsoft Entra ID reported an error").await;
    assert!(!body.contains("<b>bold"), "{body}");
    assert!(body.contains("bold"), "{body}");
}

#[tokio::test]
async fn an_error_redirect_with_a_forged_state_shows_the_state_page_not_the_error() {
    let app = spawn_app().await;
    let started = app.start().await;
    let url = format!(
        "{}?error=access_denied&error_description=Call+0800+FAKE+SUPPORT&state=forged",
        app.url("/callback")
    );
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    let body = assert_refused(&app, resp, 400, "does not belong to your session").await;
    assert!(!body.contains("FAKE SUPPORT"));
}

#[tokio::test]
async fn oversized_parameters_are_refused_with_a_page() {
    let app = spawn_app().await;
    let started = app.start().await;
    let big = "A".repeat(10 * 1024);
    let url = format!(
        "{}?code={big}&state={}",
        app.url("/callback"),
        urlencode(&started.state)
    );
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_refused(&app, resp, 400, "malformed or too large").await;

    let body = format!("code={}&state=x", "B".repeat(64 * 1024));
    let resp = app
        .client
        .post(app.url("/callback"))
        .header("cookie", &started.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_refused(&app, resp, 400, "malformed or too large").await;
    assert_eq!(app.emulator.counter("entra.token.authorization_code"), 0);
}

#[tokio::test]
async fn duplicated_or_too_many_parameters_are_refused() {
    let app = spawn_app().await;
    let started = app.start().await;
    let url = format!("{}?state=a&state=b&code=c", app.url("/callback"));
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_refused(&app, resp, 400, "malformed or too large").await;
    let many: Vec<String> = (0..40).map(|i| format!("p{i}=1")).collect();
    let url = format!("{}?{}", app.url("/callback"), many.join("&"));
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_refused(&app, resp, 400, "malformed or too large").await;
}

#[tokio::test]
async fn unknown_parameters_are_ignored_and_the_consent_completes() {
    let app = spawn_code_flow().await;
    let (started, returned) = signed_in(&app).await;
    let Returned::Query(mut url) = returned else {
        panic!("query expected")
    };
    url.query_pairs_mut()
        .append_pair("surprise", "<script>x</script>")
        .append_pair("admin_consent", "True");
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(body.contains("Consent recorded"));
    assert!(!body.contains("<script>x"));
}

#[tokio::test]
async fn a_callback_with_neither_code_nor_error_is_refused() {
    let app = spawn_app().await;
    let started = app.start().await;
    let url = format!(
        "{}?state={}",
        app.url("/callback"),
        urlencode(&started.state)
    );
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_refused(&app, resp, 400, "carried no authorization code").await;
}

#[tokio::test]
async fn a_garbage_code_with_a_valid_state_is_refused_by_entra_and_stores_nothing() {
    let app = spawn_code_flow().await;
    let started = app.start().await;
    let url = format!(
        "{}?code=not-a-code&state={}",
        app.url("/callback"),
        urlencode(&started.state)
    );
    let resp = app
        .client
        .get(url)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_refused(&app, resp, 400, "already been used or has expired").await;
}

#[tokio::test]
async fn start_ignores_redirect_parameters_so_there_is_no_open_redirect() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/start?redirect_uri=https%3A%2F%2Fevil.example%2F&return_to=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&app.emulator.sign_in_host()),
        "{location}"
    );
    assert!(!location.contains("evil.example"), "{location}");
}

#[tokio::test]
async fn an_unknown_path_is_a_404_page_that_does_not_echo_the_path() {
    let app = spawn_app().await;
    let resp = app.get("/%3Cscript%3Ealert(1)%3C/script%3E").await;
    assert_eq!(resp.status(), 404);
    let body = resp.text().await.unwrap();
    assert!(body.contains("Page not found"));
    assert!(!body.contains("alert(1)"));
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
