use crate::helpers::*;
use base64::Engine as _;
use emulator::partner_data::catalog::{PermissionKind, permission_id};
use emulator::seed::ids;
use serde_json::json;

async fn setup_token(emu: &Emu) -> String {
    let rt = emu
        .sign_in(ids::PARTNER_TENANT, SETUP_APP, SETUP_SECRET, ADMIN)
        .await;
    let (s, body) = emu
        .redeem(ids::PARTNER_TENANT, SETUP_APP, SETUP_SECRET, &rt, GRAPH)
        .await;
    assert_eq!(s, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_application_created_through_graph_signs_in_with_a_password_added_through_graph() {
    let emu = spawn_with(config().with_app(setup_app())).await;
    let token = setup_token(&emu).await;
    let user_read_all = permission_id(GRAPH_APP, PermissionKind::Scope, "User.Read.All");
    let r = emu
        .post(&emu.graph("/applications"), &token, json!({
            "displayName": "Contoso CPV (created by setup)",
            "signInAudience": "AzureADMultipleOrgs",
            "web": {"redirectUris": ["https://localhost:8443/callback"]},
            "requiredResourceAccess": [{"resourceAppId": GRAPH_APP, "resourceAccess": [{"id": user_read_all, "type": "Scope"}]}],
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let object_id = r.body["id"].as_str().unwrap().to_string();
    let app_id = r.body["appId"].as_str().unwrap().to_string();
    assert_ne!(object_id, app_id);
    assert_eq!(r.body["signInAudience"], "AzureADMultipleOrgs");
    assert_eq!(
        r.body["requiredResourceAccess"][0]["resourceAccess"][0]["id"],
        user_read_all.as_str()
    );
    // The registration is Entra's: Entra knows it at once (no service principal yet: 700016).
    let r = emu
        .post(
            &emu.graph(&format!("/applications/{object_id}/addPassword")),
            &token,
            json!({"passwordCredential": {"displayName": "setup"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["secretText"].as_str().unwrap().to_string();
    assert_eq!(r.body["hint"], secret[..3]);
    let (s, body) = emu
        .try_app_token(ids::PARTNER_TENANT, &app_id, &secret, GRAPH)
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error_codes"][0], 700016);
    let r = emu
        .post(
            &emu.graph("/servicePrincipals"),
            &token,
            json!({"appId": app_id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["appOwnerOrganizationId"], ids::PARTNER_TENANT);
    let (s, body) = emu
        .try_app_token(ids::PARTNER_TENANT, &app_id, &secret, GRAPH)
        .await;
    assert_eq!(s, 200, "{body}");
    let r = emu
        .get(&emu.graph(&format!("/applications/{object_id}")), &token)
        .await;
    let creds = r.body["passwordCredentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert!(creds[0]["secretText"].is_null());
    assert_eq!(creds[0]["displayName"], "setup");
    let key_id = creds[0]["keyId"].as_str().unwrap().to_string();
    let r = emu
        .post(
            &emu.graph(&format!("/applications/{object_id}/removePassword")),
            &token,
            json!({"keyId": key_id}),
        )
        .await;
    assert_eq!(r.status, 204);
    let (s, _) = emu
        .try_app_token(ids::PARTNER_TENANT, &app_id, &secret, GRAPH)
        .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn patch_updates_redirect_uris_permissions_audience_and_key_credentials() {
    let emu = spawn_with(config().with_app(setup_app())).await;
    let token = setup_token(&emu).await;
    let r = emu
        .get(
            &emu.graph(&format!(
                "/applications?$filter=appId eq '{}'",
                ids::CPV_APP
            )),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let app = r.body["value"][0].clone();
    let object_id = app["id"].as_str().unwrap().to_string();
    assert_eq!(
        app["web"]["redirectUris"][0],
        "http://127.0.0.1:8080/callback"
    );
    let pc_scope = permission_id(PC_APP, PermissionKind::Scope, "user_impersonation");
    let role = permission_id(GRAPH_APP, PermissionKind::Role, "User.Read.All");
    assert_eq!(role, "df021288-bdef-4463-88db-98f22de89214");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["cpv.example".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der_b64 = base64::engine::general_purpose::STANDARD.encode(cert.der());
    let r = emu
        .patch(&emu.graph(&format!("/applications/{object_id}")), &token, json!({
            "signInAudience": "AzureADMyOrg",
            "web": {"redirectUris": ["https://cpv.example/callback", "http://localhost:5000/cb"]},
            "requiredResourceAccess": [
                {"resourceAppId": GRAPH_APP, "resourceAccess": [{"id": role, "type": "Role"}]},
                {"resourceAppId": PC_APP, "resourceAccess": [{"id": pc_scope, "type": "Scope"}]},
            ],
            "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64, "displayName": "CN=cpv"}],
        }))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = emu
        .get(&emu.graph(&format!("/applications/{object_id}")), &token)
        .await;
    assert_eq!(r.body["signInAudience"], "AzureADMyOrg");
    assert_eq!(
        r.body["web"]["redirectUris"],
        json!(["https://cpv.example/callback", "http://localhost:5000/cb"])
    );
    let rra = r.body["requiredResourceAccess"].as_array().unwrap();
    assert!(rra.iter().any(|g| g["resourceAppId"] == PC_APP
        && g["resourceAccess"][0]["id"] == pc_scope.as_str()
        && g["resourceAccess"][0]["type"] == "Scope"));
    assert!(
        rra.iter()
            .any(|g| g["resourceAppId"] == GRAPH_APP && g["resourceAccess"][0]["type"] == "Role")
    );
    let kc = &r.body["keyCredentials"][0];
    assert_eq!(kc["displayName"], "CN=cpv");
    assert_eq!(kc["type"], "AsymmetricX509Cert");
    assert_eq!(kc["customKeyIdentifier"].as_str().unwrap().len(), 40);
    // Entra now holds exactly that registration.
    let state = emu.handle.state().directory();
    let registered = state.app(ids::CPV_APP).unwrap();
    assert!(!registered.seed.multitenant);
    assert_eq!(registered.certificates.len(), 1);
    assert_eq!(
        registered.seed.required_delegated[0].scopes,
        ["user_impersonation"]
    );
}

#[tokio::test]
async fn application_updates_are_validated() {
    let emu = spawn_with(config().with_app(setup_app())).await;
    let token = setup_token(&emu).await;
    let r = emu
        .get(
            &emu.graph(&format!("/applications?$filter=appId eq '{SETUP_APP}'")),
            &token,
        )
        .await;
    let url = emu.graph(&format!(
        "/applications/{}",
        r.body["value"][0]["id"].as_str().unwrap()
    ));
    for (body, text) in [
        (json!({"signInAudience": "Everyone"}), "signInAudience"),
        (
            json!({"web": {"redirectUris": ["http://example.com/cb"]}}),
            "https",
        ),
        (json!({"web": {"redirectUris": ["not a uri"]}}), "absolute"),
        (
            json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "bm90IGEgY2VydA=="}]}),
            "X.509",
        ),
        (
            json!({"requiredResourceAccess": [{"resourceAppId": GRAPH_APP, "resourceAccess": [{"id": "x", "type": "Scope"}]}]}),
            "GUID",
        ),
        (json!({"frobnicate": true}), "frobnicate"),
        (json!({"appId": "x"}), "read-only"),
    ] {
        let r = emu.patch(&url, &token, body.clone()).await;
        assert_eq!(r.status, 400, "{body} → {}", r.body);
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(text),
            "{body} → {}",
            r.body
        );
    }
    let r = emu
        .post(
            &emu.graph("/applications"),
            &token,
            json!({"signInAudience": "AzureADMyOrg"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = emu
        .get(
            &emu.graph("/applications/00000000-0000-0000-0000-000000000000"),
            &token,
        )
        .await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (404, "Request_ResourceNotFound")
    );
}

#[tokio::test]
async fn writes_need_application_readwrite_and_an_admin() {
    let emu = spawn_with(config().with_app(setup_app())).await;
    // The CSP app's delegated token has no Application.ReadWrite.All.
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let r = emu
        .post(
            &emu.graph("/applications"),
            &token,
            json!({"displayName": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (403, "Authorization_RequestDenied")
    );
    // The CPV app's app-only token reads but cannot write.
    let app = emu
        .app_token(ids::PARTNER_TENANT, ids::CPV_APP, GRAPH)
        .await;
    let r = emu.get(&emu.graph("/applications"), &app).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = emu
        .post(
            &emu.graph("/servicePrincipals"),
            &app,
            json!({"appId": PC_APP}),
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn the_partner_center_service_principal_is_created_once_and_found_by_app_id_filter() {
    let emu = spawn_with(config().with_app(setup_app())).await;
    let token = setup_token(&emu).await;
    let filter = emu.graph(&format!("/servicePrincipals?$filter=appId eq '{PC_APP}'"));
    let r = emu.get(&filter, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["value"].as_array().unwrap().is_empty());
    let r = emu
        .post(
            &emu.graph("/servicePrincipals"),
            &token,
            json!({"appId": PC_APP}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["displayName"], "Microsoft Partner Center");
    let sp_id = r.body["id"].as_str().unwrap().to_string();
    let r = emu.get(&filter, &token).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["value"][0]["id"], sp_id.as_str());
    let r = emu
        .post(
            &emu.graph("/servicePrincipals"),
            &token,
            json!({"appId": PC_APP}),
        )
        .await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (409, "Request_MultipleObjectsWithSameKeyValue")
    );
    let r = emu
        .post(
            &emu.graph("/servicePrincipals"),
            &token,
            json!({"appId": "12345678-1234-1234-1234-123456789012"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = emu
        .get(&emu.graph(&format!("/servicePrincipals/{sp_id}")), &token)
        .await;
    assert_eq!(r.body["appId"], PC_APP);
    // Microsoft Graph's service principal is in every tenant.
    let r = emu
        .get(
            &emu.graph(&format!(
                "/servicePrincipals?$filter=appId eq '{GRAPH_APP}'"
            )),
            &token,
        )
        .await;
    assert_eq!(r.body["value"][0]["displayName"], "Microsoft Graph");
    assert!(
        r.body["value"][0]["appRoles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["value"] == "User.Read.All")
    );
}

#[tokio::test]
async fn grants_and_app_role_assignments_list_what_tokens_carry() {
    let emu = spawn_with(config().with_app(setup_app())).await;
    // The admin consents to the CSP app tenant-wide by signing in.
    emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let token = setup_token(&emu).await;
    let csp_sp = "50000000-0000-4000-8000-000000000001";
    let r = emu
        .get(
            &emu.graph(&format!(
                "/oauth2PermissionGrants?$filter=clientId eq '{csp_sp}'"
            )),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let grants = r.body["value"].as_array().unwrap();
    let graph_sp = emu
        .get(
            &emu.graph(&format!(
                "/servicePrincipals?$filter=appId eq '{GRAPH_APP}'"
            )),
            &token,
        )
        .await
        .body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let graph_grant = grants
        .iter()
        .find(|g| g["resourceId"] == graph_sp.as_str())
        .expect("a grant on Microsoft Graph");
    assert_eq!(graph_grant["consentType"], "AllPrincipals");
    assert!(
        graph_grant["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "User.Read.All")
    );
    assert_eq!(grants.len(), 2, "Graph and Partner Center: {grants:?}");
    let r = emu
        .get(
            &emu.graph(&format!(
                "/servicePrincipals/{csp_sp}/oauth2PermissionGrants"
            )),
            &token,
        )
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    let cpv_sp = "50000000-0000-4000-8000-000000000002";
    let r = emu
        .get(
            &emu.graph(&format!("/servicePrincipals/{cpv_sp}/appRoleAssignments")),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["value"][0]["appRoleId"],
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"
    );
    assert_eq!(r.body["value"][0]["resourceId"], graph_sp.as_str());
    assert_eq!(r.body["value"][0]["principalId"], cpv_sp);
    let r = emu
        .get(
            &emu.graph("/servicePrincipals/nope/appRoleAssignments"),
            &token,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = emu
        .get(
            &emu.graph("/oauth2PermissionGrants?$filter=scope eq 'x'"),
            &token,
        )
        .await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (400, "Request_UnsupportedQuery")
    );
}
