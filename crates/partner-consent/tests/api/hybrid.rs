//! Microsoft's own sign-in flow (the PartnerConsent sample's OpenID Connect hybrid flow), the
//! issuer of each cloud, and MFA asked for rather than only demanded.

use base64::Engine as _;

use crate::support::{
    ADMIN, Decision, PARTNER_TENANT, Returned, Spawn, TestApp, code_of, spawn_app, spawn_app_with,
};

fn field<'a>(returned: &'a Returned, name: &str) -> Option<&'a str> {
    match returned {
        Returned::FormPost { fields, .. } => fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str()),
        Returned::Query(_) => None,
    }
}

fn jwt_part(jwt: &str, i: usize) -> serde_json::Value {
    let part = jwt.split('.').nth(i).expect("JWT part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

fn with_field(returned: &Returned, name: &str, value: Option<&str>) -> Returned {
    let Returned::FormPost { action, fields } = returned else {
        panic!("form post expected")
    };
    let mut fields: Vec<(String, String)> =
        fields.iter().filter(|(k, _)| k != name).cloned().collect();
    if let Some(v) = value {
        fields.push((name.to_owned(), v.to_owned()));
    }
    Returned::FormPost {
        action: action.clone(),
        fields,
    }
}

async fn assert_refused_unredeemed(app: &TestApp, resp: reqwest::Response) {
    assert_eq!(resp.status(), 400, "status");
    let body = resp.text().await.unwrap();
    assert!(body.contains("The sign-in could not be verified"), "{body}");
    assert_eq!(
        app.emulator.counter("entra.token.authorization_code"),
        0,
        "the code is never redeemed"
    );
    assert!(app.stored(PARTNER_TENANT).await.is_none());
}

#[tokio::test]
async fn v1_signs_in_with_the_hybrid_flow_asks_for_mfa_and_validates_the_signed_id_token() {
    let app = spawn_app().await;
    let started = app.start().await;
    let q: std::collections::HashMap<_, _> =
        started.authorize_url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code id_token");
    assert_eq!(q["response_mode"], "form_post");
    assert_eq!(q["amr_values"], "mfa");
    assert_eq!(q["code_challenge_method"], "S256", "PKCE stays on the code");
    let returned = app
        .sign_in(&started.authorize_url, ADMIN, Decision::Accept)
        .await;
    let id_token = field(&returned, "id_token").expect("an ID token in the form post");
    let header = jwt_part(id_token, 0);
    assert_eq!(header["alg"], "RS256", "the front-channel token is signed");
    let claims = jwt_part(id_token, 1);
    let code = code_of(&returned).expect("code");
    assert_eq!(claims["c_hash"], common::entra::code_hash(&code));
    assert_eq!(claims["nonce"], q["nonce"]);
    assert_eq!(
        claims["iss"],
        format!("https://sts.windows.net/{PARTNER_TENANT}/")
    );
    let resp = app.callback(&returned, Some(&started.cookie)).await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(body.contains("Consent recorded"), "{body}");
    assert!(body.contains("<dd id=\"mfa\">used</dd>"), "{body}");
    assert!(
        body.contains("<dd id=\"pc-mfa\">compliant: Partner Center accepted"),
        "{body}"
    );
    assert_eq!(app.emulator.counter("entra.token.authorization_code"), 1);
    assert!(app.stored(PARTNER_TENANT).await.expect("stored").meta.mfa);
}

#[tokio::test]
async fn a_code_swapped_under_a_valid_id_token_is_refused_before_it_is_redeemed() {
    let app = spawn_app().await;
    let started = app.start().await;
    let returned = app
        .sign_in(&started.authorize_url, ADMIN, Decision::Accept)
        .await;
    // A second sign-in's code (an attacker's, injected into this browser's response).
    let other = app.start().await;
    let other_returned = app
        .sign_in(&other.authorize_url, ADMIN, Decision::Accept)
        .await;
    let swapped = with_field(
        &returned,
        "code",
        Some(&code_of(&other_returned).expect("code")),
    );
    let resp = app.callback(&swapped, Some(&started.cookie)).await;
    assert_refused_unredeemed(&app, resp).await;
}

#[tokio::test]
async fn a_hybrid_answer_without_its_id_token_or_with_an_unsigned_one_is_refused() {
    let app = spawn_app().await;
    let started = app.start().await;
    let returned = app
        .sign_in(&started.authorize_url, ADMIN, Decision::Accept)
        .await;
    let without = with_field(&returned, "id_token", None);
    let resp = app.callback(&without, Some(&started.cookie)).await;
    assert_refused_unredeemed(&app, resp).await;

    let started = app.start().await;
    let returned = app
        .sign_in(&started.authorize_url, ADMIN, Decision::Accept)
        .await;
    let signed = field(&returned, "id_token").expect("id_token");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"typ":"JWT","alg":"none"}"#),
        signed.split('.').nth(1).expect("payload")
    );
    let forged = with_field(&returned, "id_token", Some(&unsigned));
    let resp = app.callback(&forged, Some(&started.cookie)).await;
    assert_refused_unredeemed(&app, resp).await;
}

#[tokio::test]
async fn the_code_flow_stays_available_as_an_option() {
    let app = spawn_app_with(Spawn {
        sign_in_flow: "code",
        ..Spawn::default()
    })
    .await;
    let (started, returned, resp) = app.consent(ADMIN).await;
    let q: std::collections::HashMap<_, _> =
        started.authorize_url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["amr_values"], "mfa");
    assert!(matches!(returned, Returned::Query(_)));
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Consent recorded"));
}

/// 21Vianet's v1 issuer is `https://sts.chinacloudapi.cn/{tid}/`: the issuer comes from the
/// authority's discovery document, for the signed front-channel token and the token endpoint's
/// unsigned one alike.
#[tokio::test]
async fn a_consent_in_the_china_cloud_is_checked_against_that_clouds_issuer() {
    for flow in ["hybrid", "code"] {
        let app = spawn_app_with(Spawn {
            sign_in_flow: flow,
            v1_issuer_host: Some(emulator::V1_ISSUER_CHINA),
            ..Spawn::default()
        })
        .await;
        let (_, returned, resp) = app.consent(ADMIN).await;
        if let Some(id_token) = field(&returned, "id_token") {
            assert_eq!(
                jwt_part(id_token, 1)["iss"],
                format!("https://sts.chinacloudapi.cn/{PARTNER_TENANT}/")
            );
        }
        assert_eq!(resp.status(), 200, "{flow}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("Consent recorded"), "{flow}: {body}");
    }
}

/// No policy demands MFA of the admin agent (who has an MFA method): neither the default seed's
/// security defaults nor Partner Center's own Conditional Access policy.
fn no_policy() -> Spawn {
    Spawn {
        mfa_policies: Some(Vec::new()),
        entra_requires_mfa: false,
        ..Spawn::default()
    }
}

#[tokio::test]
async fn without_a_policy_mfa_is_challenged_because_v1_asks_for_it() {
    let app = spawn_app_with(no_policy()).await;
    let (_, _, resp) = app.consent(ADMIN).await;
    assert_eq!(
        app.emulator.counter("entra.mfa"),
        1,
        "the MFA page was shown"
    );
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<dd id=\"mfa\">used</dd>")
    );
}

#[tokio::test]
async fn without_a_policy_v2_cannot_ask_so_the_pages_name_the_conditional_access_policy() {
    let app = spawn_app_with(Spawn {
        endpoint_version: "v2",
        ..no_policy()
    })
    .await;
    let landing = app.get("/").await.text().await.unwrap();
    assert!(landing.contains("id=\"mfa-policy\""), "{landing}");
    assert!(landing.contains("Conditional Access policy"));
    let (started, _, resp) = app.consent(ADMIN).await;
    assert!(!started.authorize_url.as_str().contains("amr_values"));
    assert_eq!(app.emulator.counter("entra.mfa"), 0, "Entra did not ask");
    assert_eq!(resp.status(), 403);
    let body = resp.text().await.unwrap();
    assert!(body.contains("Conditional Access policy"), "{body}");
    assert!(body.contains("Signing in again will not help"), "{body}");
    assert!(app.stored(PARTNER_TENANT).await.is_none());
}

#[tokio::test]
async fn a_seeded_policy_makes_entra_challenge_mfa_on_v2_too() {
    let app = spawn_app_with(Spawn {
        endpoint_version: "v2",
        mfa_policies: Some(vec![emulator::seed::MfaPolicySeed {
            name: "CA: require MFA for admin agents".into(),
            tenant: PARTNER_TENANT.into(),
            users: vec![ADMIN.upn.into()],
        }]),
        ..no_policy()
    })
    .await;
    let (_, _, resp) = app.consent(ADMIN).await;
    assert_eq!(app.emulator.counter("entra.mfa"), 1);
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Consent recorded"));
}

/// "Consent on behalf of your organization" is offered unchecked: left so (this walker never
/// ticks it), the grant covers the admin who signed in only, and the consent works all the same
/// (`admin`'s `doctor_reports_a_consent_granted_for_the_signing_in_user_only` reads the grant).
#[tokio::test]
async fn a_consent_for_the_signing_in_user_only_works() {
    let app = spawn_app().await;
    let (_, _, resp) = app.consent(ADMIN).await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(body.contains("Consent recorded"), "{body}");
    assert!(body.contains("working: a Partner Center access token was obtained"));
    app.state
        .broker
        .access_token(PARTNER_TENANT, common::cloud::Resource::Graph)
        .await
        .expect("the stored consent works for Graph");
}
