use emulator::ResourceKind;
use emulator::seed::ids;

use crate::helpers::{Issuer, spawn};

const API: (&str, &str) = ("api-version", "2019-08-01");

#[tokio::test]
async fn system_assigned_identity_gets_a_vault_token_in_the_documented_shape() {
    let emu = spawn(&Issuer::new("k1")).await;
    let resource = emu.handle.key_vault_resource();
    let header = emu.handle.identity_header().to_string();
    let (status, body) = emu
        .msi(Some(&header), &[API, ("resource", &resource)])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], resource.as_str());
    assert_eq!(body["client_id"], ids::SYSTEM_MI_CLIENT);
    // A string of epoch seconds, as the App Service document's example and azure_identity expect.
    let expires_on: i64 = body["expires_on"].as_str().unwrap().parse().unwrap();
    assert!(expires_on > crate::helpers::now());
    let token = emu
        .handle
        .validate_access_token(
            body["access_token"].as_str().unwrap(),
            &[ResourceKind::KeyVault],
        )
        .unwrap();
    assert_eq!(token.object_id, ids::SYSTEM_MI_OBJECT);
    assert_eq!(token.app_id, ids::SYSTEM_MI_CLIENT);
    assert_eq!(token.tenant_id, ids::PARTNER_TENANT);
    assert!(token.is_app_only);
}

#[tokio::test]
async fn user_assigned_identity_is_chosen_by_client_id_object_id_or_resource_id() {
    let emu = spawn(&Issuer::new("k1")).await;
    let resource = emu.handle.key_vault_resource();
    let header = emu.handle.identity_header().to_string();
    let res_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-sam/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-sam-broker";
    for (key, value) in [
        ("client_id", ids::USER_MI_CLIENT),
        ("object_id", ids::USER_MI_OBJECT),
        ("principal_id", ids::USER_MI_OBJECT),
        ("mi_res_id", res_id),
    ] {
        let (status, body) = emu
            .msi(Some(&header), &[API, ("resource", &resource), (key, value)])
            .await;
        assert_eq!(status, 200, "{key}: {body}");
        assert_eq!(body["client_id"], ids::USER_MI_CLIENT, "{key}");
        let token = emu
            .handle
            .validate_access_token(
                body["access_token"].as_str().unwrap(),
                &[ResourceKind::KeyVault],
            )
            .unwrap();
        assert_eq!(token.object_id, ids::USER_MI_OBJECT, "{key}");
    }
}

#[tokio::test]
async fn missing_or_wrong_identity_header_is_refused_with_401() {
    let emu = spawn(&Issuer::new("k1")).await;
    let resource = emu.handle.key_vault_resource();
    let (status, body) = emu.msi(None, &[API, ("resource", &resource)]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["statusCode"], 401);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("X-IDENTITY-HEADER"),
        "{body}"
    );
    let (status, body) = emu
        .msi(Some("not-the-header"), &[API, ("resource", &resource)])
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["correlationId"].is_string());
}

#[tokio::test]
async fn unknown_identity_is_refused_as_the_platform_does() {
    let emu = spawn(&Issuer::new("k1")).await;
    let resource = emu.handle.key_vault_resource();
    let header = emu.handle.identity_header().to_string();
    let (status, body) = emu
        .msi(
            Some(&header),
            &[
                API,
                ("resource", &resource),
                ("client_id", ids::KEYVAULT_APP),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "Unable to load the proper Managed Identity."
    );
    // Two identity parameters at once are refused too.
    let (status, _) = emu
        .msi(
            Some(&header),
            &[
                API,
                ("resource", &resource),
                ("client_id", ids::USER_MI_CLIENT),
                ("object_id", ids::USER_MI_OBJECT),
            ],
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn missing_resource_or_api_version_is_a_bad_request() {
    let emu = spawn(&Issuer::new("k1")).await;
    let header = emu.handle.identity_header().to_string();
    let (status, body) = emu.msi(Some(&header), &[API]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("resource"));
    let resource = emu.handle.key_vault_resource();
    let (status, body) = emu.msi(Some(&header), &[("resource", &resource)]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("api-version"));
    let (status, body) = emu
        .msi(
            Some(&header),
            &[API, ("resource", "https://unknown.example")],
        )
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(body["message"].as_str().unwrap().contains("AADSTS500011"));
}
