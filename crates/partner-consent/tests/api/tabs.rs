//! A consent in progress is not replaced silently (another tab, a link, a cross-site form).

use crate::support::{ADMIN, PARTNER_TENANT, spawn_app};

fn set_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sam_consent="))
        .map(str::to_owned)
}

#[tokio::test]
async fn a_second_start_in_the_same_browser_asks_before_replacing_the_first() {
    let app = spawn_app().await;
    let first = app.start().await;
    // A second tab (or a link to GET /start) in the same browser: the cookie is sent.
    for request in [
        app.client.post(app.url("/start")),
        app.client.get(app.url("/start")),
    ] {
        let resp = request
            .header("cookie", &first.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(set_cookie(&resp).is_none(), "the open consent was replaced");
        let body = resp.text().await.unwrap();
        assert!(body.contains("already in progress"), "{body}");
        assert!(body.contains("name=\"restart\" value=\"1\""), "{body}");
    }
    // The landing page says so, and its button starts over knowingly.
    let landing = app
        .client
        .get(app.url("/"))
        .header("cookie", &first.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(landing.contains("id=\"in-progress\""), "{landing}");
    // The first tab still completes.
    let returned = app
        .sign_in(
            &first.authorize_url,
            ADMIN,
            crate::support::Decision::Accept,
        )
        .await;
    let resp = app.callback(&returned, Some(&first.cookie)).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert!(app.stored(PARTNER_TENANT).await.is_some());
    // Without an open consent the landing page has no notice.
    let landing = app.get("/").await.text().await.unwrap();
    assert!(!landing.contains("id=\"in-progress\""), "{landing}");
}

#[tokio::test]
async fn start_over_replaces_the_open_consent_on_request() {
    let app = spawn_app().await;
    let first = app.start().await;
    let resp = app
        .client
        .post(app.url("/start"))
        .header("cookie", &first.cookie)
        .form(&[("restart", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(set_cookie(&resp).is_some());
}

#[tokio::test]
async fn a_cross_site_post_starts_nothing_and_goes_to_the_landing_page() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/start"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/");
    assert!(set_cookie(&resp).is_none());
    assert_eq!(
        app.metric("consent_started_total").await,
        0,
        "a cross-site form started a consent"
    );
    // A same-site POST (the landing page's button) starts as before.
    let resp = app
        .client
        .post(app.url("/start"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(set_cookie(&resp).is_some());
}
