//! `restore_previous`: an operator puts back the grant from before the stored one, in Key
//! Vault (its versions) and the local file (the grant it keeps), after checking that it still
//! redeems.

use std::sync::Arc;

use common::config::{EndpointVersion, KeyVaultIdentity, KeyVaultSettings};
use common::keyvault::KeyVaultStore;
use common::secret::{ClientSecret, ExposeSecret as _};
use common::tokens::{BrokerError, RefreshTokenStore, StoredGrant};
use emulator::seed::ids;
use url::Url;

use crate::helpers::{ADMIN, Cred, Env, spawn};

/// A Key Vault store reached as the operator app (`list` is needed to read the versions).
fn operator_store(env: &Env) -> Arc<KeyVaultStore> {
    let secret = env
        .emu
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::KEYVAULT_OPERATOR_APP)
        .unwrap()
        .secrets[0]
        .clone();
    let settings = KeyVaultSettings {
        vault_url: Url::parse(&env.emu.vault_url(ids::VAULT)).unwrap(),
        secret_prefix: "sam-rt".into(),
        identity: KeyVaultIdentity::ClientSecret {
            tenant_id: ids::PARTNER_TENANT.into(),
            client_id: ids::KEYVAULT_OPERATOR_APP.into(),
            secret: ClientSecret::new(secret),
        },
        api_version: "7.5".into(),
    };
    Arc::new(KeyVaultStore::new(&settings, &env.cloud, env.http.clone()).unwrap())
}

/// The stored grant, dated an hour earlier: an earlier consent (consents made by a test fall
/// in the same second).
async fn date_back_an_hour(store: &dyn RefreshTokenStore) -> StoredGrant {
    let mut first = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    first.meta.consented_at -= 3600;
    first.meta.rotated_at -= 3600;
    store.restore(&first).await.unwrap();
    first
}

#[tokio::test]
async fn the_earlier_consent_comes_back_from_key_vault_versions() {
    let env = spawn().await;
    let store = operator_store(&env);
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    // Key Vault dates versions to the second: each write in a second of its own (the
    // emulator's clock), as an operator's consents and rotations are.
    let next_second = || env.emu.advance_clock(std::time::Duration::from_secs(2));
    env.consent(&broker, ADMIN).await;
    next_second();
    let first = date_back_an_hour(store.as_ref()).await;
    next_second();
    // A second consent, then a rotation of it: both newer than the first consent.
    env.consent(&broker, ADMIN).await;
    next_second();
    broker.keepalive(ids::PARTNER_TENANT).await.unwrap();
    let second = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert!(second.meta.consented_at > first.meta.consented_at);

    let shown = broker.previous_grant(ids::PARTNER_TENANT).await.unwrap();
    assert_eq!(
        shown.unwrap().consented_at,
        first.meta.consented_at,
        "the first consent, not the second's earlier rotation"
    );

    let restored = broker.restore_previous(ids::PARTNER_TENANT).await.unwrap();
    assert_eq!(restored.restored.consented_at, first.meta.consented_at);
    assert_eq!(
        restored.replaced.unwrap().consented_at,
        second.meta.consented_at
    );
    let stored = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_eq!(stored.meta.consented_at, first.meta.consented_at);
    // What is stored is the first consent's token rotated by the check, and it works.
    assert_ne!(
        stored.refresh_token.expose_secret(),
        first.refresh_token.expose_secret()
    );
    assert_ne!(
        stored.refresh_token.expose_secret(),
        second.refresh_token.expose_secret()
    );
    broker.keepalive(ids::PARTNER_TENANT).await.unwrap();
}

#[tokio::test]
async fn a_grant_that_no_longer_redeems_is_not_restored() {
    let env = spawn().await;
    let store = operator_store(&env);
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    env.consent(&broker, ADMIN).await;
    date_back_an_hour(store.as_ref()).await;
    env.consent(&broker, ADMIN).await;
    let before = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    // Every refresh token of the admin is revoked, the earlier one included.
    assert!(env.emu.revoke_user_sessions(ADMIN));

    let err = broker
        .restore_previous(ids::PARTNER_TENANT)
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::RestoreRefused { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("no longer redeems") && text.contains("stays in use"),
        "{text}"
    );
    let after = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_eq!(after.refresh_token, before.refresh_token, "nothing changed");
}

#[tokio::test]
async fn nothing_to_restore_says_so() {
    let env = spawn().await;
    let store = operator_store(&env);
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    env.consent(&broker, ADMIN).await;
    assert!(
        broker
            .previous_grant(ids::PARTNER_TENANT)
            .await
            .unwrap()
            .is_none()
    );
    let err = broker
        .restore_previous(ids::PARTNER_TENANT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BrokerError::NothingToRestore { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("Key Vault"), "{err}");
}
