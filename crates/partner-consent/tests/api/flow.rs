use common::cloud::Resource;
use common::secret::ExposeSecret;
use emulator::ResourceKind;

use crate::support::{
    ADMIN, CUSTOMER_ADMIN, CUSTOMER_TENANT, Decision, NO_MFA_ADMIN, PARTNER_TENANT, Returned,
    Spawn, spawn_app, spawn_app_with, try_spawn_app_with,
};

#[tokio::test]
async fn the_landing_page_names_the_app_its_permissions_and_who_may_consent() {
    let app = spawn_app().await;
    let resp = app.get("/").await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    for text in [
        "Contoso CSP tools (test)",
        "40000000-0000-4000-8000-000000000001",
        "DelegatedAdminRelationship.ReadWrite.All",
        "User.Read.All",
        "user_impersonation",
        "Global Administrator",
        "Admin Agents",
        "multi-factor authentication",
        PARTNER_TENANT,
        "<form method=\"post\" action=\"/start\">",
    ] {
        assert!(body.contains(text), "missing {text:?}");
    }
}

#[tokio::test]
async fn start_redirects_to_the_authority_with_state_nonce_pkce_and_the_configured_redirect_url() {
    let app = spawn_app().await;
    let started = app.start().await;
    let url = &started.authorize_url;
    assert!(url.as_str().starts_with(&format!(
        "{}/common/oauth2/authorize?",
        app.emulator.sign_in_host()
    )));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], crate::support::APP_ID);
    assert_eq!(q["redirect_uri"], app.url("/callback"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert_eq!(q["prompt"], "consent");
    assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32);
    assert!(
        !started.cookie.contains(&q["state"]),
        "the cookie is encrypted"
    );
}

#[tokio::test]
async fn a_consent_stores_a_refresh_token_that_works_for_partner_center() {
    let app = spawn_app().await;
    let (_, _, resp) = app.consent(ADMIN).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body = resp.text().await.unwrap();
    assert!(body.contains("Consent recorded"), "{body}");
    assert!(body.contains(PARTNER_TENANT));
    assert!(body.contains(ADMIN.upn));
    assert!(body.contains("<dd id=\"mfa\">used</dd>"));
    assert!(body.contains("working: a Partner Center access token was obtained"));
    assert!(!body.contains("mfa-warning"));

    let stored = app.stored(PARTNER_TENANT).await.expect("token stored");
    assert!(stored.meta.mfa);
    assert_eq!(stored.meta.user.as_deref(), Some(ADMIN.upn));
    let token = app
        .state
        .broker
        .access_token(PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .expect("the stored token works");
    let validated = app
        .emulator
        .validate_access_token(token.expose_secret(), &[ResourceKind::PartnerCenter]);
    assert!(validated.is_ok(), "{validated:?}");
    assert_eq!(app.metric("consent_completed_total").await, 1);
    assert_eq!(
        app.metric("token_redemptions_total{grant=\"authorization_code\",result=\"ok\"}")
            .await,
        1
    );
}

/// The default configuration (v1 endpoints, unsigned ID tokens from the token endpoint) and v2
/// (signed ID tokens) both complete a consent end to end.
#[tokio::test]
async fn a_consent_completes_on_v1_and_on_v2_endpoints() {
    for version in ["v1", "v2"] {
        let app = spawn_app_with(Spawn {
            endpoint_version: version,
            ..Spawn::default()
        })
        .await;
        let (_, _, resp) = app.consent(ADMIN).await;
        assert_eq!(resp.status(), 200, "{version}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("Consent recorded"), "{version}: {body}");
        assert!(app.stored(PARTNER_TENANT).await.is_some(), "{version}");
    }
}

#[tokio::test]
async fn a_sign_in_without_mfa_is_refused_with_a_page_saying_partner_center_requires_it() {
    let app = spawn_app().await;
    let (_, _, resp) = app.consent(NO_MFA_ADMIN).await;
    assert_eq!(resp.status(), 403);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("Multi-factor authentication is required"),
        "{body}"
    );
    assert!(body.contains("AADSTS50076"), "{body}");
    assert!(app.stored(PARTNER_TENANT).await.is_none());
    assert_eq!(
        app.metric("consent_failures_total{reason=\"mfa_required\"}")
            .await,
        1
    );
}

#[tokio::test]
async fn cancelling_consent_shows_that_nothing_was_granted_and_stores_nothing() {
    let app = spawn_app().await;
    let started = app.start().await;
    let returned = app
        .sign_in(&started.authorize_url, ADMIN, Decision::Cancel)
        .await;
    let resp = app.callback(&returned, Some(&started.cookie)).await;
    assert_eq!(resp.status(), 403);
    let body = resp.text().await.unwrap();
    assert!(body.contains("Consent was not granted"), "{body}");
    assert!(body.contains("access_denied"));
    assert!(app.stored(PARTNER_TENANT).await.is_none());
    assert_eq!(
        app.metric("consent_failures_total{reason=\"access_denied\"}")
            .await,
        1
    );
}

#[tokio::test]
async fn csp_mode_refuses_another_tenant_and_stores_nothing() {
    let app = spawn_app().await;
    let (_, _, resp) = app.consent(CUSTOMER_ADMIN).await;
    assert_eq!(resp.status(), 403);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("This organization may not grant consent here"),
        "{body}"
    );
    assert!(body.contains(CUSTOMER_TENANT));
    assert!(app.stored(CUSTOMER_TENANT).await.is_none());
    assert!(app.stored(PARTNER_TENANT).await.is_none());
    assert_eq!(
        app.metric("consent_failures_total{reason=\"tenant_refused\"}")
            .await,
        1
    );
}

#[tokio::test]
async fn cpv_mode_stores_one_token_per_partner_tenant() {
    let app = spawn_app_with(Spawn {
        mode: "cpv",
        allowed_tenants: vec![PARTNER_TENANT.into(), CUSTOMER_TENANT.into()],
        ..Spawn::default()
    })
    .await;
    let (_, _, first) = app.consent(ADMIN).await;
    assert_eq!(first.status(), 200);
    // An allowed tenant that is no Partner Center partner: Partner Center refuses the
    // verification call, so nothing is stored for it and the first partner's grant stays.
    let (_, _, second) = app.consent(CUSTOMER_ADMIN).await;
    assert_eq!(second.status(), 403);
    let body = second.text().await.unwrap();
    assert!(body.contains("Nothing was stored"), "{body}");
    assert!(
        app.stored(PARTNER_TENANT)
            .await
            .is_some_and(|a| a.meta.tenant_id == PARTNER_TENANT)
    );
    assert!(app.stored(CUSTOMER_TENANT).await.is_none());
}

#[tokio::test]
async fn cpv_mode_without_an_allow_list_refuses_to_start_naming_the_key() {
    let err = try_spawn_app_with(Spawn {
        mode: "cpv",
        ..Spawn::default()
    })
    .await
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("CPV mode needs partner.allowed_tenants (SAM_PARTNER__ALLOWED_TENANTS)"),
        "{text}"
    );
}

#[tokio::test]
async fn cpv_mode_with_the_explicit_star_lets_a_partner_admin_consent() {
    let app = spawn_app_with(Spawn {
        mode: "cpv",
        allowed_tenants: vec!["*".into()],
        ..Spawn::default()
    })
    .await;
    let (_, _, resp) = app.consent(ADMIN).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    assert!(app.stored(PARTNER_TENANT).await.is_some());
}

#[tokio::test]
async fn cpv_mode_with_an_allow_list_refuses_other_tenants() {
    let app = spawn_app_with(Spawn {
        mode: "cpv",
        allowed_tenants: vec![PARTNER_TENANT.into()],
        ..Spawn::default()
    })
    .await;
    let (_, _, resp) = app.consent(CUSTOMER_ADMIN).await;
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("list of partner tenants")
    );
    assert!(app.stored(CUSTOMER_TENANT).await.is_none());
}

#[tokio::test]
async fn a_form_post_without_the_lax_cookie_is_reposted_from_this_origin_then_completes() {
    let app = spawn_app_with(Spawn {
        response_mode: Some("form_post".into()),
        ..Spawn::default()
    })
    .await;
    let started = app.start().await;
    let returned = app
        .sign_in(&started.authorize_url, ADMIN, Decision::Accept)
        .await;
    let Returned::FormPost { action, fields } = &returned else {
        panic!("expected a form_post response, got {returned:?}");
    };
    assert_eq!(action, &app.url("/callback"));
    // The cross-site POST: the browser withholds the SameSite=Lax cookie.
    let resp = app.callback(&returned, None).await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("<form method=\"post\" action=\"/callback\" id=\"repost\">"),
        "{page}"
    );
    assert!(page.contains("<script src=\"/assets/autopost.js\"></script>"));
    assert!(page.contains("name=\"sam_reposted\""));
    assert!(
        app.stored(PARTNER_TENANT).await.is_none(),
        "nothing redeemed yet"
    );
    // The same-site re-post carries the cookie.
    let mut again = fields.clone();
    again.push(("sam_reposted".into(), "1".into()));
    let resp = app
        .client
        .post(app.url("/callback"))
        .header("cookie", &started.cookie)
        .form(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Consent recorded"));
    assert!(app.stored(PARTNER_TENANT).await.is_some());
}

#[tokio::test]
async fn a_reposted_form_post_still_without_a_cookie_says_the_cookie_is_missing() {
    let app = spawn_app_with(Spawn {
        response_mode: Some("form_post".into()),
        ..Spawn::default()
    })
    .await;
    let started = app.start().await;
    let returned = app
        .sign_in(&started.authorize_url, ADMIN, Decision::Accept)
        .await;
    let Returned::FormPost { fields, .. } = returned else {
        panic!("expected form_post")
    };
    let mut again = fields;
    again.push(("sam_reposted".into(), "1".into()));
    let resp = app
        .client
        .post(app.url("/callback"))
        .form(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Your browser did not keep the sign-in cookie")
    );
    assert!(app.stored(PARTNER_TENANT).await.is_none());
    assert_eq!(app.emulator.counter("entra.token.authorization_code"), 0);
}

#[tokio::test]
async fn a_consent_with_the_certificate_local_mode_generates_is_stored_and_works() {
    let app = spawn_app_with(Spawn {
        certificate: true,
        ..Spawn::default()
    })
    .await;
    let (_, _, resp) = app.consent(ADMIN).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("working: a Partner Center access token")
    );
    assert!(app.stored(PARTNER_TENANT).await.is_some());
    let pem = std::fs::read_to_string(app.dir.path().join("app.pem")).unwrap();
    assert!(pem.contains("BEGIN CERTIFICATE") && pem.contains("PRIVATE KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(app.dir.path().join("app.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key file is private");
    }
}

/// No secret file on disk: the app's certificate and the cookie key come from Key Vault (the
/// store's vault, through its identity), and the consent works end to end with them.
#[tokio::test]
async fn the_certificate_and_the_cookie_key_come_from_key_vault() {
    use crate::support::{KV_COOKIE_KEY_BYTES, Spawn};
    let app = spawn_app_with(Spawn {
        key_vault_secrets: true,
        ..Spawn::default()
    })
    .await;
    assert_eq!(
        app.state.cookie_key.master(),
        actix_web::cookie::Key::from(&KV_COOKIE_KEY_BYTES).master(),
        "the cookie key is the one in the vault"
    );
    let names: Vec<_> = std::fs::read_dir(app.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.ends_with(".pem") && n != "ca.pem"),
        "{names:?}"
    );
    let (_, _, resp) = app.consent(ADMIN).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let stored = app
        .stored(PARTNER_TENANT)
        .await
        .expect("stored in Key Vault");
    assert_eq!(stored.meta.tenant_id, PARTNER_TENANT);
    assert!(app.state.store.location().starts_with("Key Vault"));
}
