//! A healthy deployment broken one way at a time: doctor names the problem and its fix.

use admin::doctor::Status;
use admin::setup::CertificateChoice;
use common::cloud::{GRAPH_APP_ID, PARTNER_CENTER_APP_ID};
use common::graph::{ApplicationUpdate, RequiredResourceAccess, ResourceAccess};
use emulator::seed::{PermissionSeed, ids};

use crate::helpers::{self, expect};

/// An update that replaces the app's API permissions.
fn requiring(access: Vec<RequiredResourceAccess>) -> ApplicationUpdate {
    ApplicationUpdate {
        required_resource_access: Some(access),
        ..ApplicationUpdate::default()
    }
}

#[tokio::test]
async fn doctor_fails_when_a_delegated_permission_is_removed() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let (session, settings) = env.ready().await;
    let app = session
        .graph
        .get_application_by_app_id(&settings.app.client_id)
        .await
        .unwrap()
        .unwrap();
    let mut access = app.required_resource_access.clone();
    for r in &mut access {
        if r.resource_app_id == GRAPH_APP_ID {
            r.resource_access.pop();
        }
    }
    session
        .graph
        .update_application(&app.id, &requiring(access))
        .await
        .unwrap();
    let report = env.doctor(&settings, Some(&session)).await;
    let text = expect(&report, "app.permissions", Status::Fail);
    assert!(
        text.contains("missing delegated permission(s): Microsoft Graph")
            && text.contains("run setup"),
        "{text}"
    );
    assert_eq!(report.exit(), cli_kit::Exit::Failure);
    // setup repairs it.
    let repaired = env.setup(&session, &env.options(env.generated())).await;
    assert!(
        repaired.render_text().contains("add Microsoft Graph"),
        "{}",
        repaired.render_text()
    );
    expect(
        &env.doctor(&settings, Some(&session)).await,
        "app.permissions",
        Status::Pass,
    );
}

#[tokio::test]
async fn doctor_fails_when_an_application_permission_is_added_and_granted() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let (session, settings) = env.ready().await;
    let graph_sp = session
        .graph
        .get_service_principal_by_app_id(GRAPH_APP_ID)
        .await
        .unwrap()
        .unwrap();
    let role = graph_sp
        .app_roles
        .iter()
        .find(|r| r.value.as_deref() == Some("User.Read.All"))
        .unwrap()
        .id
        .clone();
    let app = session
        .graph
        .get_application_by_app_id(&settings.app.client_id)
        .await
        .unwrap()
        .unwrap();
    let mut access = app.required_resource_access.clone();
    access
        .iter_mut()
        .find(|r| r.resource_app_id == GRAPH_APP_ID)
        .unwrap()
        .resource_access
        .push(ResourceAccess {
            id: role,
            kind: "Role".into(),
        });
    session
        .graph
        .update_application(&app.id, &requiring(access))
        .await
        .unwrap();
    // An admin also granted it (the real assignment, not just the manifest).
    let sp = env
        .emu
        .state()
        .directory()
        .service_principal(ids::PARTNER_TENANT, &settings.app.client_id)
        .cloned()
        .unwrap();
    env.emu
        .state()
        .add_service_principal(emulator::seed::ServicePrincipalSeed {
            app_roles: vec![PermissionSeed {
                resource: GRAPH_APP_ID.into(),
                scopes: vec!["User.Read.All".into()],
            }],
            ..sp
        });
    let report = env.doctor(&settings, Some(&session)).await;
    let text = expect(&report, "app.no_application_permissions", Status::Fail);
    assert!(
        text.contains("User.Read.All (application)")
            && text.contains("remove every application permission"),
        "{text}"
    );
    let text = expect(&report, "consent.no_app_role_assignments", Status::Fail);
    assert!(
        text.contains("application permissions are granted") && text.contains("Revoke"),
        "{text}"
    );
}

#[tokio::test]
async fn doctor_fails_when_the_partner_center_service_principal_is_deleted() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let (session, settings) = env.ready().await;
    env.emu
        .state()
        .directory_mut()
        .service_principals
        .retain(|s| s.app_id != PARTNER_CENTER_APP_ID);
    let report = env.doctor(&settings, Some(&session)).await;
    let text = expect(&report, "partner_center.service_principal", Status::Fail);
    assert!(
        text.contains("missing")
            && text.contains("New-MgServicePrincipal -AppId fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"),
        "{text}"
    );
    let repaired = env.setup(&session, &env.options(env.generated())).await;
    assert!(repaired.has_changes());
    expect(
        &env.doctor(&settings, Some(&session)).await,
        "partner_center.service_principal",
        Status::Pass,
    );
}

#[tokio::test]
async fn doctor_fails_when_consent_is_revoked_reading_the_real_grants() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let (session, settings) = env.ready().await;
    let app_id = settings.app.client_id.clone();
    env.emu
        .state()
        .directory_mut()
        .consents
        .retain(|c| !c.app_id.eq_ignore_ascii_case(&app_id));
    let report = env.doctor(&settings, Some(&session)).await;
    // The manifest still lists every permission: only the grants tell.
    expect(&report, "app.permissions", Status::Pass);
    let text = expect(&report, "consent.admin_grants", Status::Fail);
    assert!(
        text.contains("not granted: Microsoft Graph DelegatedAdminRelationship.ReadWrite.All"),
        "{text}"
    );
    assert!(text.contains("consent again"), "{text}");
    let text = expect(&report, "token.partner_center", Status::Fail);
    assert!(text.contains("does not redeem"), "{text}");
}

#[tokio::test]
async fn doctor_warns_when_the_certificate_nears_expiry() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let session = env.admin_session().await;
    // A certificate of the operator's own, 10 days from expiry.
    let path = env.dir.path().join("short.pem");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(10);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(&path, cert.pem()).unwrap();
    let key_path = env.dir.path().join("short.key");
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let given = CertificateChoice::Existing {
        certificate: path.clone(),
        private_key: key_path,
    };
    env.setup(&session, &env.options(given)).await;
    let settings = env.settings(&[]);
    env.consent(&settings).await;
    let report = env.doctor(&settings, Some(&session)).await;
    let text = expect(&report, "app.credential", Status::Warn);
    assert!(
        text.contains("expires in 9 days") || text.contains("expires in 10 days"),
        "{text}"
    );
    assert!(text.contains("run setup again"), "{text}");
    expect(&report, "app.certificate_registered", Status::Pass);
    assert_eq!(report.exit(), cli_kit::Exit::Partial);
}

#[tokio::test]
async fn doctor_warns_when_the_vault_policy_is_broader_than_get_and_set() {
    let (env, session, settings, secret) =
        helpers::consented_in_a_vault_with_a_broad_policy().await;
    let report = env.doctor(&settings, Some(&session)).await;
    expect(&report, "store.reachable", Status::Pass);
    let text = expect(&report, "store.least_privilege", Status::Warn);
    assert!(
        text.contains("may also list, delete secrets")
            && text.contains("--secret-permissions get set"),
        "{text}"
    );
    expect(&report, "store.set", Status::Pass);
    // No secret in the report.
    assert!(!report.render_text().contains(&secret));
    assert!(!serde_json::to_string(&report).unwrap().contains(&secret));
}

#[tokio::test]
async fn doctor_passes_the_vault_when_the_policy_is_get_and_set_only() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let session = env.admin_session().await;
    env.setup(&session, &env.options(env.generated())).await;
    let (vault, secret) = env.key_vault_store();
    let settings = env.settings(&vault);
    env.consent(&settings).await;
    let report = env.doctor(&settings, Some(&session)).await;
    expect(&report, "store.least_privilege", Status::Pass);
    let identity = expect(&report, "store.identity", Status::Pass);
    assert!(
        identity.contains("client-secret")
            && identity.contains(ids::KEYVAULT_APP)
            && !identity.contains(&secret),
        "{identity}"
    );
    // Only the configuration's own warning remains: the vault is reached with a client secret.
    let text = expect(&report, "config", Status::Warn);
    assert!(text.contains("client secret"), "{text}");
    let others: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.id != "config" && c.status != Status::Pass)
        .collect();
    assert!(others.is_empty(), "{}", report.render_text());
}

/// Doctor probes the vault with the store's own credential, whichever identity it is: here a
/// Kubernetes workload identity (the test plays the cluster's service-account issuer).
#[tokio::test]
async fn doctor_probes_the_vault_as_a_workload_identity() {
    use emulator::federation::{
        ExternalIssuerSeed, FederatedCredentialSeed, TOKEN_EXCHANGE_AUDIENCE,
    };
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    const ISSUER: &str = "https://oidc.prod-aks.azure.com/00000000-0000-4000-8000-00000000d0c7/";
    const SUBJECT: &str = "system:serviceaccount:sam:sam-doctor";
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let key = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap();
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("sa".into());
    let mut seed = helpers::empty_partner_seed();
    seed.federated_credentials.push(FederatedCredentialSeed {
        app_id: ids::KEYVAULT_APP.into(),
        name: "aks-sam-doctor".into(),
        issuer: ISSUER.into(),
        subject: SUBJECT.into(),
        audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
    });
    seed.external_issuers.push(ExternalIssuerSeed {
        issuer: ISSUER.into(),
        jwks: serde_json::json!({ "keys": [jwk] }).to_string(),
    });
    let env = helpers::spawn(seed).await;
    let session = env.admin_session().await;
    env.setup(&session, &env.options(env.generated())).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("sa".into());
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": SUBJECT, "aud": [TOKEN_EXCHANGE_AUDIENCE],
        "iat": now, "nbf": now, "exp": now + 3600,
    });
    let token_file = env.dir.path().join("azure-identity-token");
    std::fs::write(
        &token_file,
        jsonwebtoken::encode(&header, &claims, &key).unwrap(),
    )
    .unwrap();
    let settings = env.settings(&[
        "store.kind=key-vault".to_owned(),
        format!(
            "store.key_vault.vault_url={}",
            env.emu.vault_url(ids::VAULT)
        ),
        "store.key_vault.identity=workload-identity".to_owned(),
        format!("store.key_vault.tenant_id={}", ids::PARTNER_TENANT),
        format!("store.key_vault.client_id={}", ids::KEYVAULT_APP),
        format!(
            "store.key_vault.federated_token_file={}",
            token_file.display()
        ),
    ]);
    env.consent(&settings).await;
    let report = env.doctor(&settings, Some(&session)).await;
    let identity = expect(&report, "store.identity", Status::Pass);
    assert!(identity.contains("workload-identity"), "{identity}");
    expect(&report, "store.reachable", Status::Pass);
    expect(&report, "store.least_privilege", Status::Pass);

    // The same identity with an assertion from an issuer the app does not trust: a failure
    // that names the identity and Entra's answer, not a skipped check.
    let claims = serde_json::json!({
        "iss": "https://attacker.example/", "sub": SUBJECT, "aud": [TOKEN_EXCHANGE_AUDIENCE],
        "iat": now, "nbf": now, "exp": now + 3600,
    });
    std::fs::write(
        &token_file,
        jsonwebtoken::encode(&header, &claims, &key).unwrap(),
    )
    .unwrap();
    let report = env.doctor(&settings, Some(&session)).await;
    let text = expect(&report, "store.reachable", Status::Fail);
    assert!(
        text.contains("workload-identity") && text.contains("AADSTS"),
        "{text}"
    );
}
