//! Every grant, with a secret and with certificates, on v1 and v2; rotation.

use common::cloud::Resource;
use common::config::EndpointVersion;
use common::secret::ExposeSecret as _;
use common::tokens::RefreshTokenStore as _;
use emulator::ResourceKind;
use emulator::seed::ids;

use crate::helpers::{ADMIN, Cred, spawn};

/// Consent (authorization_code), a Partner Center token as the partner and a Graph token in a
/// customer tenant (refresh_token, GDAP), and an app-only token (client_credentials).
async fn every_grant_works(version: EndpointVersion, cred: Cred) {
    let env = spawn().await;
    let store = env.local_store();
    let broker = env.broker(version, cred, store.clone());

    let record = env.consent(&broker, ADMIN).await;
    assert_eq!(record.user.tenant_id, ids::PARTNER_TENANT);
    assert_eq!(record.user.upn.as_deref(), Some(ADMIN));
    assert!(record.meta.mfa, "the admin signed in with MFA");
    assert_eq!(env.emu.counter("entra.token.authorization_code"), 1);

    let pc = broker
        .access_token(ids::PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .unwrap();
    let claims = env
        .emu
        .validate_access_token(pc.expose_secret(), &[ResourceKind::PartnerCenter])
        .unwrap();
    assert!(claims.has_mfa());

    let graph = broker
        .access_token(ids::CUSTOMER_FABRIKAM, Resource::Graph)
        .await
        .unwrap();
    env.emu
        .validate_access_token(graph.expose_secret(), &[ResourceKind::Graph])
        .unwrap();
    assert_eq!(env.emu.counter("entra.token.refresh_token"), 2);

    let app = broker
        .app_only_token(ids::PARTNER_TENANT, Resource::Graph)
        .await
        .unwrap();
    env.emu
        .validate_access_token(app.expose_secret(), &[ResourceKind::Graph])
        .unwrap();
    assert_eq!(env.emu.counter("entra.token.client_credentials"), 1);

    // Cached: no further requests.
    broker
        .access_token(ids::PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .unwrap();
    broker
        .app_only_token(ids::PARTNER_TENANT, Resource::Graph)
        .await
        .unwrap();
    assert_eq!(env.emu.counter("entra.token"), 4);
    assert!(store.get(ids::PARTNER_TENANT).await.unwrap().is_some());
}

#[tokio::test]
async fn every_grant_works_on_v1_with_a_client_secret() {
    every_grant_works(EndpointVersion::V1, Cred::Secret).await;
}

#[tokio::test]
async fn every_grant_works_on_v2_with_a_client_secret() {
    every_grant_works(EndpointVersion::V2, Cred::Secret).await;
}

#[tokio::test]
async fn every_grant_works_on_v1_with_an_rs256_certificate_assertion() {
    every_grant_works(EndpointVersion::V1, Cred::Rs256).await;
}

#[tokio::test]
async fn every_grant_works_on_v2_with_a_ps256_certificate_assertion() {
    every_grant_works(EndpointVersion::V2, Cred::Ps256).await;
}

#[tokio::test]
async fn every_grant_works_on_v1_with_a_ps256_certificate_assertion() {
    every_grant_works(EndpointVersion::V1, Cred::Ps256).await;
}

#[tokio::test]
async fn the_stored_refresh_token_changes_after_each_redemption() {
    let env = spawn().await;
    let store = env.local_store();
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    env.consent(&broker, ADMIN).await;
    let mut seen = vec![
        store
            .get(ids::PARTNER_TENANT)
            .await
            .unwrap()
            .unwrap()
            .refresh_token,
    ];
    for (tenant, resource) in [
        (ids::PARTNER_TENANT, Resource::PartnerCenter),
        (ids::PARTNER_TENANT, Resource::Graph),
        (ids::CUSTOMER_FABRIKAM, Resource::Graph),
    ] {
        broker.access_token(tenant, resource).await.unwrap();
        let stored = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
        assert!(
            !seen.contains(&stored.refresh_token),
            "a new refresh token is stored after redeeming for {resource}"
        );
        assert!(stored.meta.rotated_at >= stored.meta.consented_at);
        seen.push(stored.refresh_token);
    }
    let status = broker.status(ids::PARTNER_TENANT).await;
    assert!(status.persisted);
    assert_eq!(status.last_store_error, None);
    // keepalive redeems once more and stores again.
    let after = broker.keepalive(ids::PARTNER_TENANT).await.unwrap();
    assert!(after.persisted);
    let stored = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert!(!seen.contains(&stored.refresh_token));
}

#[tokio::test]
async fn a_second_process_uses_the_stored_token() {
    let env = spawn().await;
    let store = env.local_store();
    let first = env.broker(EndpointVersion::V2, Cred::Secret, store.clone());
    env.consent(&first, ADMIN).await;
    let second = env.broker(EndpointVersion::V2, Cred::Ps256, store);
    second
        .access_token(ids::CUSTOMER_NORTHWIND, Resource::Graph)
        .await
        .unwrap();
    let status = second.status(ids::PARTNER_TENANT).await;
    assert_eq!(status.meta.unwrap().user.as_deref(), Some(ADMIN));
}
