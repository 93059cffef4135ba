//! A broker from validated configuration: the configured refresh-token store (a local file or
//! Key Vault) and the application credential (a secret, or a certificate from a file or from
//! Key Vault).

use std::sync::Arc;

use super::{BrokerError, BrokerSettings, TokenBroker};
use crate::config::{AppCredential, AppMode, CertificateSource, Settings, StoreSettings};
use crate::entra::{CertificateError, CertificateSigner, ClientCredential};
use crate::keyvault::{KeyVaultStore, VaultCertificate};
use crate::store::{LocalFileStore, RefreshTokenStore, StoreError};
use crate::tokens::cache::CachePolicy;

impl BrokerSettings {
    /// From validated configuration. The consent page is the redirect URL's origin.
    pub fn from_settings(settings: &Settings) -> Self {
        let mut consent_page = settings.consent.redirect_url.clone();
        consent_page.set_path("/");
        consent_page.set_query(None);
        Self {
            app_id: settings.app.client_id.clone(),
            cloud: settings.cloud.clone(),
            version: settings.entra.endpoint_version,
            authority_tenant: settings.entra.authority_tenant.clone(),
            sign_in_host: settings.entra.sign_in_host.clone(),
            redirect_url: settings.consent.redirect_url.clone(),
            consent_page,
            prompt: settings.consent.prompt.clone(),
            default_partner: match settings.mode {
                AppMode::Csp => settings.partner.tenant_id.clone(),
                AppMode::Cpv => None,
            },
            allowed_partners: settings.partner.allowed_tenants.clone(),
            cache: CachePolicy::default(),
            store_attempts: 3,
        }
    }
}

impl TokenBroker {
    /// A broker from validated configuration: the app credential (certificate or secret) and
    /// the configured store (local file or Key Vault).
    pub async fn from_settings(
        settings: &Settings,
        http: reqwest::Client,
    ) -> Result<Self, BrokerError> {
        let (store, vault) = open_store(settings, &http)?;
        let credential = app_credential(&settings.app.credential, vault.as_ref())
            .await
            .map_err(|e| BrokerError::Config(e.to_string()))?;
        Ok(Self::new(
            BrokerSettings::from_settings(settings),
            http,
            credential,
            store,
        ))
    }
}

/// A refresh-token store, and the Key Vault behind it when it is one.
pub type OpenedStore = (Arc<dyn RefreshTokenStore>, Option<Arc<KeyVaultStore>>);

/// The configured refresh-token store, and the Key Vault behind it when it is one (the secrets
/// `app.certificate_secret` and `consent.cookie_key_secret` are read from that vault).
pub fn open_store(settings: &Settings, http: &reqwest::Client) -> Result<OpenedStore, StoreError> {
    Ok(match &settings.store {
        StoreSettings::KeyVault(kv) => {
            let vault = Arc::new(KeyVaultStore::new(kv, &settings.cloud, http.clone())?);
            (vault.clone() as Arc<dyn RefreshTokenStore>, Some(vault))
        }
        StoreSettings::Local(l) => (Arc::new(LocalFileStore::open(l)?), None),
    })
}

/// The application credential configured in `app`. A certificate kept in Key Vault
/// (`app.certificate_secret`) is read from `vault`, the store's vault, and read again as its
/// refresh interval says.
pub async fn app_credential(
    credential: &AppCredential,
    vault: Option<&Arc<KeyVaultStore>>,
) -> Result<ClientCredential, CertificateError> {
    Ok(match credential {
        AppCredential::Secret(s) => ClientCredential::Secret(s.clone()),
        AppCredential::Certificate(c) => match (&c.source, vault) {
            (CertificateSource::KeyVault { secret, refresh }, Some(vault)) => {
                ClientCredential::RotatingCertificate(Arc::new(
                    VaultCertificate::load(vault.clone(), secret, c.algorithm, *refresh).await?,
                ))
            }
            (source, _) => ClientCredential::Certificate(Arc::new(CertificateSigner::load(
                source,
                c.algorithm,
            )?)),
        },
    })
}
