use base64::Engine;
use common::secret::ExposeSecret;
use partner_consent::session::PendingConsent;

use crate::support::{ADMIN, PARTNER_TENANT, code_of, spawn_app};

#[tokio::test]
async fn every_page_carries_strict_security_headers() {
    let app = spawn_app().await;
    for (method, path) in [
        ("GET", "/"),
        ("POST", "/start"),
        ("GET", "/callback?state=x"),
        ("GET", "/nope"),
    ] {
        let resp = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        // Served over plain HTTP here: HSTS must not be sent (RFC 6797 §7.2).
        assert!(h.get("strict-transport-security").is_none());
    }
}

#[tokio::test]
async fn pages_never_include_inline_script_or_external_assets() {
    let app = spawn_app().await;
    let body = app.get("/").await.text().await.unwrap();
    assert!(!body.contains("<script>"));
    assert!(
        !body.contains("http://") && !body.contains("https://"),
        "external reference:\n{body}"
    );
}

#[tokio::test]
async fn the_consent_cookie_is_httponly_lax_and_encrypted() {
    let app = spawn_app().await;
    let resp = app.client.post(app.url("/start")).send().await.unwrap();
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly"));
    assert!(set_cookie.contains("SameSite=Lax"));
    assert!(set_cookie.contains("Max-Age=600"));
    assert!(!set_cookie.contains("Secure"), "plain http here");
}

#[tokio::test]
async fn no_page_or_header_ever_shows_the_code_tokens_verifier_or_cookie_key() {
    let app = spawn_app().await;
    let (started, returned, resp) = app.consent(ADMIN).await;
    let mut seen = String::new();
    let collect = |resp: reqwest::Response| async move {
        let mut s = format!("{:?}\n", resp.headers());
        s.push_str(&resp.text().await.unwrap());
        s
    };
    seen.push_str(&collect(resp).await);
    seen.push_str(&collect(app.callback(&returned, Some(&started.cookie)).await).await);
    seen.push_str(&collect(app.get("/metrics").await).await);
    seen.push_str(&collect(app.get("/readyz").await).await);

    let code = code_of(&returned).unwrap();
    let stored = app.stored(PARTNER_TENANT).await.unwrap();
    let cookie = actix_web::cookie::Cookie::parse_encoded(started.cookie.clone())
        .unwrap()
        .into_owned();
    let pending = PendingConsent::from_cookie(
        Some(cookie),
        &app.state.cookie_key,
        partner_consent::startup::unix_now(),
    )
    .unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode(app.state.cookie_key.master());
    for (what, secret) in [
        ("authorization code", code.as_str()),
        ("refresh token", stored.refresh_token.expose_secret()),
        ("PKCE verifier", pending.verifier.expose_secret()),
        ("nonce", pending.nonce.as_str()),
        ("cookie key", key.as_str()),
    ] {
        assert!(
            !seen.contains(secret),
            "the {what} appeared in a page or header"
        );
    }
}

#[tokio::test]
async fn start_and_callback_are_rate_limited_per_client_with_a_clear_429_page() {
    use std::num::NonZeroU32;
    let app = crate::support::spawn_app_with(crate::support::Spawn {
        rate_limit: partner_consent::limits::RateLimit {
            per_minute: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(3).unwrap(),
        },
        ..crate::support::Spawn::default()
    })
    .await;
    for _ in 0..3 {
        let resp = app.client.post(app.url("/start")).send().await.unwrap();
        assert_eq!(resp.status(), 303);
    }
    let limited = app.client.post(app.url("/start")).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.headers()["cache-control"], "no-store");
    let body = limited.text().await.unwrap();
    assert!(body.contains("Too many attempts"), "{body}");
    assert!(
        body.contains(&format!("Wait {retry_after} seconds")),
        "{body}"
    );
    // The callback shares the client's budget: a flood of junk callbacks is refused before
    // anything is decrypted or redeemed.
    let callback = app.get("/callback?code=x&state=y").await;
    assert_eq!(callback.status(), 429);
    assert_eq!(app.emulator.counter("entra.token"), 0);
    assert_eq!(
        app.metric("consent_failures_total{reason=\"rate_limited\"}")
            .await,
        2
    );
    // Other pages are not limited.
    assert_eq!(app.get("/").await.status(), 200);
}

/// Behind a proxy every client shares one budget: once it is spent, the callback of a consent
/// started here still completes (its code is single-use), exactly once; a replay of the same
/// cookie, and junk without one, are refused as before.
#[tokio::test]
async fn a_started_consent_finishes_when_the_shared_budget_is_spent() {
    use std::num::NonZeroU32;
    let app = crate::support::spawn_app_with(crate::support::Spawn {
        rate_limit: partner_consent::limits::RateLimit {
            per_minute: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(2).unwrap(),
        },
        ..crate::support::Spawn::default()
    })
    .await;
    let started = app.start().await;
    // Someone else behind the same address spends what is left of the budget.
    assert_eq!(app.get("/callback?code=x&state=y").await.status(), 400);
    assert_eq!(app.get("/callback?code=x&state=y").await.status(), 429);
    let returned = app
        .sign_in(
            &started.authorize_url,
            ADMIN,
            crate::support::Decision::Accept,
        )
        .await;
    let resp = app.callback(&returned, Some(&started.cookie)).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert!(app.stored(PARTNER_TENANT).await.is_some());
    // The same cookie again is an ordinary (limited) request.
    let replay = app.callback(&returned, Some(&started.cookie)).await;
    assert_eq!(replay.status(), 429);
}

/// Behind a trusted ingress (`consent.trusted_proxy_hops = 1`) each client has its own budget,
/// named by the address the ingress appended; untrusted, the headers change nothing.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    use std::num::NonZeroU32;
    let limit = partner_consent::limits::RateLimit {
        per_minute: NonZeroU32::new(1).unwrap(),
        burst: NonZeroU32::new(1).unwrap(),
    };
    let start_from = |app: &crate::support::TestApp, client: &'static str| {
        let request = app
            .client
            .post(app.url("/start"))
            // A client-chosen first entry, then what the ingress saw.
            .header("x-forwarded-for", format!("192.0.2.99, {client}"));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let behind = crate::support::spawn_app_with(crate::support::Spawn {
        rate_limit: limit,
        trusted_proxy_hops: 1,
        ..crate::support::Spawn::default()
    })
    .await;
    assert_eq!(start_from(&behind, "198.51.100.1").await, 303);
    assert_eq!(start_from(&behind, "198.51.100.2").await, 303);
    assert_eq!(start_from(&behind, "198.51.100.1").await, 429);

    let untrusted = crate::support::spawn_app_with(crate::support::Spawn {
        rate_limit: limit,
        ..crate::support::Spawn::default()
    })
    .await;
    assert_eq!(start_from(&untrusted, "198.51.100.1").await, 303);
    assert_eq!(start_from(&untrusted, "198.51.100.2").await, 429);
}
