//! Entra refusals mapped to what a person must do.

use std::time::Duration;

use common::cloud::Resource;
use common::config::EndpointVersion;
use common::remedy::Remedy;
use common::tokens::{BrokerError, TokenBroker};
use emulator::seed::ids;

use crate::helpers::{ADMIN, ADMIN_NO_MFA, CONSENT_PAGE, Cred, Env, spawn};

#[tokio::test]
async fn redeem_fails_with_reconsent_required_when_refresh_token_expired() {
    let env = spawn().await;
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, env.local_store());
    env.consent(&broker, ADMIN).await;
    env.emu.advance_clock(Duration::from_secs(91 * 24 * 3600));
    let err = broker
        .access_token(ids::PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BrokerError::ReconsentRequired { .. }),
        "{err:?}"
    );
    assert_eq!(err.remedy(), Remedy::Reconsent);
    assert_eq!(err.consent_page().unwrap().as_str(), CONSENT_PAGE);
    let text = err.to_string();
    assert!(
        text.contains("re-consent needed for partner tenant 10000000-0000-4000-8000-000000000001"),
        "{text}"
    );
    assert!(text.contains("AADSTS700082"), "{text}");
    assert!(
        text.contains(&format!("consent again at {CONSENT_PAGE}")),
        "{text}"
    );
    assert!(text.contains("trace ID"), "{text}");
    // invalid_grant is not retried.
    assert_eq!(env.emu.counter("entra.token.refresh_token"), 1);
}

#[tokio::test]
async fn revoked_sessions_require_reconsent() {
    let env = spawn().await;
    let broker = env.broker(EndpointVersion::V2, Cred::Secret, env.local_store());
    env.consent(&broker, ADMIN).await;
    // Entra compares whole seconds: make the revocation strictly later than the sign-in.
    env.emu.advance_clock(Duration::from_secs(5));
    assert!(env.emu.revoke_user_sessions(ADMIN));
    let err = broker
        .access_token(ids::PARTNER_TENANT, Resource::Graph)
        .await
        .unwrap_err();
    assert_eq!(err.remedy(), Remedy::Reconsent, "{err}");
    assert!(err.to_string().contains("AADSTS50173"), "{err}");
}

#[tokio::test]
async fn a_customer_without_gdap_access_reports_no_delegated_access() {
    let env = spawn().await;
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, env.local_store());
    env.consent(&broker, ADMIN).await;
    let err = broker
        .access_token(ids::CUSTOMER_TAILSPIN, Resource::Graph)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::NoDelegatedAccess { customer, .. } if customer == ids::CUSTOMER_TAILSPIN),
        "{err:?}"
    );
    assert_eq!(err.remedy(), Remedy::GdapAccess);
}

#[tokio::test]
async fn a_consent_without_mfa_reports_mfa_required() {
    let env = spawn().await;
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, env.local_store());
    let err = env.try_consent(&broker, ADMIN_NO_MFA).await.unwrap_err();
    assert_eq!(err.remedy(), Remedy::Mfa, "{err}");
    assert!(err.to_string().contains("AADSTS50076"), "{err}");
}

#[tokio::test]
async fn a_wrong_client_secret_reports_fix_credential_without_retrying() {
    let env = spawn().await;
    let mut settings = env.settings(EndpointVersion::V2);
    settings.store_attempts = 1;
    let broker = common::tokens::TokenBroker::new(
        settings,
        env.http.clone(),
        common::entra::ClientCredential::Secret(common::secret::ClientSecret::new("wrong")),
        env.local_store(),
    );
    let err = broker
        .app_only_token(ids::PARTNER_TENANT, Resource::Graph)
        .await
        .unwrap_err();
    assert_eq!(err.remedy(), Remedy::FixCredential, "{err}");
    let entra = match &err {
        BrokerError::Token(t) => t.entra().unwrap().clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(entra.error, "invalid_client");
    assert!(entra.has_code(7_000_215));
    assert_eq!(env.emu.counter("entra.token"), 1);
}

#[tokio::test]
async fn no_stored_consent_reports_not_consented_with_the_consent_page() {
    let env = spawn().await;
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, env.local_store());
    let err = broker
        .access_token(ids::PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no consent is stored for partner tenant 10000000-0000-4000-8000-000000000001: an admin agent must consent at {CONSENT_PAGE}"
        )
    );
    assert_eq!(env.emu.counter("entra.token"), 0);
}

#[tokio::test]
async fn server_errors_are_retried_honouring_retry_after() {
    let env = spawn().await;
    let broker = env.broker(EndpointVersion::V2, Cred::Secret, env.local_store());
    env.emu.inject_fault(
        emulator::Fault::status(emulator::Service::Entra, 503)
            .on_route("/oauth2/v2.0/token")
            .retry_after(1)
            .times(2),
    );
    let started = std::time::Instant::now();
    broker
        .app_only_token(ids::PARTNER_TENANT, Resource::Graph)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited Retry-After twice"
    );
}

/// The broker's error for one token request that Entra answers with AADSTS`code` (injected on
/// the next request whose path contains `route`).
async fn refused_once(
    env: &Env,
    broker: &TokenBroker,
    code: u32,
    route: impl Into<String>,
    tenant: &str,
    resource: Resource,
) -> BrokerError {
    env.emu
        .inject_fault(emulator::Fault::entra_error(code).on_route(route).times(1));
    broker.access_token(tenant, resource).await.unwrap_err()
}

/// Policy decisions of the tenant, as Entra answers them (injected: the tenant's Conditional
/// Access configuration decides them), each mapped to what a person must do.
#[tokio::test]
async fn conditional_access_sign_in_frequency_mfa_gdap_customer_consent_and_missing_resources_each_name_their_remedy()
 {
    let env = spawn().await;
    let broker = env.broker(EndpointVersion::V2, Cred::Secret, env.local_store());
    env.consent(&broker, ADMIN).await;

    // AADSTS53003: blocked by Conditional Access. Consenting again would not help.
    let err = refused_once(
        &env,
        &broker,
        53003,
        "/token",
        ids::PARTNER_TENANT,
        Resource::PartnerCenter,
    )
    .await;
    assert_eq!(err.remedy(), Remedy::ConditionalAccess, "{err}");
    assert!(!err.remedy().needs_consent());
    assert!(err.to_string().contains("AADSTS53003"), "{err}");
    assert!(
        Remedy::ConditionalAccess
            .advice()
            .unwrap()
            .contains("sign-in logs"),
    );

    // AADSTS70043: sign-in frequency ended the grant: consent again, and exempt the app.
    let err = refused_once(
        &env,
        &broker,
        70043,
        "/token",
        ids::PARTNER_TENANT,
        Resource::Graph,
    )
    .await;
    assert!(
        matches!(err, BrokerError::ReconsentRequired { .. }),
        "{err:?}"
    );
    assert_eq!(err.remedy(), Remedy::SignInFrequency, "{err}");
    assert!(err.remedy().needs_consent());
    assert_eq!(err.consent_page().unwrap().as_str(), CONSENT_PAGE);

    // AADSTS70044: the same remedy as 70043.
    let err = refused_once(
        &env,
        &broker,
        70044,
        "/token",
        ids::PARTNER_TENANT,
        Resource::Graph,
    )
    .await;
    assert_eq!(err.remedy(), Remedy::SignInFrequency, "{err}");
    assert!(err.to_string().contains("AADSTS70044"), "{err}");

    // AADSTS700084: the refresh token went to a redirect URI registered as a single-page app
    // (a fixed 24 hours): consent again, after registering the redirect URI under Web.
    let err = refused_once(
        &env,
        &broker,
        700084,
        "/token",
        ids::PARTNER_TENANT,
        Resource::Graph,
    )
    .await;
    assert!(
        matches!(err, BrokerError::ReconsentRequired { .. }),
        "{err:?}"
    );
    assert_eq!(err.remedy(), Remedy::SpaRedirectUri, "{err}");
    assert!(err.remedy().needs_consent());
    assert_eq!(err.consent_page().unwrap().as_str(), CONSENT_PAGE);
    assert!(err.to_string().contains("AADSTS700084"), "{err}");
    assert!(
        err.to_string().contains("under Authentication > Web"),
        "{err}"
    );

    // AADSTS50079: the tenant now requires MFA registration: consent again with MFA.
    let err = refused_once(
        &env,
        &broker,
        50079,
        "/token",
        ids::PARTNER_TENANT,
        Resource::Graph,
    )
    .await;
    assert!(matches!(err, BrokerError::MfaRequired { .. }), "{err:?}");
    assert_eq!(err.remedy(), Remedy::Mfa, "{err}");
    assert_eq!(err.consent_page().unwrap().as_str(), CONSENT_PAGE);

    // AADSTS50177 at a customer's authority: the customer's Conditional Access for external
    // (service provider) users refuses the partner's admin agent; GDAP is not the problem.
    let err = refused_once(
        &env,
        &broker,
        50177,
        format!("/{}/", ids::CUSTOMER_FABRIKAM),
        ids::CUSTOMER_FABRIKAM,
        Resource::Graph,
    )
    .await;
    assert!(
        matches!(&err, BrokerError::CustomerPolicy { customer, .. } if customer == ids::CUSTOMER_FABRIKAM),
        "{err:?}"
    );
    assert_eq!(err.remedy(), Remedy::CustomerConditionalAccess, "{err}");
    assert!(!err.remedy().needs_consent());
    assert!(err.consent_page().is_none());
    let text = err.to_string();
    assert!(
        text.contains(&format!("customer tenant {}", ids::CUSTOMER_FABRIKAM)),
        "{text}"
    );
    assert!(text.contains("service provider users"), "{text}");
    assert!(!text.contains("no delegated admin (GDAP) access"), "{text}");

    // AADSTS65001 at a customer's authority: the app is not consented there (Tailspin, once
    // the partner has delegated access): consent it in that tenant, not the partner again.
    assert!(
        env.emu
            .set_delegated_access(ids::CUSTOMER_TAILSPIN, ids::PARTNER_TENANT, true)
    );
    let err = broker
        .access_token(ids::CUSTOMER_TAILSPIN, Resource::Graph)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BrokerError::CustomerConsentMissing { .. }),
        "{err:?}"
    );
    assert_eq!(err.remedy(), Remedy::CustomerConsent, "{err}");
    assert!(!err.remedy().needs_consent());
    assert!(
        Remedy::CustomerConsent
            .advice()
            .unwrap()
            .contains("consent grant --customer"),
    );

    // AADSTS500011: a resource whose service principal the tenant does not have.
    let unknown = Resource::parse("https://api.unknown-resource.example").unwrap();
    let err = broker
        .access_token(ids::PARTNER_TENANT, unknown)
        .await
        .unwrap_err();
    assert_eq!(err.remedy(), Remedy::ResourceNotInTenant, "{err}");
    assert!(err.to_string().contains("AADSTS500011"), "{err}");

    // None of these took the grant away: the next call works.
    broker
        .access_token(ids::PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .expect("the grant still works");
}
