use emulator::ResourceKind;
use emulator::federation::TOKEN_EXCHANGE_AUDIENCE;
use emulator::seed::ids;
use serde_json::json;

use crate::helpers::{ISSUER, Issuer, SUBJECT, now, spawn};

fn code(body: &serde_json::Value) -> i64 {
    body["error_codes"][0].as_i64().unwrap_or_default()
}

#[tokio::test]
async fn a_service_account_token_from_the_trusted_issuer_is_exchanged_for_an_app_token() {
    let issuer = Issuer::new("k1");
    let emu = spawn(&issuer).await;
    let assertion = issuer.token(ISSUER, SUBJECT, TOKEN_EXCHANGE_AUDIENCE, now());
    let (status, body) = emu.exchange(&assertion).await;
    assert_eq!(status, 200, "{body}");
    let token = emu
        .handle
        .validate_access_token(
            body["access_token"].as_str().unwrap(),
            &[ResourceKind::KeyVault],
        )
        .unwrap();
    assert_eq!(token.app_id, ids::KEYVAULT_APP);
    assert_eq!(token.object_id, ids::KEYVAULT_APP_SP);
    // The projected token is reused until the kubelet rotates it: not single-use.
    let (status, body) = emu.exchange(&assertion).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn wrong_issuer_subject_or_audience_is_refused_with_entras_codes() {
    let issuer = Issuer::new("k1");
    let emu = spawn(&issuer).await;
    let t = now();
    let no_slash = ISSUER.trim_end_matches('/');
    let (status, body) = emu
        .exchange(&issuer.token(no_slash, SUBJECT, TOKEN_EXCHANGE_AUDIENCE, t))
        .await;
    assert_eq!((status, code(&body)), (400, 700211), "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains(no_slash)
    );
    let (status, body) = emu
        .exchange(&issuer.token(
            ISSUER,
            "system:serviceaccount:sam:other",
            TOKEN_EXCHANGE_AUDIENCE,
            t,
        ))
        .await;
    assert_eq!((status, code(&body)), (400, 700213), "{body}");
    let (status, body) = emu
        .exchange(&issuer.token(ISSUER, SUBJECT, "https://kubernetes.default.svc", t))
        .await;
    assert_eq!((status, code(&body)), (400, 700212), "{body}");
}

#[tokio::test]
async fn expired_or_foreign_signed_assertions_are_refused() {
    let issuer = Issuer::new("k1");
    let emu = spawn(&issuer).await;
    let t = now() - 7200;
    let (status, body) = emu
        .exchange(&issuer.token(ISSUER, SUBJECT, TOKEN_EXCHANGE_AUDIENCE, t))
        .await;
    assert_eq!((status, code(&body)), (401, 700024), "{body}");
    let impostor = Issuer::new("k1");
    let (status, body) = emu
        .exchange(&impostor.token(ISSUER, SUBJECT, TOKEN_EXCHANGE_AUDIENCE, now()))
        .await;
    assert_eq!((status, code(&body)), (401, 700027), "{body}");
    let unsigned_claims = json!({"iss": ISSUER, "sub": SUBJECT, "aud": TOKEN_EXCHANGE_AUDIENCE});
    let other_kid = Issuer::new("k2").token_with(unsigned_claims);
    let (_, body) = emu.exchange(&other_kid).await;
    assert_eq!(code(&body), 700027, "{body}");
}
