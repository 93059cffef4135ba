//! Unit tests of `client.rs` (authorize URLs, token responses).
use super::*;
use crate::cloud::CloudName;

fn client(version: EndpointVersion) -> EntraClient {
    EntraClient::new(
        reqwest::Client::new(),
        Url::parse("https://login.microsoftonline.com").unwrap(),
        "app-id",
        ClientCredential::Secret(ClientSecret::new("s")),
        version,
    )
}

fn query(url: &Url) -> std::collections::HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[test]
fn v1_authorize_url_sends_resource_state_nonce_and_pkce_s256() {
    let cloud = CloudEndpoints::preset(CloudName::Global).unwrap();
    let target =
        TokenTarget::delegated(&cloud, EndpointVersion::V1, Resource::PartnerCenter).unwrap();
    let redirect = Url::parse("http://localhost:8080/callback").unwrap();
    let options = AuthorizeOptions {
        prompt: Some("consent".into()),
        login_hint: Some("admin@contoso.onmicrosoft.com".into()),
        domain_hint: Some("contoso.onmicrosoft.com".into()),
        response_mode: None,
        hybrid: false,
        amr_values: None,
    };
    let p = client(EndpointVersion::V1).authorize_url("common", &redirect, &target, &options);
    assert_eq!(
        p.url.as_str().split('?').next().unwrap(),
        "https://login.microsoftonline.com/common/oauth2/authorize"
    );
    let q = query(&p.url);
    assert_eq!(q["client_id"], "app-id");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], "http://localhost:8080/callback");
    assert_eq!(q["resource"], "https://api.partnercenter.microsoft.com");
    assert_eq!(q["scope"], "openid profile");
    assert_eq!(q["state"], p.state);
    assert_eq!(q["nonce"], p.nonce);
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["login_hint"], "admin@contoso.onmicrosoft.com");
    assert_eq!(q["domain_hint"], "contoso.onmicrosoft.com");
    assert_eq!(q["code_challenge_method"], "S256");
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(
        p.code_verifier.expose_secret().as_bytes(),
    ));
    assert_eq!(q["code_challenge"], expected);
    assert_eq!(
        p.code_verifier.len(),
        43,
        "RFC 7636 §4.1: 43-128 characters"
    );
}

#[test]
fn v2_authorize_url_sends_scopes_with_openid_and_offline_access() {
    let cloud = CloudEndpoints::preset(CloudName::Global).unwrap();
    let target =
        TokenTarget::delegated(&cloud, EndpointVersion::V2, Resource::PartnerCenter).unwrap();
    let redirect = Url::parse("http://localhost:8080/callback").unwrap();
    let p = client(EndpointVersion::V2).authorize_url(
        "organizations",
        &redirect,
        &target,
        &AuthorizeOptions::default(),
    );
    assert!(
        p.url
            .as_str()
            .starts_with("https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize?")
    );
    let q = query(&p.url);
    assert_eq!(
        q["scope"],
        "https://api.partnercenter.microsoft.com/.default offline_access openid profile"
    );
    assert!(!q.contains_key("resource"));
    assert!(!q.contains_key("prompt"));
}

#[test]
fn the_v1_hybrid_request_asks_for_code_id_token_by_form_post_and_for_mfa() {
    let target = TokenTarget::Resource("https://api.partnercenter.microsoft.com".into());
    let redirect = Url::parse("https://consent.contoso.com/callback").unwrap();
    let options = AuthorizeOptions {
        hybrid: true,
        response_mode: Some("query".into()),
        amr_values: Some("mfa".into()),
        ..AuthorizeOptions::default()
    };
    let p = client(EndpointVersion::V1).authorize_url("common", &redirect, &target, &options);
    let q = query(&p.url);
    assert_eq!(q["response_type"], "code id_token");
    assert_eq!(q["response_mode"], "form_post");
    assert_eq!(q["amr_values"], "mfa");
    assert_eq!(q["nonce"], p.nonce);
    assert_eq!(q["code_challenge_method"], "S256", "PKCE stays on");
    // v2 refuses amr_values (AADSTS901002): never sent there.
    let target = TokenTarget::Scopes("https://graph.microsoft.com/.default".into());
    let p = client(EndpointVersion::V2).authorize_url("common", &redirect, &target, &options);
    assert!(!query(&p.url).contains_key("amr_values"));
}

#[test]
fn each_authorization_gets_fresh_state_nonce_and_verifier() {
    let target = TokenTarget::Resource("https://graph.microsoft.com".into());
    let redirect = Url::parse("http://localhost/cb").unwrap();
    let c = client(EndpointVersion::V1);
    let a = c.authorize_url("common", &redirect, &target, &AuthorizeOptions::default());
    let b = c.authorize_url("common", &redirect, &target, &AuthorizeOptions::default());
    assert_ne!(a.state, b.state);
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.code_verifier, b.code_verifier);
}

#[test]
fn token_endpoints_follow_the_version_and_any_authority() {
    let mut c = client(EndpointVersion::V1);
    assert_eq!(
        c.token_endpoint("contoso.onmicrosoft.com").as_str(),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
    );
    c.version = EndpointVersion::V2;
    c.authority_host = Url::parse("https://127.0.0.1:8443/").unwrap();
    assert_eq!(
        c.token_endpoint("t").as_str(),
        "https://127.0.0.1:8443/t/oauth2/v2.0/token"
    );
}

#[test]
fn v1_response_with_numbers_as_strings_parses() {
    let body = br#"{"token_type":"Bearer","scope":"user_impersonation","expires_in":"3599","ext_expires_in":"3599","expires_on":"1547579127","not_before":"1547575227","resource":"https://api.partnercenter.microsoft.com","access_token":"at","refresh_token":"rt","id_token":"idt"}"#;
    let r = TokenResponse::parse(body, Instant::now()).unwrap();
    assert_eq!(r.expires_in, Duration::from_secs(3599));
    assert_eq!(r.access_token.expose_secret(), "at");
    assert_eq!(r.refresh_token.unwrap().expose_secret(), "rt");
    assert_eq!(r.id_token.unwrap().as_str(), "idt");
    assert_eq!(
        r.resource.as_deref(),
        Some("https://api.partnercenter.microsoft.com")
    );
}

#[test]
fn v2_response_with_integers_parses() {
    let body = br#"{"token_type":"Bearer","expires_in":86399,"ext_expires_in":86399,"refresh_in":43199,"access_token":"at"}"#;
    let r = TokenResponse::parse(body, Instant::now()).unwrap();
    assert_eq!(r.expires_in, Duration::from_secs(86399));
    assert_eq!(r.refresh_in, Some(Duration::from_secs(43199)));
    assert!(r.refresh_token.is_none());
}

#[test]
fn a_parse_failure_never_echoes_the_token() {
    let body = br#"{"access_token":"SECRET-AT","expires_in":"soon"}"#;
    let err = TokenResponse::parse(body, Instant::now()).unwrap_err();
    assert!(!err.contains("SECRET-AT"), "{err}");
}

#[test]
fn debug_of_a_response_redacts_every_token() {
    let body = br#"{"expires_in":1,"access_token":"AT-VALUE","refresh_token":"RT-VALUE","id_token":"ID-VALUE"}"#;
    let printed = format!("{:?}", TokenResponse::parse(body, Instant::now()).unwrap());
    for v in ["AT-VALUE", "RT-VALUE", "ID-VALUE"] {
        assert!(!printed.contains(v), "{printed}");
    }
}
