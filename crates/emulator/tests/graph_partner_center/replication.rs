//! Replication after consent (docs/microsoft-behaviour.md §6.6) and Graph's per-application,
//! per-tenant throttling (§0b, §6.4), on the emulator's clock.

use crate::helpers::*;
use emulator::seed::{PermissionSeed, ids};
use emulator::{GraphThrottleSettings, ReplicationSettings};
use serde_json::json;
use std::time::Duration;

const WINDOW: Duration = Duration::from_secs(60);

/// The default seed with the CSP app allowed to read service principals app-only in Fabrikam
/// (to watch the CPV app's service principal appear there) and a fixed replication delay.
fn replicating() -> emulator::EmulatorConfig {
    let mut cfg = config().with_replication(ReplicationSettings::fixed(WINDOW));
    for sp in &mut cfg.seed.service_principals {
        if sp.tenant == ids::CUSTOMER_FABRIKAM && sp.app_id == ids::CSP_APP {
            sp.app_roles.push(PermissionSeed {
                resource: GRAPH_APP.into(),
                scopes: vec!["Application.Read.All".into()],
            });
        }
    }
    cfg
}

#[tokio::test]
async fn a_consents_service_principal_and_grant_appear_only_after_the_replication_delay() {
    let emu = spawn_with(replicating()).await;
    let customer = ids::CUSTOMER_FABRIKAM;
    let pc = emu.user_token(ADMIN, ids::PARTNER_TENANT, PC).await;
    let cpv_secret = emu.secret_of(ids::CPV_APP);
    let rt = emu
        .sign_in(ids::PARTNER_TENANT, ids::CPV_APP, &cpv_secret, ADMIN)
        .await;
    let r = emu
        .post(&emu.pc(&format!("/customers/{customer}/applicationconsents")), &pc, json!({
            "applicationId": ids::CPV_APP,
            "displayName": "Contoso Control Panel (demo CPV)",
            "applicationGrants": [{"enterpriseApplicationId": GRAPH_APP, "scope": "User.Read.All,Application.Read.All,AppRoleAssignment.ReadWrite.All"}],
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(emu.handle.pending_replication(), 1);

    // Within the window: the partner user's token there is refused as not consented (65001),
    // the application's own token as not installed (700016), and Graph does not list the
    // service principal.
    let (s, body) = emu
        .redeem(customer, ids::CPV_APP, &cpv_secret, &rt, GRAPH)
        .await;
    assert_eq!(
        (s, body["error_codes"][0].as_i64()),
        (400, Some(65001)),
        "{body}"
    );
    let (s, body) = emu
        .try_app_token(customer, ids::CPV_APP, &cpv_secret, GRAPH)
        .await;
    assert_eq!(
        (s, body["error_codes"][0].as_i64()),
        (400, Some(700016)),
        "{body}"
    );
    let reader = emu.app_token(customer, ids::CSP_APP, GRAPH).await;
    let find = emu.graph(&format!(
        "/servicePrincipals?$filter=appId eq '{}'",
        ids::CPV_APP
    ));
    let r = emu.get(&find, &reader).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["value"], json!([]), "{}", r.body);

    // Still not at the last second of the window; visible once it has passed.
    emu.handle.advance_clock(WINDOW - Duration::from_secs(2));
    let (s, _) = emu
        .redeem(customer, ids::CPV_APP, &cpv_secret, &rt, GRAPH)
        .await;
    assert_eq!(s, 400);
    emu.handle.advance_clock(Duration::from_secs(3));
    let r = emu.get(&find, &reader).await;
    let principal = r.body["value"][0]["id"].as_str().unwrap().to_string();
    let (s, body) = emu
        .redeem(customer, ids::CPV_APP, &cpv_secret, &rt, GRAPH)
        .await;
    assert_eq!(s, 200, "{body}");
    let delegated = body["access_token"].as_str().unwrap().to_string();
    let (s, body) = emu
        .try_app_token(customer, ids::CPV_APP, &cpv_secret, GRAPH)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(emu.handle.pending_replication(), 0);

    // An app-role assignment replicates too: created (201) at once, listed and in the `roles`
    // of app-only tokens only after the delay; asking again in the window is a duplicate.
    let r = emu
        .get(
            &emu.graph(&format!(
                "/servicePrincipals?$filter=appId eq '{GRAPH_APP}'"
            )),
            &delegated,
        )
        .await;
    let graph_sp = r.body["value"][0]["id"].as_str().unwrap().to_string();
    let role = r.body["value"][0]["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["value"] == "User.Read.All")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let assign = emu.graph(&format!("/servicePrincipals/{graph_sp}/appRoleAssignedTo"));
    let body = json!({"principalId": principal, "resourceId": graph_sp, "appRoleId": role});
    let r = emu.post(&assign, &delegated, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = emu.post(&assign, &delegated, body).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let held = emu.graph(&format!(
        "/servicePrincipals/{principal}/appRoleAssignments"
    ));
    assert_eq!(emu.get(&held, &delegated).await.body["value"], json!([]));
    let roles = |token: &str| {
        emu.handle
            .validate_access_token(token, &[emulator::ResourceKind::Graph])
            .unwrap()
            .roles
    };
    let (_, body) = emu
        .try_app_token(customer, ids::CPV_APP, &cpv_secret, GRAPH)
        .await;
    assert!(roles(body["access_token"].as_str().unwrap()).is_empty());
    emu.handle.advance_clock(WINDOW + Duration::from_secs(1));
    let r = emu.get(&held, &delegated).await;
    assert_eq!(
        r.body["value"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.body
    );
    let (_, body) = emu
        .try_app_token(customer, ids::CPV_APP, &cpv_secret, GRAPH)
        .await;
    assert_eq!(
        roles(body["access_token"].as_str().unwrap()),
        ["User.Read.All"]
    );
}

#[tokio::test]
async fn a_consent_deleted_before_it_replicated_never_appears() {
    let emu = spawn_with(replicating()).await;
    let customer = ids::CUSTOMER_FABRIKAM;
    let pc = emu.user_token(ADMIN, ids::PARTNER_TENANT, PC).await;
    let url = emu.pc(&format!("/customers/{customer}/applicationconsents"));
    let r = emu
        .post(&url, &pc, json!({
            "applicationId": ids::CPV_APP,
            "applicationGrants": [{"enterpriseApplicationId": GRAPH_APP, "scope": "User.Read.All"}],
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = emu.delete(&format!("{url}/{}", ids::CPV_APP), &pc).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(emu.handle.pending_replication(), 0);
    emu.handle.advance_clock(WINDOW * 2);
    let cpv_secret = emu.secret_of(ids::CPV_APP);
    let (s, body) = emu
        .try_app_token(customer, ids::CPV_APP, &cpv_secret, GRAPH)
        .await;
    assert_eq!(
        (s, body["error_codes"][0].as_i64()),
        (400, Some(700016)),
        "{body}"
    );
}

#[tokio::test]
async fn graph_answers_429_with_retry_after_once_an_apps_budget_in_a_tenant_is_spent() {
    let emu = spawn_with(config().with_graph_throttling(GraphThrottleSettings::per_10s(3))).await;
    let cpv = emu
        .app_token(ids::PARTNER_TENANT, ids::CPV_APP, GRAPH)
        .await;
    let url = emu.graph("/servicePrincipals");
    for _ in 0..3 {
        assert_eq!(emu.get(&url, &cpv).await.status, 200);
    }
    let r = emu.get(&url, &cpv).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(graph_code(&r), "TooManyRequests");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(emu.handle.counter("graph.throttled"), 1);
    // Another application in the same tenant has its own budget.
    let csp = emu
        .app_token(ids::PARTNER_TENANT, ids::CSP_APP, GRAPH)
        .await;
    assert_ne!(emu.get(&url, &csp).await.status, 429);
    // The window passes on the emulator's clock.
    emu.handle.advance_clock(Duration::from_secs(retry));
    assert_eq!(emu.get(&url, &cpv).await.status, 200);
}
