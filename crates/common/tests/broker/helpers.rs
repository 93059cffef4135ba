//! Spawning the emulator and walking its sign-in pages like a browser.

use emulator::browser::ConsentAnswer;
use std::sync::Arc;

use common::cloud::CloudEndpoints;
use common::config::{AssertionAlgorithm, EndpointVersion, HttpSettings};
use common::entra::{AuthorizeOptions, CertificateSigner, ClientCredential, PendingAuthorization};
use common::secret::{AuthCode, ClientSecret, PrivateKeyPem};
use common::tokens::{
    BrokerSettings, CachePolicy, ConsentRecord, GrantMetadata, LocalFileStore, RefreshTokenStore,
    StoreError, StoredGrant, TokenBroker,
};
use emulator::seed::ids;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use url::Url;

pub const REDIRECT: &str = "http://127.0.0.1:8080/callback";
pub const CONSENT_PAGE: &str = "http://127.0.0.1:8080/";
pub const ADMIN: &str = "admin@contoso-partner.onmicrosoft.com";
pub const ADMIN_NO_MFA: &str = "nomfa-admin@contoso-partner.onmicrosoft.com";

/// A test certificate for the CSP app (RSA 2048, self-signed).
pub struct TestCert {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: String,
}

pub fn test_cert() -> TestCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sam-broker-test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    TestCert {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
    }
}

/// Which credential the CSP app uses.
#[derive(Clone, Copy, Debug)]
pub enum Cred {
    Secret,
    Ps256,
    Rs256,
}

pub struct Env {
    pub emu: EmulatorHandle,
    pub http: reqwest::Client,
    pub cloud: CloudEndpoints,
    pub cert: TestCert,
    pub dir: tempfile::TempDir,
}

pub async fn spawn() -> Env {
    spawn_with(|c| c).await
}

pub async fn spawn_with(tweak: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> Env {
    let cert = test_cert();
    let config = EmulatorConfig {
        workers: 2,
        ..EmulatorConfig::default()
    }
    .with_certificate(ids::CSP_APP, cert.cert_pem.clone());
    let emu = Emulator::start(tweak(config))
        .await
        .expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, emu.ca_pem()).unwrap();
    let http = common::http::build_client(&HttpSettings {
        ca_bundle: Some(ca),
        ..HttpSettings::default()
    })
    .unwrap();
    let url = |s: String| Url::parse(&s).unwrap();
    let cloud = CloudEndpoints::custom(
        url(emu.authority_host()),
        url(emu.graph_url()),
        url(emu.partner_center_url()),
        emu.key_vault_dns_suffix(),
    );
    Env {
        emu,
        http,
        cloud,
        cert,
        dir,
    }
}

impl Env {
    pub fn credential(&self, cred: Cred) -> ClientCredential {
        let signer = |alg| {
            ClientCredential::Certificate(Arc::new(
                CertificateSigner::new(
                    &self.cert.cert_der,
                    &PrivateKeyPem::new(self.cert.key_pem.clone()),
                    alg,
                )
                .unwrap(),
            ))
        };
        match cred {
            Cred::Secret => ClientCredential::Secret(ClientSecret::new(
                self.emu
                    .seed()
                    .apps
                    .iter()
                    .find(|a| a.app_id == ids::CSP_APP)
                    .unwrap()
                    .secrets[0]
                    .clone(),
            )),
            Cred::Ps256 => signer(AssertionAlgorithm::Ps256),
            Cred::Rs256 => signer(AssertionAlgorithm::Rs256),
        }
    }

    pub fn settings(&self, version: EndpointVersion) -> BrokerSettings {
        BrokerSettings {
            app_id: ids::CSP_APP.into(),
            cloud: self.cloud.clone(),
            version,
            authority_tenant: "common".into(),
            sign_in_host: None,
            redirect_url: Url::parse(REDIRECT).unwrap(),
            consent_page: Url::parse(CONSENT_PAGE).unwrap(),
            prompt: None,
            default_partner: Some(ids::PARTNER_TENANT.into()),
            allowed_partners: vec![],
            cache: CachePolicy::default(),
            store_attempts: 2,
        }
    }

    pub fn local_store(&self) -> Arc<LocalFileStore> {
        Arc::new(
            LocalFileStore::with_key(
                &self.dir.path().join("tokens.enc"),
                &secrecy::SecretSlice::from(vec![7u8; 32]),
            )
            .unwrap(),
        )
    }

    pub fn broker(
        &self,
        version: EndpointVersion,
        cred: Cred,
        store: Arc<dyn RefreshTokenStore>,
    ) -> TokenBroker {
        TokenBroker::new(
            self.settings(version),
            self.http.clone(),
            self.credential(cred),
            store,
        )
    }

    /// Walks the emulator's sign-in, MFA and consent pages for `pending`; returns the code.
    pub async fn sign_in(&self, pending: &PendingAuthorization, upn: &str) -> String {
        let loc = self
            .emu
            .sign_in(&self.http, &pending.url, upn, ConsentAnswer::Accept)
            .await
            .unwrap_or_else(|e| panic!("sign-in of {upn}: {e}"));
        let q: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
        assert_eq!(q.get("state"), Some(&pending.state), "state echoed");
        q.get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code: {loc}"))
    }

    /// A full consent by `upn` through `broker`.
    pub async fn consent(&self, broker: &TokenBroker, upn: &str) -> ConsentRecord {
        self.try_consent(broker, upn).await.expect("consent stored")
    }

    pub async fn try_consent(
        &self,
        broker: &TokenBroker,
        upn: &str,
    ) -> Result<ConsentRecord, common::tokens::BrokerError> {
        let pending = broker.consent_url(AuthorizeOptions {
            prompt: Some("consent".into()),
            ..AuthorizeOptions::default()
        });
        let code = self.sign_in(&pending, upn).await;
        broker.store_consent(AuthCode::new(code), &pending).await
    }
}

/// A store whose writes wait for the test's go-ahead, and say when one has started.
#[derive(Debug)]
pub struct GatedStore {
    pub inner: Arc<dyn RefreshTokenStore>,
    pub started: tokio::sync::mpsc::UnboundedSender<()>,
    pub go: Arc<tokio::sync::Semaphore>,
}

#[async_trait::async_trait]
impl RefreshTokenStore for GatedStore {
    async fn get(&self, tenant_id: &str) -> Result<Option<StoredGrant>, StoreError> {
        self.inner.get(tenant_id).await
    }
    async fn put(&self, grant: &StoredGrant) -> Result<(), StoreError> {
        let _ = self.started.send(());
        self.go.acquire().await.expect("gate open").forget();
        self.inner.put(grant).await
    }
    async fn list(&self) -> Result<Vec<GrantMetadata>, StoreError> {
        self.inner.list().await
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}
