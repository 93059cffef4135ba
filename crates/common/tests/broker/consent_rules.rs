//! The grant rules of `store_consent`: a consent is stored only with MFA and after Partner
//! Center accepted a call made with it, so a weaker sign-in never replaces a working grant; an
//! authorization code is redeemed exactly once.

use std::sync::Arc;
use std::time::Duration;

use common::config::{EndpointVersion, HttpSettings};
use common::entra::AuthorizeOptions;
use common::partner_center::{PartnerCenterClient, PartnerCenterOptions};
use common::remedy::Remedy;
use common::secret::{AuthCode, ExposeSecret as _};
use common::tokens::BrokerTokens;
use common::tokens::{BrokerError, RefreshTokenStore as _, TokenBroker};
use emulator::seed::ids;
use futures::StreamExt as _;

use crate::helpers::{ADMIN, ADMIN_NO_MFA, CONSENT_PAGE, Cred, Env, spawn, spawn_with};

/// A partner non-admin user with MFA but no Partner Center role (not an Admin Agent).
const PLAIN_USER: &str = "user@contoso-partner.onmicrosoft.com";

/// A consent walked without `prompt=consent`: a user who is not an admin just signs in once
/// an admin has consented for the organization (what `consent.prompt=` gives).
async fn sign_in_without_prompt(
    env: &Env,
    broker: &TokenBroker,
    upn: &str,
) -> Result<common::tokens::ConsentRecord, BrokerError> {
    let pending = broker.consent_url(AuthorizeOptions::default());
    let code = env.sign_in(&pending, upn).await;
    broker.store_consent(AuthCode::new(code), &pending).await
}

async fn partner_center_call_works(env: &Env, broker: &TokenBroker) {
    let client = PartnerCenterClient::new(
        env.cloud.partner_center.clone(),
        env.http.clone(),
        Arc::new(BrokerTokens::new(broker.clone(), ids::PARTNER_TENANT)),
        PartnerCenterOptions::default(),
    );
    let first = client.list_customers(1, None).next().await;
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
}

#[tokio::test]
async fn a_consent_without_mfa_stores_nothing_and_names_the_remedy() {
    let env = spawn_with(|mut c| {
        // Entra lets the non-MFA sign-in through; the broker must refuse it itself.
        c.seed.partner_center.entra_requires_mfa = false;
        c
    })
    .await;
    let store = env.local_store();
    let broker = env.broker(EndpointVersion::V2, Cred::Secret, store.clone());
    let err = env.try_consent(&broker, ADMIN_NO_MFA).await.unwrap_err();
    assert!(
        matches!(err, BrokerError::ConsentWithoutMfa { .. }),
        "{err:?}"
    );
    assert_eq!(err.remedy(), Remedy::Mfa);
    assert_eq!(err.consent_page().map(url::Url::as_str), Some(CONSENT_PAGE));
    assert!(
        err.to_string()
            .contains("signed in without multi-factor authentication, so it was not stored"),
        "{err}"
    );
    assert!(store.get(ids::PARTNER_TENANT).await.unwrap().is_none());
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_non_admin_agent_consent_after_an_admins_leaves_the_admins_grant_working() {
    let env = spawn().await;
    let store = env.local_store();
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    env.consent(&broker, ADMIN).await;
    let admins = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();

    let err = sign_in_without_prompt(&env, &broker, PLAIN_USER)
        .await
        .unwrap_err();
    let BrokerError::ConsentNotVerified {
        status, transient, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*status, *transient), (Some(403), false));
    let text = err.to_string();
    assert!(
        text.contains("was not stored (any grant stored before stays in use)"),
        "{text}"
    );
    assert!(text.contains("Admin Agent"), "{text}");

    let kept = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_eq!(kept.meta.user.as_deref(), Some(ADMIN));
    assert_eq!(
        kept.refresh_token.expose_secret(),
        admins.refresh_token.expose_secret()
    );
    // A fresh process (nothing in memory) uses the stored grant: Partner Center answers.
    let fresh = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    partner_center_call_works(&env, &fresh).await;
    partner_center_call_works(&env, &broker).await;
}

#[tokio::test]
async fn a_consent_partner_center_cannot_verify_leaves_the_stored_grant() {
    let env = spawn().await;
    let store = env.local_store();
    let broker = env.broker(EndpointVersion::V2, Cred::Secret, store.clone());
    env.consent(&broker, ADMIN).await;
    // Partner Center down while a second consent is verified: the first grant stays.
    env.emu
        .inject_fault(emulator::Fault::status(emulator::Service::PartnerCenter, 503).times(10));
    let before = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    let err = env.try_consent(&broker, ADMIN).await.unwrap_err();
    assert!(
        matches!(
            err,
            BrokerError::ConsentNotVerified {
                transient: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.remedy(), Remedy::RetryLater);
    let after = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_eq!(after.meta.consented_at, before.meta.consented_at);
    assert_eq!(
        after.refresh_token.expose_secret(),
        before.refresh_token.expose_secret()
    );
}

#[tokio::test]
async fn a_code_redemption_that_times_out_is_attempted_exactly_once() {
    let env = spawn().await;
    let http = common::http::build_client(&HttpSettings {
        ca_bundle: Some(env.dir.path().join("ca.pem")),
        request_timeout: Duration::from_millis(500),
        ..HttpSettings::default()
    })
    .unwrap();
    let store = env.local_store();
    let broker = TokenBroker::new(
        env.settings(EndpointVersion::V2),
        http,
        env.credential(Cred::Secret),
        store.clone(),
    );
    let pending = broker.consent_url(AuthorizeOptions {
        prompt: Some("consent".into()),
        ..AuthorizeOptions::default()
    });
    let code = env.sign_in(&pending, ADMIN).await;
    env.emu.inject_fault(
        emulator::Fault::latency(emulator::Service::Entra, Duration::from_secs(3))
            .on_route("/oauth2/v2.0/token")
            .times(5),
    );
    let err = broker
        .store_consent(AuthCode::new(code), &pending)
        .await
        .unwrap_err();
    let BrokerError::Token(token) = &err else {
        panic!("{err:?}")
    };
    assert!(token.is_transient(), "a timeout: {err}");
    // The fault is consumed when a request arrives: 4 of 5 left means exactly one request.
    let faults: serde_json::Value = env
        .http
        .get(format!("{}_admin/faults", env.emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults[0]["times"], 4, "{faults}");
    assert!(store.get(ids::PARTNER_TENANT).await.unwrap().is_none());
}
