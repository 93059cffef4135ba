//! The Key Vault store through the Azure SDK against the emulator's vault, and rotation during
//! a Key Vault outage.

use std::sync::Arc;

use common::cloud::Resource;
use common::config::{EndpointVersion, KeyVaultIdentity, KeyVaultSettings};
use common::keyvault::KeyVaultStore;
use common::secret::{ClientSecret, ExposeSecret as _};
use common::tokens::{RefreshTokenStore as _, secret_name};
use emulator::seed::ids;
use emulator::{Fault, Service};
use url::Url;

use crate::helpers::{ADMIN, Cred, Env, spawn};

fn kv_settings(env: &Env, identity: KeyVaultIdentity) -> KeyVaultSettings {
    KeyVaultSettings {
        vault_url: Url::parse(&env.emu.vault_url(ids::VAULT)).unwrap(),
        secret_prefix: "sam-rt".into(),
        identity,
        api_version: "7.5".into(),
    }
}

fn secret_identity(env: &Env) -> KeyVaultIdentity {
    let secret = env
        .emu
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::KEYVAULT_APP)
        .unwrap()
        .secrets[0]
        .clone();
    KeyVaultIdentity::ClientSecret {
        tenant_id: ids::PARTNER_TENANT.into(),
        client_id: ids::KEYVAULT_APP.into(),
        secret: ClientSecret::new(secret),
    }
}

fn kv_store(env: &Env, identity: KeyVaultIdentity) -> Arc<KeyVaultStore> {
    Arc::new(KeyVaultStore::new(&kv_settings(env, identity), &env.cloud, env.http.clone()).unwrap())
}

#[tokio::test]
async fn consent_is_stored_in_key_vault_with_tags_and_rotated() {
    let env = spawn().await;
    let store = kv_store(&env, secret_identity(&env));
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    env.consent(&broker, ADMIN).await;
    assert_eq!(
        store.secret_name(ids::PARTNER_TENANT),
        secret_name("sam-rt", ids::PARTNER_TENANT)
    );
    let first = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_eq!(first.meta.tenant_id, ids::PARTNER_TENANT);
    assert_eq!(first.meta.user.as_deref(), Some(ADMIN));
    assert_eq!(first.meta.app_id, ids::CSP_APP);
    assert_eq!(first.meta.cloud, "custom");
    assert!(first.meta.mfa);
    broker
        .access_token(ids::PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .unwrap();
    let second = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_ne!(first.refresh_token, second.refresh_token);
    assert_eq!(second.meta.consented_at, first.meta.consented_at);
    assert!(store.get(ids::CUSTOMER_FABRIKAM).await.unwrap().is_none());
}

#[tokio::test]
async fn key_vault_is_reached_with_a_certificate_identity_without_openssl() {
    let env = spawn().await;
    env.emu
        .add_certificate(ids::KEYVAULT_APP, &env.cert.cert_pem)
        .unwrap();
    let cert = env.dir.path().join("kv.pem");
    let key = env.dir.path().join("kv.key");
    std::fs::write(&cert, &env.cert.cert_pem).unwrap();
    std::fs::write(&key, &env.cert.key_pem).unwrap();
    let store = kv_store(
        &env,
        KeyVaultIdentity::ClientCertificate {
            tenant_id: ids::PARTNER_TENANT.into(),
            client_id: ids::KEYVAULT_APP.into(),
            certificate: cert,
            private_key: key,
        },
    );
    let broker = env.broker(EndpointVersion::V2, Cred::Ps256, store.clone());
    env.consent(&broker, ADMIN).await;
    assert!(store.get(ids::PARTNER_TENANT).await.unwrap().is_some());
}

#[tokio::test]
async fn a_key_vault_outage_during_rotation_loses_nothing() {
    let env = spawn().await;
    let store = kv_store(&env, secret_identity(&env));
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    env.consent(&broker, ADMIN).await;
    let consented = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();

    env.emu.inject_fault(Fault::status(Service::KeyVault, 503));
    // The token request succeeds; only the write of the rotated token fails.
    broker
        .access_token(ids::PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .unwrap();
    let status = broker.status(ids::PARTNER_TENANT).await;
    assert!(!status.persisted);
    let reported = status.last_store_error.unwrap();
    // The put reads the stored version first (never an older token over a newer one), so the
    // outage shows at that read.
    assert!(
        reported.contains("Key Vault get of secret sam-rt-")
            || reported.contains("Key Vault set of secret sam-rt-"),
        "{reported}"
    );
    env.emu.clear_faults();

    // The vault still holds the consented token, and it still works (a crash now loses nothing).
    let stored = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_eq!(stored.refresh_token, consented.refresh_token);
    let other = env.broker(
        EndpointVersion::V1,
        Cred::Secret,
        kv_store(&env, secret_identity(&env)),
    );
    other
        .access_token(ids::PARTNER_TENANT, Resource::Graph)
        .await
        .unwrap();

    // The next redemption stores the newest token.
    broker
        .access_token(ids::CUSTOMER_FABRIKAM, Resource::Graph)
        .await
        .unwrap();
    let status = broker.status(ids::PARTNER_TENANT).await;
    assert!(status.persisted, "{status:?}");
    assert_eq!(status.last_store_error, None);
    let latest = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_ne!(latest.refresh_token, consented.refresh_token);
    assert!(!latest.refresh_token.expose_secret().is_empty());
}

#[tokio::test]
async fn listing_partners_reads_the_tags_and_needs_the_list_permission() {
    let env = spawn().await;
    let store = kv_store(&env, secret_identity(&env));
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    env.consent(&broker, ADMIN).await;

    // The access app holds get and set only, as the broker needs: listing is refused.
    let err = broker.stored_partners().await.unwrap_err().to_string();
    assert!(err.contains("list"), "{err}");

    // An identity allowed to list sees the partner, with its metadata, and no token.
    let operator_secret = env
        .emu
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::KEYVAULT_OPERATOR_APP)
        .unwrap()
        .secrets[0]
        .clone();
    let operator = kv_store(
        &env,
        KeyVaultIdentity::ClientSecret {
            tenant_id: ids::PARTNER_TENANT.into(),
            client_id: ids::KEYVAULT_OPERATOR_APP.into(),
            secret: ClientSecret::new(operator_secret),
        },
    );
    let listed = operator.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].tenant_id, ids::PARTNER_TENANT);
    assert_eq!(listed[0].user.as_deref(), Some(ADMIN));
    assert!(listed[0].mfa);
}

#[tokio::test]
async fn an_older_grant_is_never_written_over_a_newer_one() {
    use common::tokens::{GrantMetadata, StoredGrant};
    let env = spawn().await;
    let store = kv_store(&env, secret_identity(&env));
    let grant = |token: &str, consented_at: i64, rotated_at: i64| StoredGrant {
        refresh_token: common::secret::RefreshToken::new(token),
        meta: GrantMetadata {
            tenant_id: ids::PARTNER_TENANT.into(),
            user: Some(ADMIN.into()),
            consented_at,
            rotated_at,
            app_id: ids::CSP_APP.into(),
            cloud: "custom".into(),
            mfa: true,
        },
    };
    store
        .put(&grant("rt-new-consent", 2_000, 2_000))
        .await
        .unwrap();
    // A rotation of an earlier consent, finishing late in another process.
    store
        .put(&grant("rt-old-consent", 1_000, 3_000))
        .await
        .unwrap();
    // An earlier rotation of the same consent.
    store
        .put(&grant("rt-new-rotated", 2_000, 2_500))
        .await
        .unwrap();
    store
        .put(&grant("rt-new-stale", 2_000, 2_100))
        .await
        .unwrap();
    let stored = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.expose_secret(), "rt-new-rotated");
    assert_eq!(env.emu.counter("keyvault.set_secret"), 2);
}
