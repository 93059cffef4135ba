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

/// A certificate and its key made by the one generator, as PEM text and as the PKCS#12 archive
/// Key Vault keeps for a certificate (base64, no password).
fn app_certificate(name: &str) -> (String, String, String) {
    use base64::Engine as _;
    use common::secret::ExposeSecret as _;
    let made = certgen::self_signed(&certgen::Request {
        common_name: name,
        days: 30,
        key_pem: None,
        not_before: None,
    })
    .unwrap();
    let key_pem = made.private_key_pem.expose_secret().to_owned();
    let pem = format!("{}{key_pem}", made.certificate_pem);
    use rustls_pki_types::pem::PemObject as _;
    let key_der = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(
        b"1".as_slice(),
        p12_keystore::PrivateKey::from_der(key_der.secret_der()).unwrap(),
        [p12_keystore::Certificate::from_der(&made.certificate_der).unwrap()],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("app", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    let p12 = store.writer("").write().unwrap();
    (
        made.certificate_pem,
        pem,
        base64::engine::general_purpose::STANDARD.encode(p12),
    )
}

/// No credential file on disk: the app's certificate is a Key Vault secret (PEM, then a
/// PKCS#12 version as Key Vault keeps certificates), read through the store's identity. A new
/// version is used without a restart, both certificates work during the overlap, and a broken
/// version leaves the working certificate in use. The cookie key is a secret too.
#[tokio::test]
async fn the_app_certificate_and_cookie_key_come_from_key_vault_and_rotate_without_restart() {
    use common::config::AssertionAlgorithm;
    use common::entra::{CertificateProvider as _, ClientCredential};
    use common::keyvault::VaultCertificate;
    use std::time::Duration;
    const NAME: &str = "sam-app-certificate";
    let env = spawn().await;
    let store = kv_store(&env, secret_identity(&env));
    let (old_cert, old_pem, _) = app_certificate("SAM app (old)");
    env.emu.add_certificate(ids::CSP_APP, &old_cert).unwrap();
    store
        .write_secret(NAME, &old_pem, "application/x-pem-file")
        .await
        .unwrap();
    let certificate = Arc::new(
        VaultCertificate::load(
            store.clone(),
            NAME,
            AssertionAlgorithm::Ps256,
            Duration::ZERO,
        )
        .await
        .unwrap(),
    );
    let first = certificate.version();
    let broker = common::tokens::TokenBroker::new(
        env.settings(EndpointVersion::V1),
        env.http.clone(),
        ClientCredential::RotatingCertificate(certificate.clone()),
        store.clone(),
    );
    env.consent(&broker, ADMIN).await;

    // Rotation: the new certificate is registered next to the old one, then uploaded as a new
    // (PKCS#12) version; the next token request picks it up.
    let (new_cert, _, new_p12) = app_certificate("SAM app (new)");
    env.emu.add_certificate(ids::CSP_APP, &new_cert).unwrap();
    store
        .write_secret(NAME, &new_p12, "application/x-pkcs12")
        .await
        .unwrap();
    broker
        .access_token(ids::PARTNER_TENANT, Resource::Graph)
        .await
        .expect("a token during the overlap");
    assert_ne!(certificate.version(), first, "the new version is in use");
    // The end of the overlap: only the new certificate is registered, and tokens still come.
    env.emu.remove_certificate(ids::CSP_APP, &old_cert).unwrap();
    let redemptions = env.emu.counter("entra.token.refresh_token");
    broker
        .keepalive(ids::PARTNER_TENANT)
        .await
        .expect("the new certificate alone works");
    assert_eq!(
        env.emu.counter("entra.token.refresh_token"),
        redemptions + 1,
        "a token request was made, signed with the new certificate"
    );

    // A broken version: the working certificate stays in use.
    let in_use = certificate.version();
    store
        .write_secret(NAME, "not a certificate", "application/x-pem-file")
        .await
        .unwrap();
    certificate.refresh().await;
    assert_eq!(certificate.version(), in_use);

    // The cookie key: base64 of at least 64 bytes; anything else is refused without echoing it.
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    store
        .write_secret("sam-cookie-key", &key, "text/plain")
        .await
        .unwrap();
    assert_eq!(
        store
            .read_cookie_key("sam-cookie-key")
            .await
            .unwrap()
            .expose_secret()
            .len(),
        64
    );
    store
        .write_secret("sam-cookie-key", "c2hvcnQ=", "text/plain")
        .await
        .unwrap();
    let err = store.read_cookie_key("sam-cookie-key").await.unwrap_err();
    assert!(!err.to_string().contains("c2hvcnQ="), "{err}");
}

/// A consent stored over a secret someone deleted (soft delete keeps the name): Key Vault
/// answers 409 `ObjectIsDeletedButRecoverable`, and the error says to recover or purge it.
#[tokio::test]
async fn storing_over_a_deleted_but_recoverable_secret_says_to_recover_or_purge_it() {
    use common::tokens::{GrantMetadata, StoredGrant};
    let env = spawn().await;
    let store = kv_store(&env, secret_identity(&env));
    let broker = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    env.consent(&broker, ADMIN).await;
    let name = store.secret_name(ids::PARTNER_TENANT);

    // An operator deletes the secret (soft delete: it stays recoverable under its name).
    let operator_secret = env
        .emu
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::KEYVAULT_OPERATOR_APP)
        .unwrap()
        .secrets[0]
        .clone();
    let operator = KeyVaultIdentity::ClientSecret {
        tenant_id: ids::PARTNER_TENANT.into(),
        client_id: ids::KEYVAULT_OPERATOR_APP.into(),
        secret: ClientSecret::new(operator_secret),
    };
    let credential = common::keyvault::access_credential(&operator, &env.cloud, &env.http).unwrap();
    let scope = format!(
        "{}/.default",
        env.cloud.resource_id(Resource::KeyVault).unwrap()
    );
    let token = credential.get_token(&[scope.as_str()], None).await.unwrap();
    let vault = env.emu.vault_url(ids::VAULT);
    let deleted = env
        .http
        .delete(format!("{vault}secrets/{name}?api-version=7.5"))
        .bearer_auth(token.token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);

    let grant = StoredGrant {
        refresh_token: common::secret::RefreshToken::new("a-new-consent"),
        meta: GrantMetadata {
            tenant_id: ids::PARTNER_TENANT.into(),
            user: Some(ADMIN.into()),
            consented_at: env.emu.now(),
            rotated_at: env.emu.now(),
            app_id: ids::CSP_APP.into(),
            cloud: "custom".into(),
            mfa: true,
        },
    };
    let err = store.put(&grant).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.is_transient(), "{text}");
    assert!(text.contains("ObjectIsDeletedButRecoverable"), "{text}");
    assert!(
        text.contains(&format!(
            "az keyvault secret recover --vault-name {} --name {name}",
            ids::VAULT
        )),
        "{text}"
    );
    assert!(text.contains("az keyvault secret purge"), "{text}");
    assert!(!text.contains("a-new-consent"), "{text}");
    assert_eq!(text.matches("— fix:").count(), 1, "{text}");
}
