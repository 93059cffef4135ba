use emulator::{Fault, Service};

use std::time::Duration;

use crate::support::{Spawn, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_says_ok() {
    let app = spawn_app().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn readyz_is_ready_when_the_store_and_the_authority_answer() {
    let app = spawn_app().await;
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ready\n");
}

#[tokio::test]
async fn readyz_answers_an_unavailable_authority_with_status_only() {
    let app = spawn_app().await;
    app.emulator
        .inject_fault(Fault::status(Service::Entra, 503).on_route("openid-configuration"));
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 503);
    // What failed (hosts, paths, vault names) goes to the log, never to an anonymous caller.
    assert_eq!(resp.text().await.unwrap(), "not ready\n");
}

#[tokio::test]
async fn ten_thousand_anonymous_readyz_requests_cost_one_probe_per_interval() {
    use futures::StreamExt as _;
    let app = spawn_app_with(Spawn {
        readyz_cache: Duration::from_secs(3600),
        ..Spawn::default()
    })
    .await;
    let discovery = || app.emulator.counter("entra.openid_configuration");
    let before = discovery();
    let statuses: Vec<u16> = futures::stream::iter(0..10_000)
        .map(|_| async { app.get("/readyz").await.status().as_u16() })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    // One probe (one store read, one metadata fetch) served all 10,000.
    assert_eq!(discovery() - before, 1);
    assert_eq!(app.state.readiness.probes(), 1);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_consents_failures_and_redemptions() {
    let app = spawn_app().await;
    app.consent(crate::support::ADMIN).await;
    let resp = app.get("/callback?state=x").await;
    assert_eq!(resp.status(), 400);
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    for line in [
        "# TYPE consent_completed_total counter",
        "consent_started_total 1",
        "consent_completed_total 1",
        "consent_failures_total{reason=\"cookie_missing\"} 1",
        "token_redemptions_total{grant=\"authorization_code\",result=\"ok\"} 1",
        "token_redemptions_total{grant=\"refresh_token\",result=\"ok\"} 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

/// `consent.internal_listen`: probes and counters answer only on the internal address, which
/// serves nothing else but `/healthz`; the public address answers them 404.
#[tokio::test]
async fn probes_and_metrics_answer_only_on_the_internal_address() {
    let app = spawn_app_with(Spawn {
        internal_listen: true,
        ..Spawn::default()
    })
    .await;
    let internal = app.internal.clone().expect("an internal listener");
    let status = |url: String| {
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(format!("{internal}/readyz")).await, 200);
    assert_eq!(status(format!("{internal}/metrics")).await, 200);
    assert_eq!(status(format!("{internal}/healthz")).await, 200);
    assert_eq!(status(format!("{internal}/")).await, 404);
    assert_eq!(status(format!("{internal}/start")).await, 404);
    assert_eq!(status(app.url("/readyz")).await, 404);
    assert_eq!(status(app.url("/metrics")).await, 404);
    assert_eq!(status(app.url("/healthz")).await, 200);
    assert_eq!(status(app.url("/")).await, 200);
}

/// The public listener refuses the internal routes however their path is spelled: the router
/// decodes `%6d` to `m`, so the check compares the path the router matches, not the raw one.
#[tokio::test]
async fn internal_routes_stay_internal_under_percent_encoded_paths() {
    let app = spawn_app_with(Spawn {
        internal_listen: true,
        ..Spawn::default()
    })
    .await;
    let internal = app.internal.clone().expect("an internal listener");
    let status = |url: String| {
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    for path in [
        "/%6detrics",
        "/%6D%65trics",
        "/%72eadyz",
        "/ready%7a",
        "/%6d%65%74%72%69%63%73",
    ] {
        assert_eq!(status(app.url(path)).await, 404, "public {path}");
        // The internal listener still serves its probes however they are spelled.
        assert_eq!(
            status(format!("{internal}{path}")).await,
            200,
            "internal {path}"
        );
    }
    // And the public routes are not reachable on the internal listener by an encoded spelling.
    assert_eq!(status(format!("{internal}/%73tart")).await, 404);
}
