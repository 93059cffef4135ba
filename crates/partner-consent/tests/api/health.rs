use emulator::{Fault, Service};

use crate::support::spawn_app;

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
async fn readyz_names_an_unavailable_authority() {
    let app = spawn_app().await;
    app.emulator
        .inject_fault(Fault::status(Service::Entra, 503).on_route("openid-configuration"));
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 503);
    let body = resp.text().await.unwrap();
    assert!(body.contains("Entra authority"), "{body}");
    assert!(body.contains("HTTP 503"), "{body}");
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
