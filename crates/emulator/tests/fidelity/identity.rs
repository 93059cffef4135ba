//! Microsoft's Python `azure-identity` `ManagedIdentityCredential` (App Service protocol) and
//! `WorkloadIdentityCredential` against the emulator, unchanged: the driver sets only what the
//! platform would (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`; a projected service-account token
//! file) and plays the cluster's service-account issuer.

use emulator::federation::{FederatedCredentialSeed, TOKEN_EXCHANGE_AUDIENCE};
use emulator::seed::ids;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::harness::start_with;
use crate::python::run_script_on;

const ISSUER: &str = "https://oidc.prod-aks.azure.com/00000000-0000-4000-8000-00000000c1a5/";
const SUBJECT: &str = "system:serviceaccount:sam:sam-broker";

fn token(key: &EncodingKey, sub: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("sa-key-1".into());
    let claims = json!({
        "iss": ISSUER, "sub": sub, "aud": [TOKEN_EXCHANGE_AUDIENCE],
        "iat": now, "nbf": now, "exp": now + 3600,
    });
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_identity_python_managed_and_workload_identity_credentials_work() {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let key = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap();
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("sa-key-1".into());
    let jwks = json!({ "keys": [jwk] }).to_string();
    let emu = start_with(|c| {
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
    let good = emu.dir.path().join("sa-token");
    let wrong = emu.dir.path().join("sa-token-wrong-subject");
    std::fs::write(&good, token(&key, SUBJECT)).unwrap();
    std::fs::write(&wrong, token(&key, "system:serviceaccount:default:default")).unwrap();
    let s = |p: &std::path::Path| p.display().to_string();
    let extra = vec![
        ("IDENTITY_ENDPOINT".into(), emu.handle.identity_endpoint()),
        (
            "IDENTITY_HEADER".into(),
            emu.handle.identity_header().into(),
        ),
        ("EMU_KV_RESOURCE".into(), emu.handle.key_vault_resource()),
        ("EMU_USER_MI_CLIENT".into(), ids::USER_MI_CLIENT.into()),
        ("EMU_SA_TOKEN_FILE".into(), s(&good)),
        ("EMU_SA_TOKEN_FILE_WRONG_SUBJECT".into(), s(&wrong)),
    ];
    run_script_on("test_identity.py", &emu, extra).await;
}
