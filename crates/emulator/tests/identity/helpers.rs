//! An emulator per test, a client trusting its CA, and a fake Kubernetes service-account
//! issuer (its own RSA key and JWKS) for workload identity federation.

use emulator::federation::{FederatedCredentialSeed, TOKEN_EXCHANGE_AUDIENCE};
use emulator::seed::ids;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The issuer URL the fake cluster publishes (AKS form, trailing slash included).
pub const ISSUER: &str = "https://oidc.prod-aks.azure.com/00000000-0000-4000-8000-00000000c1a5/";
/// The pod's service account.
pub const SUBJECT: &str = "system:serviceaccount:sam:sam-broker";

/// A token issuer with an RSA key.
pub struct Issuer {
    key: EncodingKey,
    kid: String,
    pub jwks: String,
}

impl Issuer {
    pub fn new(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let key = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap();
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(kid.to_string());
        let jwks = json!({ "keys": [jwk] }).to_string();
        Issuer {
            key,
            kid: kid.to_string(),
            jwks,
        }
    }

    /// A service-account token as the kubelet projects it (RS256, `kid`), valid for an hour.
    pub fn token(&self, iss: &str, sub: &str, aud: &str, now: i64) -> String {
        self.token_with(json!({
            "iss": iss, "sub": sub, "aud": [aud],
            "iat": now, "nbf": now, "exp": now + 3600,
            "kubernetes.io": {"namespace": "sam", "serviceaccount": {"name": "sam-broker"}},
        }))
    }

    pub fn token_with(&self, claims: Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The federated credential the tests put on the Key Vault access app.
pub fn credential() -> FederatedCredentialSeed {
    FederatedCredentialSeed {
        app_id: ids::KEYVAULT_APP.into(),
        name: "aks-sam-broker".into(),
        issuer: ISSUER.into(),
        subject: SUBJECT.into(),
        audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
    }
}

pub struct TestEmulator {
    pub handle: EmulatorHandle,
    pub client: reqwest::Client,
}

/// The default seed, plus the fake cluster trusted by the Key Vault access app.
pub async fn spawn(issuer: &Issuer) -> TestEmulator {
    let config = EmulatorConfig {
        workers: 1,
        ..EmulatorConfig::default()
    }
    .with_federated_credential(credential())
    .with_external_issuer(ISSUER, issuer.jwks.clone());
    let handle = Emulator::start(config).await.expect("emulator starts");
    let client = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(handle.ca_pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    TestEmulator { handle, client }
}

impl TestEmulator {
    /// `GET {IDENTITY_ENDPOINT}?{query}` with the given `X-IDENTITY-HEADER`.
    pub async fn msi(&self, header: Option<&str>, query: &[(&str, &str)]) -> (u16, Value) {
        let mut req = self
            .client
            .get(self.handle.identity_endpoint())
            .query(query)
            .header("Metadata", "true");
        if let Some(h) = header {
            req = req.header("X-IDENTITY-HEADER", h);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// A client-credentials request with a federated assertion.
    pub async fn exchange(&self, assertion: &str) -> (u16, Value) {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.handle.authority_host(),
            ids::PARTNER_TENANT
        );
        let scope = format!("{}/.default", self.handle.key_vault_resource());
        let r = self
            .client
            .post(url)
            .form(&[
                ("client_id", ids::KEYVAULT_APP),
                ("grant_type", "client_credentials"),
                ("scope", &scope),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
            ])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}
