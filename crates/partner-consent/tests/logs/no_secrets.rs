//! Its own test binary: the global log subscriber captures this suite's logs only.

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::config::LogFormat;
use common::secret::ExposeSecret;
use partner_consent::session::PendingConsent;

use crate::support::{ADMIN, PARTNER_TENANT, code_of, spawn_app};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn trace_logs_of_a_consent_and_a_replay_never_contain_the_code_tokens_or_verifier() {
    let capture = Capture::default();
    let writer = capture.clone();
    common::telemetry::init_with_writer(
        LogFormat::Json,
        "partner_consent=trace,common=trace,tracing_actix_web=trace,actix_web=trace",
        move || writer.clone(),
    );
    let app = spawn_app().await;
    let (started, returned, resp) = app.consent(ADMIN).await;
    assert_eq!(resp.status(), 200);
    // A reload gets the first run's page (nothing is sent again) ...
    let replay = app.callback(&returned, Some(&started.cookie)).await;
    assert_eq!(replay.status(), 200);
    // ... and the spent code under a new sign-in's state is refused (the hybrid flow wants the
    // ID token issued with it): the failure path is logged too.
    let again = app.start().await;
    let mut url = app.url("/callback");
    url.push_str(&format!(
        "?code={}&state={}",
        url::form_urlencoded::byte_serialize(code_of(&returned).unwrap().as_bytes())
            .collect::<String>(),
        url::form_urlencoded::byte_serialize(again.state.as_bytes()).collect::<String>()
    ));
    let refused = app
        .client
        .get(url)
        .header("cookie", &again.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("consent completed"),
        "the flow was logged:\n{logs}"
    );
    let code = code_of(&returned).unwrap();
    let stored = app.stored(PARTNER_TENANT).await.unwrap();
    let cookie = actix_web::cookie::Cookie::parse_encoded(started.cookie.clone())
        .unwrap()
        .into_owned();
    let pending = PendingConsent::from_cookie(
        Some(cookie.clone()),
        &app.state.cookie_key,
        partner_consent::startup::unix_now(),
    )
    .unwrap();
    for (what, secret) in [
        ("authorization code", code.as_str()),
        ("refresh token", stored.refresh_token.expose_secret()),
        ("PKCE verifier", pending.verifier.expose_secret()),
        ("state cookie", cookie.value()),
    ] {
        assert!(!logs.contains(secret), "the {what} appeared in the logs");
    }
}
