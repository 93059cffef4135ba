use crate::helpers::{pkce, query_param, spawn};
use emulator::ResourceKind;
use emulator::seed::ids;
use std::time::Duration;

const REDIRECT: &str = "http://127.0.0.1:8080/callback";
const PC: &str = "https://api.partnercenter.microsoft.com";

#[tokio::test]
async fn client_credentials_v2_returns_integer_lifetimes_and_a_token_key_vault_accepts() {
    let emu = spawn().await;
    let secret = emu.secret_of(ids::KEYVAULT_APP);
    let scope = format!("{}/.default", emu.handle.key_vault_resource());
    let (s, body) = emu
        .token(
            ids::PARTNER_TENANT,
            true,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", ids::KEYVAULT_APP),
                ("client_secret", &secret),
                ("scope", &scope),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["expires_in"].is_i64());
    assert!(body.get("refresh_token").is_none());
    let t = emu
        .handle
        .validate_access_token(
            body["access_token"].as_str().unwrap(),
            &[ResourceKind::KeyVault],
        )
        .unwrap();
    assert_eq!(t.object_id, ids::KEYVAULT_APP_SP);
    assert!(t.is_app_only);
    assert_eq!(emu.handle.counter("entra.token.client_credentials"), 1);
}

#[tokio::test]
async fn client_credentials_v1_returns_string_lifetimes_and_the_resource_as_audience() {
    let emu = spawn().await;
    let secret = emu.secret_of(ids::CPV_APP);
    let (s, body) = emu
        .token(
            ids::PARTNER_TENANT,
            false,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", ids::CPV_APP),
                ("client_secret", &secret),
                ("resource", "https://graph.microsoft.com"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["expires_in"].is_string() && body["expires_on"].is_string());
    assert_eq!(body["resource"], "https://graph.microsoft.com");
    let t = emu
        .handle
        .validate_access_token(
            body["access_token"].as_str().unwrap(),
            &[ResourceKind::Graph],
        )
        .unwrap();
    assert_eq!(t.roles, vec!["Application.Read.All".to_string()]);
    assert_eq!(
        emu.handle.resource_for_audience(&t.audience),
        Some(ResourceKind::Graph)
    );
}

#[tokio::test]
async fn a_token_for_the_emulators_own_api_url_is_refused_as_entra_refuses_a_gateways_url() {
    // Entra issues tokens only for a resource's App ID URI, never for the URL a gateway (here the
    // emulator) answers the API on: AADSTS500011 (docs/microsoft-behaviour.md §6.1a).
    let emu = spawn().await;
    let secret = emu.secret_of(ids::CPV_APP);
    let graph_scope = format!("{}/.default", emu.handle.graph_url());
    let requests = [
        (false, "resource", emu.handle.graph_url()),
        (false, "resource", emu.handle.partner_center_url()),
        (false, "resource", emu.handle.partner_api_url()),
        (true, "scope", graph_scope),
        (
            true,
            "scope",
            format!("{}/.default", emu.handle.partner_center_url()),
        ),
    ];
    for (v2, param, value) in &requests {
        let (s, body) = emu
            .token(
                ids::PARTNER_TENANT,
                *v2,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", ids::CPV_APP),
                    ("client_secret", &secret),
                    (param, value),
                ],
            )
            .await;
        assert_eq!(s, 400, "{value}: {body}");
        assert_eq!(body["error"], "invalid_resource", "{value}: {body}");
        assert_eq!(body["error_codes"][0], 500011, "{value}: {body}");
    }
    // The App ID URIs themselves are issued, v1 and v2.
    for (v2, param, value) in [
        (false, "resource", PC),
        (true, "scope", "https://graph.microsoft.com/.default"),
    ] {
        let (s, body) = emu
            .token(
                ids::PARTNER_TENANT,
                v2,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", ids::CPV_APP),
                    ("client_secret", &secret),
                    (param, value),
                ],
            )
            .await;
        assert_eq!(s, 200, "{value}: {body}");
    }
}

#[tokio::test]
async fn wrong_secret_unknown_client_and_unknown_tenant_get_entra_errors() {
    let emu = spawn().await;
    let (s, body) = emu
        .token(
            ids::PARTNER_TENANT,
            true,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", ids::KEYVAULT_APP),
                ("client_secret", "nope"),
                ("scope", "https://vault.azure.net/.default"),
            ],
        )
        .await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")));
    assert_eq!(body["error_codes"][0], 7000215);
    let desc = body["error_description"].as_str().unwrap();
    assert!(
        desc.starts_with("AADSTS7000215: ")
            && desc.contains("\r\nTrace ID: ")
            && desc.contains("\r\nCorrelation ID: ")
            && desc.contains("\r\nTimestamp: "),
        "{desc}"
    );
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[key].is_string(), "{key}");
    }
    let (s, body) = emu
        .token(
            ids::PARTNER_TENANT,
            true,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "00000000-1111-2222-3333-444444444444"),
                ("client_secret", "x"),
                ("scope", "https://vault.azure.net/.default"),
            ],
        )
        .await;
    assert_eq!((s, body["error_codes"][0].as_i64()), (400, Some(700016)));
    let (s, body) = emu
        .token(
            "nosuchtenant.onmicrosoft.com",
            true,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!((s, body["error_codes"][0].as_i64()), (400, Some(90002)));
    let (s, body) = emu
        .token(ids::PARTNER_TENANT, true, &[("grant_type", "password")])
        .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn malformed_and_oversized_token_bodies_get_entra_errors_not_500() {
    let emu = spawn().await;
    let url = emu.url(&format!("/{}/oauth2/v2.0/token", ids::PARTNER_TENANT));
    let r = emu
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("%%%=&&==%zz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS")
    );
    let r = emu
        .client
        .post(&url)
        .body(format!(
            "grant_type=client_credentials&pad={}",
            "x".repeat(200_000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let r = emu
        .client
        .get(emu.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// A v1 authorization-code flow for the CSP app by `upn` (`extra` appended to the authorize
/// query), redeemed for `resource`: the token answer, and the form (to replay it).
async fn v1_code_grant(
    emu: &crate::helpers::TestEmulator,
    upn: &str,
    extra: &str,
    resource: &str,
) -> (serde_json::Value, Vec<(&'static str, String)>) {
    let (verifier, challenge) = pkce();
    let url = format!(
        "{}/organizations/oauth2/authorize?client_id={}&response_type=code&redirect_uri={}&resource={}&state=xyz&code_challenge={challenge}&code_challenge_method=S256{extra}",
        emu.handle.authority_host(),
        ids::CSP_APP,
        REDIRECT,
        PC
    );
    let location = emu.sign_in(&url, upn).await;
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
    assert!(query_param(&location, "session_state").is_some());
    let code = query_param(&location, "code").expect("code in redirect");
    let form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("client_id", ids::CSP_APP.to_owned()),
        ("client_secret", emu.secret_of(ids::CSP_APP)),
        ("code", code),
        ("redirect_uri", REDIRECT.to_owned()),
        ("code_verifier", verifier),
        ("resource", resource.to_owned()),
    ];
    let (s, body) = emu.token("organizations", false, &as_pairs(&form)).await;
    assert_eq!(s, 200, "{body}");
    (body, form)
}

fn as_pairs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn consented_refresh_token(emu: &crate::helpers::TestEmulator, upn: &str) -> String {
    let (body, form) =
        v1_code_grant(emu, upn, "&scope=openid", "https://graph.microsoft.com").await;
    assert!(body["id_token"].is_string());
    // Single use: a replay fails.
    let (s, replay) = emu.token("organizations", false, &as_pairs(&form)).await;
    assert_eq!((s, replay["error_codes"][0].as_i64()), (400, Some(54005)));
    body["refresh_token"].as_str().unwrap().to_string()
}

/// v1's code grant answers with an ID token whether or not `openid` was asked for: the SAM
/// guide's recorded answer carries one for a request without `scope`
/// (docs/microsoft-behaviour.md §1.2).
#[tokio::test]
async fn a_v1_code_grant_returns_an_id_token_without_openid() {
    let emu = spawn().await;
    let (body, _) = v1_code_grant(&emu, "admin@contoso-partner.onmicrosoft.com", "", PC).await;
    assert!(body["id_token"].is_string(), "{body}");
    assert!(body["refresh_token"].is_string(), "{body}");
}

#[tokio::test]
async fn partner_admin_consents_then_refresh_token_works_for_every_consented_resource_and_delegated_customers()
 {
    let emu = spawn().await;
    let rt = consented_refresh_token(&emu, "admin@contoso-partner.onmicrosoft.com").await;
    let secret = emu.secret_of(ids::CSP_APP);
    let redeem = |tenant: &'static str, rt: String, resource: &'static str| {
        let secret = secret.clone();
        let emu = &emu;
        async move {
            emu.token(
                tenant,
                false,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", ids::CSP_APP),
                    ("client_secret", &secret),
                    ("refresh_token", &rt),
                    ("resource", resource),
                ],
            )
            .await
        }
    };
    let (s, pc) = redeem(ids::PARTNER_TENANT, rt.clone(), PC).await;
    assert_eq!(s, 200, "{pc}");
    let t = emu
        .handle
        .validate_access_token(
            pc["access_token"].as_str().unwrap(),
            &[ResourceKind::PartnerCenter],
        )
        .unwrap();
    assert!(t.has_mfa());
    assert_eq!(t.scopes, vec!["user_impersonation".to_string()]);
    let rotated = pc["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, rt);
    // The old refresh token stays valid; a customer with delegated access works.
    let (s, body) = redeem(
        ids::CUSTOMER_FABRIKAM,
        rt.clone(),
        "https://graph.microsoft.com",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let t = emu
        .handle
        .validate_access_token(
            body["access_token"].as_str().unwrap(),
            &[ResourceKind::Graph],
        )
        .unwrap();
    assert_eq!(t.tenant_id, ids::CUSTOMER_FABRIKAM);
    // A customer without delegated access is refused.
    let (s, body) = redeem(
        ids::CUSTOMER_TAILSPIN,
        rt.clone(),
        "https://graph.microsoft.com",
    )
    .await;
    assert_eq!(
        (s, body["error_codes"][0].as_i64()),
        (400, Some(50020)),
        "{body}"
    );
    // Toggling delegated access (what GDAP does).
    assert!(
        emu.handle
            .set_delegated_access(ids::CUSTOMER_TAILSPIN, ids::PARTNER_TENANT, true)
    );
    // Delegated access alone is not enough: the app is not consented in Tailspin (65001), as
    // it is in Fabrikam.
    let (s, body) = redeem(
        ids::CUSTOMER_TAILSPIN,
        rt.clone(),
        "https://graph.microsoft.com",
    )
    .await;
    assert_eq!(
        (s, body["error_codes"][0].as_i64()),
        (400, Some(65001)),
        "{body}"
    );
    // Inactivity: 91 days later the token has expired.
    emu.handle.advance_clock(Duration::from_secs(91 * 86_400));
    let (s, body) = redeem(ids::PARTNER_TENANT, rotated, PC).await;
    assert_eq!((s, body["error_codes"][0].as_i64()), (400, Some(700082)));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("was inactive for 90.00:00:00")
    );
}

#[tokio::test]
async fn revoked_sessions_fail_with_50173() {
    let emu = spawn().await;
    let rt = consented_refresh_token(&emu, "admin@contoso-partner.onmicrosoft.com").await;
    assert!(
        emu.handle
            .revoke_user_sessions("admin@contoso-partner.onmicrosoft.com")
    );
    let (s, body) = redeem_for_pc(&emu, rt).await;
    assert_eq!((s, body["error_codes"][0].as_i64()), (400, Some(50173)));
}

#[tokio::test]
async fn partner_center_refuses_a_sign_in_without_mfa() {
    let emu = spawn().await;
    let rt = consented_refresh_token(&emu, "nomfa-admin@contoso-partner.onmicrosoft.com").await;
    let (s, body) = redeem_for_pc(&emu, rt).await;
    assert_eq!(
        (s, body["error"].as_str(), body["error_codes"][0].as_i64()),
        (400, Some("interaction_required"), Some(50076))
    );
}

#[tokio::test]
async fn wrong_pkce_verifier_and_mismatched_redirect_uri_are_refused() {
    let emu = spawn().await;
    let (_, challenge) = pkce();
    let url = format!(
        "{}/{}/oauth2/v2.0/authorize?client_id={}&response_type=code&redirect_uri={REDIRECT}&scope=openid%20offline_access%20https://graph.microsoft.com/.default&code_challenge={challenge}&code_challenge_method=S256&nonce=n-1",
        emu.handle.authority_host(),
        ids::PARTNER_TENANT,
        ids::CSP_APP
    );
    let secret = emu.secret_of(ids::CSP_APP);
    let location = emu
        .sign_in(&url, "admin@contoso-partner.onmicrosoft.com")
        .await;
    let code = query_param(&location, "code").unwrap();
    let (s, body) = emu
        .token(
            ids::PARTNER_TENANT,
            true,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", ids::CSP_APP),
                ("client_secret", &secret),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &"b".repeat(43)),
            ],
        )
        .await;
    assert_eq!((s, body["error_codes"][0].as_i64()), (400, Some(501481)));
    // A second sign-in reuses the SSO session? Not with reqwest (no cookies): sign in again.
    let location = emu
        .sign_in(&url, "admin@contoso-partner.onmicrosoft.com")
        .await;
    let code = query_param(&location, "code").unwrap();
    let (s, body) = emu
        .token(
            ids::PARTNER_TENANT,
            true,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", ids::CSP_APP),
                ("client_secret", &secret),
                ("code", &code),
                ("redirect_uri", "http://localhost:8080/callback"),
            ],
        )
        .await;
    assert_eq!((s, body["error_codes"][0].as_i64()), (400, Some(500112)));
}

#[tokio::test]
async fn unknown_client_and_unregistered_redirect_uri_show_an_error_page_not_a_redirect() {
    let emu = spawn().await;
    let r = emu.client.get(format!("{}/common/oauth2/v2.0/authorize?client_id={}&response_type=code&redirect_uri=https://evil.example/cb&scope=openid", emu.handle.authority_host(), ids::CSP_APP)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
    let r = emu.client.get(format!("{}/common/oauth2/v2.0/authorize?client_id=00000000-0000-0000-0000-00000000dead&response_type=code&redirect_uri={REDIRECT}&scope=openid", emu.handle.authority_host())).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS700016"));
}

#[tokio::test]
async fn cancelling_consent_redirects_with_access_denied() {
    let emu = spawn().await;
    let url = format!(
        "{}/common/oauth2/authorize?client_id={}&response_type=code&redirect_uri={REDIRECT}&resource={PC}&state=s1",
        emu.handle.authority_host(),
        ids::CSP_APP
    );
    let html = emu
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let flow = crate::helpers::flow_of(&html);
    let html = emu
        .client
        .post(emu.url("/common/login"))
        .form(&[
            ("flow", flow.as_str()),
            ("login", "nomfa-admin@contoso-partner.onmicrosoft.com"),
            ("passwd", "Demo-NoMfa-Passw0rd!"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("DelegatedAdminRelationship.ReadWrite.All"),
        "{html}"
    );
    let r = emu
        .client
        .post(emu.url("/common/consent"))
        .form(&[("flow", flow.as_str()), ("action", "cancel")])
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));
}

#[tokio::test]
async fn discovery_documents_point_at_the_emulator() {
    let emu = spawn().await;
    let v2: serde_json::Value = emu
        .client
        .get(emu.url("/common/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v2["issuer"],
        format!("{}/{{tenantid}}/v2.0", emu.handle.authority_host())
    );
    let v1: serde_json::Value = emu
        .client
        .get(emu.url(&format!(
            "/{}/.well-known/openid-configuration",
            ids::PARTNER_TENANT
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v1["issuer"],
        format!("https://sts.windows.net/{}/", ids::PARTNER_TENANT)
    );
    let keys: serde_json::Value = emu
        .client
        .get(emu.url("/common/discovery/v2.0/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["keys"][0]["kty"], "RSA");
    let r = emu
        .client
        .get(emu.url("/nosuch.onmicrosoft.com/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// The plain-HTTP loopback listener (what the local walk's browser uses) serves the sign-in pages
/// only: the sign-in works over it with a `Lax`, non-`Secure` SSO cookie a browser keeps on
/// `http://127.0.0.1`, while the token endpoint, the metadata and every API answer only on TLS.
#[tokio::test]
async fn the_plain_http_sign_in_listener_serves_the_pages_and_nothing_else() {
    let emu = crate::helpers::spawn_with(emulator::EmulatorConfig {
        sign_in_port: Some(0),
        ..emulator::EmulatorConfig::default()
    })
    .await;
    let http = emu.handle.sign_in_host();
    assert!(http.starts_with("http://127.0.0.1:"), "{http}");
    let (_, challenge) = pkce();
    let page = |host: &str| {
        format!(
            "{host}/{}/oauth2/v2.0/authorize?client_id={}&response_type=code&redirect_uri={REDIRECT}&scope=openid%20https://graph.microsoft.com/.default&code_challenge={challenge}&code_challenge_method=S256",
            ids::PARTNER_TENANT,
            ids::CSP_APP
        )
    };
    let r = emu.client.get(page(&http)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"signin\""), "{html}");
    // The sign-in form posts to the same plain-HTTP origin; its cookie fits it.
    let user = emu
        .handle
        .seed()
        .user_by_upn("admin@contoso-partner.onmicrosoft.com")
        .unwrap()
        .clone();
    let login = |host: &str, html: &str| {
        emu.client
            .post(format!("{host}/{}/login", ids::PARTNER_TENANT))
            .form(&[
                ("flow", crate::helpers::flow_of(html).as_str()),
                ("login", user.upn.as_str()),
                ("passwd", user.password.as_str()),
            ])
            .send()
    };
    let mfa = |host: String, html: String| {
        let code = emu.handle.mfa_code(&user.upn).unwrap();
        assert!(html.contains("name=\"otc\""), "{html}");
        emu.client
            .post(format!("{host}/{}/mfa", ids::PARTNER_TENANT))
            .form(&[("flow", crate::helpers::flow_of(&html)), ("otc", code)])
            .send()
    };
    let html = login(&http, &html).await.unwrap().text().await.unwrap();
    let r = mfa(http.clone(), html).await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("ESTSAUTH="), "{cookie}");
    assert!(
        cookie.contains("SameSite=Lax") && !cookie.contains("Secure"),
        "{cookie}"
    );
    // Over TLS the same cookie is Entra's: Secure; SameSite=None.
    let https = emu.handle.authority_host();
    let html = emu
        .client
        .get(page(&https))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let html = login(&https, &html).await.unwrap().text().await.unwrap();
    let r = mfa(https.clone(), html).await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("SameSite=None") && cookie.contains("Secure"),
        "{cookie}"
    );

    for (method, path) in [
        (
            "POST",
            format!("/{}/oauth2/v2.0/token", ids::PARTNER_TENANT),
        ),
        ("POST", format!("/{}/oauth2/token", ids::PARTNER_TENANT)),
        (
            "GET",
            format!(
                "/{}/v2.0/.well-known/openid-configuration",
                ids::PARTNER_TENANT
            ),
        ),
        ("GET", "/graph/v1.0/me".to_owned()),
        ("GET", "/partnercenter/v1/customers".to_owned()),
        ("GET", "/_admin/counters".to_owned()),
    ] {
        let url = format!("{http}{path}");
        let r = match method {
            "POST" => emu
                .client
                .post(&url)
                .form(&[("grant_type", "client_credentials")]),
            _ => emu.client.get(&url),
        }
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 404, "{method} {path}");
        let body: serde_json::Value = r.json().await.unwrap();
        let text = body["error_description"].as_str().unwrap();
        assert!(text.contains(&https), "{method} {path}: {text}");
    }
}

async fn redeem_for_pc(emu: &crate::helpers::TestEmulator, rt: String) -> (u16, serde_json::Value) {
    let secret = emu.secret_of(ids::CSP_APP);
    emu.token(
        ids::PARTNER_TENANT,
        false,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", ids::CSP_APP),
            ("client_secret", &secret),
            ("refresh_token", &rt),
            ("resource", PC),
        ],
    )
    .await
}

/// With a state directory the emulated cloud keeps its state across a restart (the local walk's
/// Ctrl-C): a refresh token issued before it still redeems, a vault secret is still there, and
/// the clock offset holds. `persist::reset` starts clean; a snapshot of another seed is set aside.
#[tokio::test]
async fn a_refresh_token_issued_before_a_restart_redeems_after_it_and_reset_forgets_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = || emulator::EmulatorConfig {
        state_dir: Some(dir.path().to_path_buf()),
        workers: 1,
        ..emulator::EmulatorConfig::default()
    };
    let emu = crate::helpers::spawn_with(config()).await;
    let rt = consented_refresh_token(&emu, "admin@contoso-partner.onmicrosoft.com").await;
    emu.handle.advance_clock(Duration::from_secs(7 * 86_400));
    let (url, token) = emu.vault_token().await;
    let r = emu
        .client
        .put(format!("{url}secrets/kept?api-version=7.4"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"value": "before the restart"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(emu);
    let file = dir.path().join(emulator::persist::FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    let emu = crate::helpers::spawn_with(config()).await;
    let (s, body) = redeem_for_pc(&emu, rt.clone()).await;
    assert_eq!(s, 200, "{body}");
    let (url, token) = emu.vault_token().await;
    let kept: serde_json::Value = emu
        .client
        .get(format!("{url}secrets/kept?api-version=7.4"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kept["value"], "before the restart");
    // The clock offset held: a new token is issued a week ahead of the wall clock too.
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let wall = time::OffsetDateTime::now_utc().unix_timestamp();
    let iat = claims["iat"].as_i64().unwrap();
    assert!(iat >= wall + 6 * 86_400, "iat {iat}, wall clock {wall}");
    drop(emu);

    // Another demo directory: the snapshot is set aside, not mixed in.
    let other = emulator::EmulatorConfig {
        seed: emulator::Seed::default()
            .with_generated_customers(1, 1)
            .unwrap(),
        ..config()
    };
    let emu = crate::helpers::spawn_with(other).await;
    let (s, body) = redeem_for_pc(&emu, rt.clone()).await;
    assert_eq!(s, 400, "{body}");
    assert!(dir.path().join("state.json.stale").is_file());
    drop(emu);

    // --reset: nothing kept.
    std::fs::rename(dir.path().join("state.json.stale"), &file).unwrap();
    emulator::persist::reset(dir.path()).unwrap();
    let emu = crate::helpers::spawn_with(config()).await;
    let (s, body) = redeem_for_pc(&emu, rt).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}
