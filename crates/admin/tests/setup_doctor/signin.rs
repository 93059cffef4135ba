//! The admin's browser sign-in (`--sign-in browser`): on `entra.sign_in_host`, on any loopback
//! port (Entra ignores a loopback redirect URI's port), and never waiting forever.

use std::time::{Duration, Instant};

use admin::setup::{SignInSettings, rules, signin};
use emulator::EmulatorConfig;
use emulator::browser::ConsentAnswer;
use emulator::seed::ids;
use url::Url;

use crate::helpers::{self, ADMIN};

#[tokio::test]
async fn a_browser_sign_in_on_a_free_loopback_port_completes_at_the_sign_in_host() {
    let env = helpers::spawn_with(EmulatorConfig {
        seed: helpers::empty_partner_seed(),
        sign_in_port: Some(0),
        ..EmulatorConfig::default()
    })
    .await;
    let sign_in_host = Url::parse(&env.emu.sign_in_host()).unwrap();
    assert_ne!(sign_in_host.origin(), env.cloud.authority_host.origin());
    let settings =
        SignInSettings::for_cloud(&env.cloud, ids::PARTNER_TENANT, rules::SIGN_IN_CLIENT_ID)
            .with_sign_in_host(Some(sign_in_host.clone()))
            .with_browser_timeout(Duration::from_secs(60));
    let (opened, url) = tokio::sync::oneshot::channel::<Url>();
    // The admin's browser: opens the URL, signs in, follows the redirect to the listener.
    let browser = async {
        let url = url.await.unwrap();
        assert!(
            url.as_str()
                .starts_with(sign_in_host.as_str().trim_end_matches('/')),
            "the browser goes to entra.sign_in_host: {url}"
        );
        let back = env
            .emu
            .sign_in(&env.http, &url, ADMIN, ConsentAnswer::Accept)
            .await
            .unwrap();
        assert!(
            back.as_str().starts_with("http://localhost:") && back.port() != Some(80),
            "{back}"
        );
        env.http
            .get(back)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let (session, page) = tokio::join!(
        signin::sign_in_browser(&env.http, &settings, |url| {
            opened.send(url.clone()).unwrap();
        }),
        browser
    );
    assert!(page.contains("Signed in"), "{page}");
    let session = session.unwrap();
    assert_eq!(session.tenant_id, ids::PARTNER_TENANT);
    assert_eq!(session.user.as_deref(), Some(ADMIN));
}

#[tokio::test]
async fn a_browser_sign_in_that_never_returns_ends_with_a_message_within_its_timeout() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let settings =
        SignInSettings::for_cloud(&env.cloud, ids::PARTNER_TENANT, rules::SIGN_IN_CLIENT_ID)
            .with_browser_timeout(Duration::from_secs(1));
    let started = Instant::now();
    // Nobody opens the URL.
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        signin::sign_in_browser(&env.http, &settings, |_| {}),
    )
    .await
    .expect("the sign-in ends by itself");
    let elapsed = started.elapsed();
    let message = result.unwrap_err().to_string();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    assert!(
        message.contains("did not come back within 1s")
            && message.contains("--sign-in-timeout")
            && message.contains("--sign-in device-code"),
        "{message}"
    );
}
