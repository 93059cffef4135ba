//! The Key Vault refresh-token store, on the official Azure SDK for Rust
//! (`azure_security_keyvault_secrets` + `azure_identity`).
//!
//! One secret per partner tenant, named by [`crate::store::secret_name`]
//! (`{store.key_vault.secret_prefix}-{tenant id}`), with tags `tenant-id`, `user`, `consented-at`,
//! `rotated-at` (RFC 3339), `app-id`, `cloud`, `mfa`. Each rotation is a new secret version (Key
//! Vault keeps the old ones), so a failed write leaves the previous, still valid, token as the
//! latest version. The broker needs only the `secrets/get` and `secrets/set` permissions
//! (RBAC: a custom role, or "Key Vault Secrets Officer" scoped to the vault).
//!
//! The SDK uses the process's reqwest client (extra CA, `*.localhost` resolution) as its
//! transport, the configured cloud's authority, and keeps challenge-resource verification on.
//! Identities: client secret, client certificate (a [`ClientAssertionCredential`] fed by our own
//! assertion signer, so no OpenSSL), managed identity (App Service / Container Apps protocol:
//! `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), workload identity (a projected service-account token
//! exchanged through a federated credential). All four run end to end against the emulator
//! (`tests/broker`, `tests/identity`); a refused managed or workload identity is reported with
//! the platform's answer and what to change.

use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{
    ClientMethodOptions, ClientOptions, ExponentialRetryOptions, RetryOptions, Transport,
};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_secrets::models::SetSecretParameters;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};

use crate::cloud::{CloudEndpoints, join};
use crate::config::{AssertionAlgorithm, KeyVaultIdentity, KeyVaultSettings};
use crate::entra::{CertificateError, CertificateSigner};
use crate::secret::ExposeSecret as _;
use crate::store::{StoreError, secret_name};

/// `contentType` of the stored secrets.
pub const CONTENT_TYPE: &str = "application/vnd.sam.refresh-token";

/// The Key Vault store.
pub struct KeyVaultStore {
    client: SecretClient,
    vault_url: String,
    prefix: String,
    identity: Identity,
}

/// Which kind of identity reaches the vault: chooses the remedy of a refused credential.
#[derive(Clone, Debug)]
enum Identity {
    App,
    Managed { client_id: Option<String> },
    Workload,
}

impl Identity {
    fn of(identity: &KeyVaultIdentity) -> Self {
        match identity {
            KeyVaultIdentity::ManagedIdentity { client_id } => Identity::Managed {
                client_id: client_id.clone(),
            },
            KeyVaultIdentity::WorkloadIdentity { .. } => Identity::Workload,
            _ => Identity::App,
        }
    }

    /// The error with its sources and what to change, when the identity platform refused the
    /// credential; `None` when there is nothing specific to say.
    fn described(&self, e: &azure_core::Error) -> Option<String> {
        let detail = error_chain(e);
        self.remedy(&detail)
            .map(|fix| format!("{detail} — fix: {fix}"))
    }

    /// What to change when the identity platform refused the credential, from the error
    /// codes Microsoft documents (`crates/emulator/README.md` lists the sources).
    fn remedy(&self, message: &str) -> Option<String> {
        let has = |s: &str| message.contains(s);
        match self {
            Identity::Managed { client_id } => {
                if has("X-IDENTITY-HEADER") || has("\"statusCode\":401") {
                    Some("the managed-identity endpoint refused IDENTITY_HEADER: run on a host with a managed identity enabled (App Service, Container Apps), where the platform sets IDENTITY_ENDPOINT and IDENTITY_HEADER; never copy or set them by hand (the platform rotates the header)".into())
                } else if has("has not been assigned")
                    || has("Unable to load the proper Managed Identity")
                {
                    Some(match client_id {
                        Some(id) => format!("assign the user-assigned identity with client ID {id} to this app (az containerapp identity assign --user-assigned <identity resource ID>), or correct store.key_vault.client_id"),
                        None => "enable the app's system-assigned identity (az containerapp identity assign --system-assigned), or set store.key_vault.client_id to the client ID of an assigned user-assigned identity".into(),
                    })
                } else {
                    None
                }
            }
            Identity::Workload => {
                let subject = "the federated credential's subject must be system:serviceaccount:<namespace>:<service account> of this pod";
                let issuer = "the federated credential's issuer must equal the cluster's OIDC issuer exactly, trailing '/' included (az aks show --query oidcIssuerProfile.issuerUrl)";
                let audience = "the federated credential's audience must be api://AzureADTokenExchange, the audience of the projected token";
                if has("700211") {
                    Some(issuer.into())
                } else if has("700213") {
                    Some(subject.into())
                } else if has("700212") {
                    Some(audience.into())
                } else if has("70021") {
                    Some(format!("{issuer}; {subject}; {audience}"))
                } else if has("700024") {
                    Some("the service-account token in store.key_vault.token_file has expired: the kubelet renews the projected token; check the pod's token volume (azure-identity-token) and the node's clock".into())
                } else if has("90061") {
                    Some("Entra ID cannot read the issuer's OIDC discovery document: the cluster's OIDC issuer must be enabled and publicly reachable".into())
                } else {
                    None
                }
            }
            Identity::App => None,
        }
    }
}

impl std::fmt::Debug for KeyVaultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVaultStore")
            .field("vault_url", &self.vault_url)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Signs client assertions for `azure_identity`'s [`ClientAssertionCredential`].
#[derive(Debug)]
struct CertificateAssertion {
    signer: CertificateSigner,
    client_id: String,
    token_endpoint: String,
}

#[async_trait::async_trait]
impl ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.signer
            .sign(&self.client_id, &self.token_endpoint)
            .map(|a| a.expose_secret().to_owned())
            .map_err(|e| {
                azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    format!("cannot sign the client assertion: {e}"),
                )
            })
    }
}

/// The signer of the store identity's client assertions (`store.key_vault.identity =
/// client-certificate`): RS256 with `x5t`, what azure_identity 1.0's own certificate credential
/// sends, here from PEM files and without OpenSSL. Also used by `doctor` to probe the vault.
pub fn access_certificate_signer(
    certificate: &std::path::Path,
    private_key: &std::path::Path,
) -> Result<CertificateSigner, CertificateError> {
    CertificateSigner::from_pem_files(certificate, private_key, AssertionAlgorithm::Rs256)
}

fn setup<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Setup(format!("{what}: {e}"))
}

/// The SDK's client options: the process's HTTP client as transport, the configured cloud's
/// authority, and a short retry (the broker retries and reports itself; an outage must not
/// stall a request for the SDK's default minute).
fn client_options(cloud: &CloudEndpoints, http: &reqwest::Client) -> ClientOptions {
    let mut custom = CustomConfiguration::default();
    custom.authority_host = cloud
        .authority_host
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        cloud: Some(Arc::new(CloudConfiguration::from(custom))),
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(100),
            max_retries: 2,
            max_total_elapsed: azure_core::time::Duration::seconds(10),
            max_delay: azure_core::time::Duration::seconds(2),
        }),
        ..ClientOptions::default()
    }
}

/// The credential of the configured Key Vault access identity (`store.key_vault.identity`), as
/// the store uses it; `doctor` asks it for a token to probe the vault as the store would.
pub fn access_credential(
    identity: &KeyVaultIdentity,
    cloud: &CloudEndpoints,
    http: &reqwest::Client,
) -> Result<Arc<dyn TokenCredential>, StoreError> {
    let client_options = || client_options(cloud, http);
    Ok(match identity {
        KeyVaultIdentity::ClientSecret {
            tenant_id,
            client_id,
            secret,
        } => ClientSecretCredential::new(
            tenant_id,
            client_id.clone(),
            Secret::new(secret.expose_secret().to_owned()),
            Some(ClientSecretCredentialOptions {
                client_options: client_options(),
            }),
        )
        .map_err(setup("client secret credential"))?,
        KeyVaultIdentity::ClientCertificate {
            tenant_id,
            client_id,
            certificate,
            private_key,
        } => {
            let signer = access_certificate_signer(certificate, private_key)
                .map_err(setup("Key Vault access certificate"))?;
            let token_endpoint = join(
                &cloud.authority_host,
                &format!("{tenant_id}/oauth2/v2.0/token"),
            );
            ClientAssertionCredential::new(
                tenant_id.clone(),
                client_id.clone(),
                CertificateAssertion {
                    signer,
                    client_id: client_id.clone(),
                    token_endpoint: token_endpoint.to_string(),
                },
                Some(ClientAssertionCredentialOptions {
                    client_options: client_options(),
                }),
            )
            .map_err(setup("client certificate credential"))?
        }
        KeyVaultIdentity::ManagedIdentity { client_id } => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                client_options: client_options(),
            }))
            .map_err(setup("managed identity"))?
        }
        KeyVaultIdentity::WorkloadIdentity {
            tenant_id,
            client_id,
            token_file,
        } => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions {
                client_options: client_options(),
            },
            client_id: Some(client_id.clone()),
            tenant_id: Some(tenant_id.clone()),
            token_file_path: Some(token_file.clone()),
        }))
        .map_err(setup("workload identity"))?,
    })
}

impl KeyVaultStore {
    /// A store for the vault in `settings`, reached with `http`, authenticating at `cloud`'s
    /// authority with the configured identity.
    pub fn new(
        settings: &KeyVaultSettings,
        cloud: &CloudEndpoints,
        http: reqwest::Client,
    ) -> Result<Self, StoreError> {
        let credential = access_credential(&settings.identity, cloud, &http)?;
        let mut options = SecretClientOptions {
            client_options: client_options(cloud, &http),
            verify_challenge_resource: Some(true),
            ..SecretClientOptions::default()
        };
        if !settings.api_version.is_empty() {
            options.api_version.clone_from(&settings.api_version);
        }
        let vault_url = settings.vault_url.to_string();
        let client = SecretClient::new(&vault_url, credential, Some(options))
            .map_err(setup("Key Vault client"))?;
        Ok(Self {
            client,
            vault_url,
            prefix: settings.secret_prefix.clone(),
            identity: Identity::of(&settings.identity),
        })
    }

    fn error(&self, operation: &'static str, name: &str, e: &azure_core::Error) -> StoreError {
        let mut error = kv_error(operation, name, e);
        if inner_error_code(e).as_deref() == Some(DELETED_BUT_RECOVERABLE)
            && let StoreError::KeyVault { message, .. } = &mut error
        {
            *message = format!(
                "{message} ({DELETED_BUT_RECOVERABLE}) — fix: {}",
                deleted_secret_fix(&self.vault_url, name)
            );
            return error;
        }
        // The SDK's retry policy wraps a refused credential ("non-transport error … will not be
        // retried"): the platform's answer is further down the chain.
        if let StoreError::KeyVault { message, .. } = &mut error
            && let Some(described) = self.identity.described(e)
        {
            *message = described;
        }
        error
    }

    /// The secret name of a partner tenant.
    pub fn secret_name(&self, tenant_id: &str) -> String {
        secret_name(&self.prefix, tenant_id)
    }
}

/// A secret that is not a refresh token (the app's certificate, the cookie key), as read from
/// the vault: its value, content type and version.
pub struct VaultSecret {
    /// The value.
    pub value: crate::secret::ClientSecret,
    /// `contentType` (`application/x-pkcs12` for Key Vault certificates).
    pub content_type: Option<String>,
    /// The version (the last segment of its ID).
    pub version: String,
}

impl std::fmt::Debug for VaultSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSecret")
            .field("content_type", &self.content_type)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl KeyVaultStore {
    /// The latest version of the secret `name` (any name, not only the refresh-token prefix).
    pub async fn read_secret(&self, name: &str) -> Result<VaultSecret, StoreError> {
        let secret = self
            .client
            .get_secret(name, None)
            .await
            .and_then(|r| r.into_model())
            .map_err(|e| self.error("get", name, &e))?;
        let version = secret
            .id
            .as_deref()
            .and_then(|id| id.trim_end_matches('/').rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        Ok(VaultSecret {
            value: crate::secret::ClientSecret::new(secret.value.unwrap_or_default()),
            content_type: secret.content_type,
            version,
        })
    }

    /// Writes a new version of the secret `name` (an operator's upload of the app's certificate
    /// or cookie key; the tools themselves only read these).
    pub async fn write_secret(
        &self,
        name: &str,
        value: &str,
        content_type: &str,
    ) -> Result<(), StoreError> {
        let parameters = SetSecretParameters {
            value: Some(value.to_owned()),
            content_type: Some(content_type.to_owned()),
            ..SetSecretParameters::default()
        };
        let content = parameters
            .try_into()
            .map_err(|e: azure_core::Error| self.error("set", name, &e))?;
        self.client
            .set_secret(name, content, None)
            .await
            .map_err(|e| self.error("set", name, &e))?;
        Ok(())
    }

    /// The consent cookie key kept in the secret `name` (base64 of at least 64 bytes, as
    /// `openssl rand -base64 64` makes it).
    pub async fn read_cookie_key(
        &self,
        name: &str,
    ) -> Result<secrecy::SecretSlice<u8>, StoreError> {
        use base64::Engine as _;
        let secret = self.read_secret(name).await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(secret.value.expose_secret().trim())
            .ok()
            .filter(|b| b.len() >= 64)
            .ok_or_else(|| {
                StoreError::Setup(format!(
                    "the Key Vault secret {name} is not base64 of at least 64 bytes (value not shown): store one made with `openssl rand -base64 64`"
                ))
            })?;
        Ok(secrecy::SecretSlice::from(bytes))
    }
}

/// The app's certificate kept in Key Vault (`app.certificate_secret`): read at start, and read
/// again at most every `refresh` before a token request, so a new version uploaded to the vault
/// (a rotation) is used without a restart. The app registration should list both certificates
/// while clients move over; Entra accepts an assertion signed by either. When a new version
/// cannot be read or parsed, the current certificate stays in use and the reason is logged.
pub struct VaultCertificate {
    store: Arc<KeyVaultStore>,
    secret: String,
    algorithm: AssertionAlgorithm,
    refresh: std::time::Duration,
    current: std::sync::RwLock<(Arc<CertificateSigner>, String)>,
    checked: tokio::sync::Mutex<std::time::Instant>,
}

impl std::fmt::Debug for VaultCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultCertificate")
            .field("secret", &self.secret)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl VaultCertificate {
    /// Reads the certificate now (a start-up failure names the secret and what was wrong).
    pub async fn load(
        store: Arc<KeyVaultStore>,
        secret: &str,
        algorithm: AssertionAlgorithm,
        refresh: std::time::Duration,
    ) -> Result<Self, CertificateError> {
        let (signer, version) = read_certificate(&store, secret, algorithm).await?;
        Ok(Self {
            store,
            secret: secret.to_owned(),
            algorithm,
            refresh,
            current: std::sync::RwLock::new((Arc::new(signer), version)),
            checked: tokio::sync::Mutex::new(std::time::Instant::now()),
        })
    }

    /// The version in use.
    pub fn version(&self) -> String {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clone()
    }
}

impl crate::entra::CertificateProvider for VaultCertificate {
    fn current(&self) -> Arc<CertificateSigner> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .clone()
    }

    fn refresh(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut checked = self.checked.lock().await;
            if checked.elapsed() < self.refresh {
                return;
            }
            *checked = std::time::Instant::now();
            match read_certificate(&self.store, &self.secret, self.algorithm).await {
                Ok((signer, version)) => {
                    let mut current = self
                        .current
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if current.1 != version {
                        tracing::info!(secret = %self.secret, %version, "using a new version of the app's certificate from Key Vault");
                        *current = (Arc::new(signer), version);
                    }
                }
                Err(e) => tracing::warn!(
                    secret = %self.secret,
                    error = %e,
                    "cannot read the app's certificate from Key Vault; the current one stays in use"
                ),
            }
        })
    }
}

/// The latest version of a certificate secret: PKCS#12 (base64, `application/x-pkcs12`, as Key
/// Vault keeps certificates, no password) or PEM (certificate and key blocks).
async fn read_certificate(
    store: &KeyVaultStore,
    secret: &str,
    algorithm: AssertionAlgorithm,
) -> Result<(CertificateSigner, String), CertificateError> {
    use base64::Engine as _;
    let fail = |reason: String| CertificateError::FromVault {
        secret: secret.to_owned(),
        reason,
    };
    let value = store
        .read_secret(secret)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let text = value.value.expose_secret().trim();
    let signer = if text.starts_with("-----BEGIN") {
        let origin = std::path::Path::new(secret);
        CertificateSigner::from_pem(text.as_bytes(), origin, text.as_bytes(), origin, algorithm)
            .map_err(|e| fail(e.to_string()))?
    } else {
        let der = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| fail("neither PEM nor base64 PKCS#12".into()))?;
        CertificateSigner::from_pkcs12(&der, "", algorithm).map_err(fail)?
    };
    Ok((signer, value.version))
}

/// A credential's error in words: its sources, each said once, and what to change when the
/// identity platform refused a managed or workload identity.
pub fn describe_error(identity: &KeyVaultIdentity, e: &azure_core::Error) -> String {
    Identity::of(identity)
        .described(e)
        .unwrap_or_else(|| error_chain(e))
}

/// An error and its sources, each said once.
fn error_chain(e: &azure_core::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Key Vault's inner error code for a `PUT` of a secret name that is deleted but still
/// recoverable (soft delete): the name cannot be written until the secret is recovered or
/// purged (docs/microsoft-behaviour.md §4.4).
pub const DELETED_BUT_RECOVERABLE: &str = "ObjectIsDeletedButRecoverable";

/// What to do about secret `name` of `vault_url` being deleted but recoverable: recover it or
/// purge it (docs/microsoft-behaviour.md §4.4).
pub fn deleted_secret_fix(vault_url: &str, name: &str) -> String {
    let vault = url::Url::parse(vault_url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h.split('.').next().unwrap_or(h).to_owned())
        })
        .unwrap_or_else(|| vault_url.to_owned());
    format!(
        "secret {name} was deleted and the vault's soft delete keeps it recoverable, so Key Vault refuses to write that name: recover it (`az keyvault secret recover --vault-name {vault} --name {name}`, which brings back the grant stored before) or purge it (`az keyvault secret purge --vault-name {vault} --name {name}`, needs the purge permission and loses the old grant), then an admin agent consents again"
    )
}

/// `error.innererror.code` of a Key Vault error answer, if the SDK kept the answer.
fn inner_error_code(e: &azure_core::Error) -> Option<String> {
    let azure_core::error::ErrorKind::HttpResponse {
        raw_response: Some(raw),
        ..
    } = e.kind()
    else {
        return None;
    };
    let body: serde_json::Value = serde_json::from_slice(raw.body().as_ref()).ok()?;
    body.pointer("/error/innererror/code")?
        .as_str()
        .map(str::to_owned)
}

fn kv_error(operation: &'static str, name: &str, e: &azure_core::Error) -> StoreError {
    StoreError::KeyVault {
        operation,
        name: name.to_owned(),
        status: e.http_status().map(u16::from),
        message: e.to_string(),
    }
}

mod grants;
