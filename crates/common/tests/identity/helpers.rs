//! An emulator per test, the Key Vault settings for an identity, and the grant tests store.

use common::cloud::CloudEndpoints;
use common::config::{HttpSettings, KeyVaultIdentity, KeyVaultSettings};
use common::keyvault::KeyVaultStore;
use common::secret::{ExposeSecret as _, RefreshToken};
use common::tokens::{GrantMetadata, RefreshTokenStore as _, StoreError, StoredGrant};
use emulator::seed::ids;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use std::path::{Path, PathBuf};
use url::Url;

/// Where a Key Vault client finds the emulator (what a child process needs).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct Target {
    pub authority_host: String,
    pub graph: String,
    pub partner_center: String,
    pub key_vault_dns_suffix: String,
    pub vault_url: String,
    pub ca: PathBuf,
}

pub struct Env {
    pub emu: EmulatorHandle,
    pub target: Target,
    pub dir: tempfile::TempDir,
}

pub async fn spawn_with(tweak: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> Env {
    let config = EmulatorConfig {
        workers: 2,
        ..EmulatorConfig::default()
    };
    let emu = Emulator::start(tweak(config))
        .await
        .expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, emu.ca_pem()).unwrap();
    let target = Target {
        authority_host: emu.authority_host(),
        graph: emu.graph_url(),
        partner_center: emu.partner_center_url(),
        key_vault_dns_suffix: emu.key_vault_dns_suffix(),
        vault_url: emu.vault_url(ids::VAULT),
        ca,
    };
    Env { emu, target, dir }
}

/// A Key Vault store reaching the emulator's vault with `identity`.
pub fn store(target: &Target, identity: KeyVaultIdentity) -> KeyVaultStore {
    let http = common::http::build_client(&HttpSettings {
        ca_bundle: Some(target.ca.clone()),
        ..HttpSettings::default()
    })
    .unwrap();
    let url = |s: &str| Url::parse(s).unwrap();
    let cloud = CloudEndpoints::custom(
        url(&target.authority_host),
        url(&target.graph),
        url(&target.partner_center),
        target.key_vault_dns_suffix.clone(),
    );
    let settings = KeyVaultSettings {
        vault_url: url(&target.vault_url),
        secret_prefix: "sam-rt".into(),
        identity,
        api_version: "7.5".into(),
    };
    KeyVaultStore::new(&settings, &cloud, http).unwrap()
}

fn grant(token: &str, rotated_at: i64) -> StoredGrant {
    StoredGrant {
        refresh_token: RefreshToken::new(token.to_string()),
        meta: GrantMetadata {
            tenant_id: ids::PARTNER_TENANT.into(),
            user: Some("admin@contoso-partner.onmicrosoft.com".into()),
            consented_at: 1_700_000_000,
            rotated_at,
            app_id: ids::CSP_APP.into(),
            cloud: "custom".into(),
            mfa: true,
        },
    }
}

/// Store a refresh token, rotate it, read the latest back; and check the identity holds no
/// more than get/set (listing is refused, as `doctor`'s least-privilege probe expects).
pub async fn store_rotate_read(store: &KeyVaultStore) {
    store.put(&grant("rt-first", 1_700_000_000)).await.unwrap();
    let first = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_eq!(first.refresh_token.expose_secret(), "rt-first");
    store
        .put(&grant("rt-rotated", 1_700_000_100))
        .await
        .unwrap();
    let latest = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_eq!(latest.refresh_token.expose_secret(), "rt-rotated");
    assert_eq!(latest.meta.rotated_at, 1_700_000_100);
    match store.list().await {
        Err(StoreError::KeyVault { status, .. }) => assert_eq!(status, Some(403)),
        other => panic!("list must be refused (get/set only): {other:?}"),
    }
}

/// The error text of a refused `get`.
pub async fn refused_get(store: &KeyVaultStore) -> String {
    match store.get(ids::PARTNER_TENANT).await {
        Err(e) => e.to_string(),
        Ok(g) => panic!("expected a refusal, got {:?}", g.map(|g| g.meta)),
    }
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
