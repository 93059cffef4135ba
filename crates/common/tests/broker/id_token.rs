//! ID-token validation against the emulator's keys.

use base64::Engine as _;
use common::cloud::Resource;
use common::config::EndpointVersion;
use common::entra::{
    AuthorizeOptions, EntraClient, ExpectedIdToken, IdToken, IdTokenError, IdTokenValidator,
    TokenTarget,
};
use common::secret::AuthCode;
use emulator::seed::ids;
use url::Url;

use crate::helpers::{ADMIN, Cred, Env, REDIRECT, spawn};

/// Signs in and returns (ID token, nonce).
async fn id_token(env: &Env, version: EndpointVersion) -> (IdToken, String) {
    let client = EntraClient::new(
        env.http.clone(),
        env.cloud.authority_host.clone(),
        ids::CSP_APP,
        env.credential(Cred::Secret),
        version,
    );
    let target = TokenTarget::delegated(&env.cloud, version, Resource::PartnerCenter).unwrap();
    let pending = client.authorize_url(
        "common",
        &Url::parse(REDIRECT).unwrap(),
        &target,
        &AuthorizeOptions::default(),
    );
    let code = env.sign_in(&pending, ADMIN).await;
    let response = client
        .redeem_code(&AuthCode::new(code), &pending)
        .await
        .unwrap();
    (response.id_token.unwrap(), pending.nonce)
}

fn validator(env: &Env, version: EndpointVersion, client_id: &str) -> IdTokenValidator {
    IdTokenValidator::new(
        env.http.clone(),
        &env.cloud.authority_host,
        "common",
        version,
        client_id,
    )
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn a_valid_v1_id_token_gives_tenant_user_and_mfa() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V1).await;
    let user = validator(&env, EndpointVersion::V1, ids::CSP_APP)
        .validate(
            &token,
            ExpectedIdToken {
                nonce: &nonce,
                tenant: Some(ids::PARTNER_TENANT),
            },
        )
        .await
        .unwrap();
    assert_eq!(user.tenant_id, ids::PARTNER_TENANT);
    assert_eq!(user.object_id, ids::PARTNER_ADMIN);
    assert_eq!(user.upn.as_deref(), Some(ADMIN));
    assert_eq!(user.mfa, Some(true));
}

#[tokio::test]
async fn a_valid_v2_id_token_matches_the_tenantid_issuer_template() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V2).await;
    let user = validator(&env, EndpointVersion::V2, ids::CSP_APP)
        .validate(
            &token,
            ExpectedIdToken {
                nonce: &nonce,
                tenant: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(user.tenant_id, ids::PARTNER_TENANT);
    assert_eq!(user.upn.as_deref(), Some(ADMIN));
}

#[tokio::test]
async fn validation_rejects_a_wrong_nonce() {
    let env = spawn().await;
    let (token, _) = id_token(&env, EndpointVersion::V1).await;
    let err = validator(&env, EndpointVersion::V1, ids::CSP_APP)
        .validate(
            &token,
            ExpectedIdToken {
                nonce: "another-nonce",
                tenant: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err, IdTokenError::Nonce);
}

#[tokio::test]
async fn validation_rejects_a_wrong_audience() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V1).await;
    let err = validator(&env, EndpointVersion::V1, ids::CPV_APP)
        .validate(
            &token,
            ExpectedIdToken {
                nonce: &nonce,
                tenant: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        IdTokenError::Audience {
            found: ids::CSP_APP.into()
        }
    );
}

#[tokio::test]
async fn validation_rejects_a_wrong_issuer() {
    let env = spawn().await;
    // A v2 token (iss {authority}/{tid}/v2.0) checked against the v1 issuer.
    let (token, nonce) = id_token(&env, EndpointVersion::V2).await;
    let err = validator(&env, EndpointVersion::V1, ids::CSP_APP)
        .validate(
            &token,
            ExpectedIdToken {
                nonce: &nonce,
                tenant: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        IdTokenError::Issuer {
            expected: format!("https://sts.windows.net/{}/", ids::PARTNER_TENANT),
            found: format!("{}/{}/v2.0", env.emu.authority_host(), ids::PARTNER_TENANT),
        }
    );
}

#[tokio::test]
async fn validation_rejects_a_forged_signature() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V2).await;
    // Change one claim, keep header and signature.
    let parts: Vec<&str> = token.as_str().split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["oid"] = serde_json::json!("00000000-0000-0000-0000-000000000000");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    );
    let err = validator(&env, EndpointVersion::V2, ids::CSP_APP)
        .validate(
            &IdToken::new(forged),
            ExpectedIdToken {
                nonce: &nonce,
                tenant: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err, IdTokenError::Signature);
}

#[tokio::test]
async fn validation_rejects_a_token_signed_by_an_unknown_key() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V2).await;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.as_str().split('.').collect();
    let claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    let cert = crate::helpers::test_cert();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("attacker-key".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(cert.key_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let err = validator(&env, EndpointVersion::V2, ids::CSP_APP)
        .validate(
            &IdToken::new(forged),
            ExpectedIdToken {
                nonce: &nonce,
                tenant: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err, IdTokenError::UnknownKey("attacker-key".into()));
}

#[tokio::test]
async fn validation_rejects_an_expired_token() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V2).await;
    let v = validator(&env, EndpointVersion::V2, ids::CSP_APP);
    let later = now() + 3 * 3600;
    let err = v
        .validate_at(
            &token,
            ExpectedIdToken {
                nonce: &nonce,
                tenant: None,
            },
            later,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdTokenError::Expired { now, .. } if now == later),
        "{err:?}"
    );
}

#[tokio::test]
async fn validation_rejects_a_token_from_another_tenant_when_one_is_required() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V1).await;
    let err = validator(&env, EndpointVersion::V1, ids::CSP_APP)
        .validate(
            &token,
            ExpectedIdToken {
                nonce: &nonce,
                tenant: Some(ids::CUSTOMER_FABRIKAM),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, IdTokenError::Tenant { .. }), "{err:?}");
}

fn header(token: &IdToken) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let first = token.as_str().split('.').next().unwrap();
    serde_json::from_slice(&b64.decode(first).unwrap()).unwrap()
}

#[tokio::test]
async fn the_v1_token_endpoint_returns_an_unsigned_id_token_and_v2_a_signed_one() {
    let env = spawn().await;
    let (v1, _) = id_token(&env, EndpointVersion::V1).await;
    assert_eq!(
        header(&v1),
        serde_json::json!({"typ": "JWT", "alg": "none"})
    );
    assert!(v1.as_str().ends_with('.'), "empty signature");
    let (v2, _) = id_token(&env, EndpointVersion::V2).await;
    assert_eq!(header(&v2)["alg"], "RS256");
}

#[tokio::test]
async fn an_unsigned_id_token_of_unknown_origin_is_refused() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V1).await;
    let err = validator(&env, EndpointVersion::V1, ids::CSP_APP)
        .validate(
            &IdToken::new(token.as_str()),
            ExpectedIdToken {
                nonce: &nonce,
                tenant: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, IdTokenError::Unsigned(_)), "{err:?}");
}

#[tokio::test]
async fn an_unsigned_id_token_is_refused_on_v2() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V1).await;
    let err = validator(&env, EndpointVersion::V2, ids::CSP_APP)
        .validate(
            &token,
            ExpectedIdToken {
                nonce: &nonce,
                tenant: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, IdTokenError::Unsigned(_)), "{err:?}");
}

#[tokio::test]
async fn an_unsigned_id_token_from_another_authority_is_refused() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V1).await;
    let elsewhere = IdTokenValidator::new(
        env.http.clone(),
        &Url::parse("https://login.microsoftonline.com").unwrap(),
        "common",
        EndpointVersion::V1,
        ids::CSP_APP,
    );
    let err = elsewhere
        .validate(
            &token,
            ExpectedIdToken {
                nonce: &nonce,
                tenant: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IdTokenError::Unsigned(m) if m.contains("not the configured authority")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unsigned_id_token_still_has_every_claim_checked() {
    let env = spawn().await;
    let (token, nonce) = id_token(&env, EndpointVersion::V1).await;
    let v = validator(&env, EndpointVersion::V1, ids::CSP_APP);
    let expected = ExpectedIdToken {
        nonce: &nonce,
        tenant: None,
    };
    let later = now() + 3 * 3600;
    let err = v.validate_at(&token, expected, later).await.unwrap_err();
    assert!(matches!(err, IdTokenError::Expired { .. }), "{err:?}");
}

fn expect(nonce: &str) -> ExpectedIdToken<'_> {
    ExpectedIdToken {
        nonce,
        tenant: None,
    }
}

/// Entra rolls its signing keys over: a token signed with a new key makes the validator fetch
/// the keys again (at most every `min_refresh`), the previous key stays usable while published,
/// and cached keys are refetched after their TTL even when every token names a known key.
#[tokio::test]
async fn keys_are_fetched_again_after_a_rollover_and_after_their_ttl() {
    use std::time::Duration;
    let env = spawn().await;
    let keys_fetched = || env.emu.counter("entra.keys");
    let v = validator(&env, EndpointVersion::V2, ids::CSP_APP)
        .with_key_refresh(common::entra::KEY_TTL, Duration::ZERO);
    let (before, nonce_before) = id_token(&env, EndpointVersion::V2).await;
    v.validate(&before, expect(&nonce_before)).await.unwrap();
    assert_eq!(keys_fetched(), 1);

    let new_kid = env.emu.rotate_signing_key().unwrap();
    let (after, nonce_after) = id_token(&env, EndpointVersion::V2).await;
    v.validate(&after, expect(&nonce_after)).await.unwrap();
    assert_eq!(
        keys_fetched(),
        2,
        "the unknown kid {new_kid} caused one refetch"
    );
    // The previous key is still published and cached: no fetch.
    v.validate(&before, expect(&nonce_before)).await.unwrap();
    assert_eq!(keys_fetched(), 2);

    // The default rate limit: an unknown kid right after a fetch is refused, not refetched.
    let strict = validator(&env, EndpointVersion::V2, ids::CSP_APP);
    strict.validate(&after, expect(&nonce_after)).await.unwrap();
    let fetched = keys_fetched();
    env.emu.rotate_signing_key().unwrap();
    let (third, nonce_third) = id_token(&env, EndpointVersion::V2).await;
    let err = strict
        .validate(&third, expect(&nonce_third))
        .await
        .unwrap_err();
    assert!(matches!(err, IdTokenError::UnknownKey(_)), "{err:?}");
    assert_eq!(keys_fetched(), fetched);

    // A TTL of zero: every validation fetches the keys again.
    let ttl0 = validator(&env, EndpointVersion::V2, ids::CSP_APP)
        .with_key_refresh(Duration::ZERO, Duration::ZERO);
    ttl0.validate(&third, expect(&nonce_third)).await.unwrap();
    ttl0.validate(&third, expect(&nonce_third)).await.unwrap();
    assert_eq!(keys_fetched(), fetched + 2);
}

/// Keys are taken only from HTTPS on the authority's own host, whatever the metadata says.
#[tokio::test]
async fn a_jwks_uri_elsewhere_than_the_authority_is_refused() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    for jwks_uri in [
        "https://keys.attacker.example/common/discovery/v2.0/keys",
        "http://127.0.0.1:9/common/discovery/v2.0/keys",
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let body = serde_json::json!({"issuer": "https://login.example/{tenantid}/v2.0", "jwks_uri": jwks_uri}).to_string();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        let v = IdTokenValidator::new(
            reqwest::Client::new(),
            &authority,
            "common",
            EndpointVersion::V2,
            ids::CSP_APP,
        );
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let token = format!(
            "{}.{}.c2ln",
            b64(serde_json::json!({"alg": "RS256", "kid": "k1"})),
            b64(serde_json::json!({"aud": ids::CSP_APP}))
        );
        let err = v
            .validate(&IdToken::new(token), expect("n"))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, IdTokenError::Discovery(_))
                && text.contains("not https on the authority's host"),
            "{jwks_uri}: {text}"
        );
    }
}
