//! `WorkloadIdentityCredential` to the emulated vault: the test plays the Kubernetes
//! service-account issuer (its own RSA key; the emulator trusts its JWKS) and writes the
//! projected token file the pod would see.

use common::config::KeyVaultIdentity;
use emulator::federation::{FederatedCredentialSeed, TOKEN_EXCHANGE_AUDIENCE};
use emulator::seed::ids;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::{Env, refused_get, spawn_with, store, store_rotate_read, write};

const ISSUER: &str = "https://oidc.prod-aks.azure.com/00000000-0000-4000-8000-00000000c1a5/";
const SUBJECT: &str = "system:serviceaccount:sam:sam-broker";

struct ClusterIssuer {
    key: EncodingKey,
    jwks: String,
}

impl ClusterIssuer {
    fn new() -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let key = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap();
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some("sa-key-1".into());
        let jwks = json!({ "keys": [jwk] }).to_string();
        ClusterIssuer { key, jwks }
    }

    /// A projected service-account token.
    fn token(&self, iss: &str, sub: &str, aud: &str, lifetime: i64) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("sa-key-1".into());
        let claims = json!({
            "iss": iss, "sub": sub, "aud": [aud],
            "iat": now.min(now + lifetime - 3600), "nbf": now.min(now + lifetime - 3600),
            "exp": now + lifetime,
        });
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

async fn cluster() -> (Env, ClusterIssuer) {
    let issuer = ClusterIssuer::new();
    let jwks = issuer.jwks.clone();
    let env = spawn_with(move |c| {
        c.with_federated_credential(FederatedCredentialSeed {
            app_id: ids::KEYVAULT_APP.into(),
            name: "aks-sam-broker".into(),
            issuer: ISSUER.into(),
            subject: SUBJECT.into(),
            audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
        })
        .with_external_issuer(ISSUER, jwks)
    })
    .await;
    (env, issuer)
}

fn identity(env: &Env, token: &str) -> KeyVaultIdentity {
    KeyVaultIdentity::WorkloadIdentity {
        tenant_id: ids::PARTNER_TENANT.into(),
        client_id: ids::KEYVAULT_APP.into(),
        token_file: write(env.dir.path(), "azure-identity-token", token),
    }
}

#[tokio::test]
async fn workload_identity_stores_rotates_and_reads_a_refresh_token() {
    let (env, issuer) = cluster().await;
    let token = issuer.token(ISSUER, SUBJECT, TOKEN_EXCHANGE_AUDIENCE, 3600);
    store_rotate_read(&store(&env.target, identity(&env, &token))).await;
    assert!(env.emu.counter("entra.token.client_credentials") >= 1);
}

#[tokio::test]
async fn a_wrong_issuer_is_refused_with_aadsts700211_and_a_remedy() {
    let (env, issuer) = cluster().await;
    let token = issuer.token(
        ISSUER.trim_end_matches('/'),
        SUBJECT,
        TOKEN_EXCHANGE_AUDIENCE,
        3600,
    );
    let error = refused_get(&store(&env.target, identity(&env, &token))).await;
    assert!(error.contains("AADSTS700211"), "{error}");
    assert!(error.contains("fix: the federated credential's issuer must equal the cluster's OIDC issuer exactly, trailing '/' included"), "{error}");
}

#[tokio::test]
async fn a_wrong_subject_is_refused_with_aadsts700213_and_a_remedy() {
    let (env, issuer) = cluster().await;
    let token = issuer.token(
        ISSUER,
        "system:serviceaccount:default:default",
        TOKEN_EXCHANGE_AUDIENCE,
        3600,
    );
    let error = refused_get(&store(&env.target, identity(&env, &token))).await;
    assert!(error.contains("AADSTS700213"), "{error}");
    assert!(error.contains("fix: the federated credential's subject must be system:serviceaccount:<namespace>:<service account>"), "{error}");
}

#[tokio::test]
async fn a_wrong_audience_is_refused_with_aadsts700212_and_a_remedy() {
    let (env, issuer) = cluster().await;
    let token = issuer.token(ISSUER, SUBJECT, "https://kubernetes.default.svc", 3600);
    let error = refused_get(&store(&env.target, identity(&env, &token))).await;
    assert!(error.contains("AADSTS700212"), "{error}");
    assert!(
        error.contains(
            "fix: the federated credential's audience must be api://AzureADTokenExchange"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn an_expired_service_account_token_is_refused_with_aadsts700024_and_a_remedy() {
    let (env, issuer) = cluster().await;
    let token = issuer.token(ISSUER, SUBJECT, TOKEN_EXCHANGE_AUDIENCE, -3600);
    let error = refused_get(&store(&env.target, identity(&env, &token))).await;
    assert!(error.contains("AADSTS700024"), "{error}");
    assert!(
        error.contains("fix: the service-account token in store.key_vault.token_file has expired"),
        "{error}"
    );
}
