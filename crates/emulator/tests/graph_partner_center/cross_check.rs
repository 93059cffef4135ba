//! The partner's journey to a customer: no GDAP → refused at the customer's authority (50020);
//! relationship created, locked and approved → still refused until the app is consented in that
//! tenant (65001); Partner Center application consent → the same refresh token works, and with
//! access assignments reads the customer's users; the CPV app's consent gives its app-only token
//! no role until one is assigned through Graph `appRoleAssignedTo`.

use crate::helpers::*;
use emulator::partner_data::ids as pids;
use emulator::seed::ids;
use serde_json::json;

const REL: &str = "/tenantRelationships/delegatedAdminRelationships";
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";
const USER_ADMINISTRATOR: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";

#[tokio::test]
async fn gdap_approval_then_application_consent_open_a_customer_tenant_step_by_step() {
    let emu = spawn().await;
    let customer = ids::CUSTOMER_TAILSPIN;
    let secret = emu.secret_of(ids::CSP_APP);
    let rt = emu
        .sign_in(ids::PARTNER_TENANT, ids::CSP_APP, &secret, ADMIN)
        .await;

    // 1. No relationship: the customer's authority refuses the partner's refresh token.
    let (s, body) = emu
        .redeem(customer, ids::CSP_APP, &secret, &rt, GRAPH)
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 50020);

    // 2. Create, lock for approval, the customer approves.
    let (_, partner) = emu
        .redeem(ids::PARTNER_TENANT, ids::CSP_APP, &secret, &rt, GRAPH)
        .await;
    let partner_graph = partner["access_token"].as_str().unwrap().to_string();
    let r = emu
        .post(
            &emu.graph(REL),
            &partner_graph,
            json!({
                "displayName": "Contoso - Tailspin",
                "duration": "P90D",
                "customer": {"tenantId": customer},
                "accessDetails": {"unifiedRoles": [{"roleDefinitionId": DIRECTORY_READERS}, {"roleDefinitionId": USER_ADMINISTRATOR}]},
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = emu
        .post(
            &emu.graph(&format!("{REL}/{id}/requests")),
            &partner_graph,
            json!({"action": "lockForApproval"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (s, _) = emu
        .redeem(customer, ids::CSP_APP, &secret, &rt, GRAPH)
        .await;
    assert_eq!(s, 400, "not before the customer approves");
    emu.handle.approve_gdap_relationship(&id, None).unwrap();

    // 3. GDAP alone is not enough: the app has no consent in the customer tenant.
    let (s, body) = emu
        .redeem(customer, ids::CSP_APP, &secret, &rt, GRAPH)
        .await;
    assert_eq!(
        (s, body["error_codes"][0].as_i64()),
        (400, Some(65001)),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("has not consented to use the application"),
        "{body}"
    );
    // Partner Center's application consent (delegated permissions) opens it.
    let pc = emu.user_token(ADMIN, ids::PARTNER_TENANT, PC).await;
    let r = emu
        .post(&emu.pc(&format!("/customers/{customer}/applicationconsents")), &pc, json!({
            "applicationId": ids::CSP_APP,
            "displayName": "Contoso CSP Automation (demo)",
            "applicationGrants": [{"enterpriseApplicationId": GRAPH_APP, "scope": "User.Read.All,AppRoleAssignment.ReadWrite.All,Application.Read.All"}],
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (s, body) = emu
        .redeem(customer, ids::CSP_APP, &secret, &rt, GRAPH)
        .await;
    assert_eq!(s, 200, "{body}");
    let customer_graph = body["access_token"].as_str().unwrap().to_string();
    let claims = emu
        .handle
        .validate_access_token(&customer_graph, &[emulator::ResourceKind::Graph])
        .unwrap();
    assert_eq!(claims.tenant_id, customer);
    // Roles come from access assignments: none yet.
    let r = emu.get(&emu.graph("/users"), &customer_graph).await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (403, "Authorization_RequestDenied")
    );
    let r = emu
        .post(&emu.graph(&format!("{REL}/{id}/accessAssignments")), &partner_graph, json!({
            "accessContainer": {"accessContainerId": pids::ADMIN_AGENTS_GROUP, "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": DIRECTORY_READERS}, {"roleDefinitionId": USER_ADMINISTRATOR}]},
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = emu.get(&emu.graph("/users"), &customer_graph).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["value"][0]["userPrincipalName"],
        "admin@tailspin-demo.onmicrosoft.com"
    );

    // 4. The CPV app has no service principal in the customer tenant yet.
    let cpv_secret = emu.secret_of(ids::CPV_APP);
    let (s, body) = emu
        .try_app_token(customer, ids::CPV_APP, &cpv_secret, GRAPH)
        .await;
    assert_eq!(s, 400, "{body}");
    // Application consent creates it and a delegated grant, and no app role.
    let r = emu
        .post(&emu.pc(&format!("/customers/{customer}/applicationconsents")), &pc, json!({
            "applicationId": ids::CPV_APP,
            "displayName": "Contoso Control Panel (demo CPV)",
            "applicationGrants": [{"enterpriseApplicationId": GRAPH_APP, "scope": "User.Read.All"}],
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cpv_token = || async {
        let (s, body) = emu
            .try_app_token(customer, ids::CPV_APP, &cpv_secret, GRAPH)
            .await;
        assert_eq!(s, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    };
    let cpv = cpv_token().await;
    let claims = emu
        .handle
        .validate_access_token(&cpv, &[emulator::ResourceKind::Graph])
        .unwrap();
    assert!(claims.roles.is_empty(), "{:?}", claims.roles);
    let r = emu.get(&emu.graph("/users"), &cpv).await;
    assert_eq!(r.status, 403, "{}", r.body);

    // The partner's user assigns the app role through Graph in the customer tenant.
    let find = |app: &str| emu.graph(&format!("/servicePrincipals?$filter=appId eq '{app}'"));
    let r = emu.get(&find(ids::CPV_APP), &customer_graph).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let principal = r.body["value"][0]["id"].as_str().unwrap().to_string();
    let r = emu.get(&find(GRAPH_APP), &customer_graph).await;
    let graph_sp = r.body["value"][0]["id"].as_str().unwrap().to_string();
    let role = r.body["value"][0]["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["value"] == "User.Read.All")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let assign = emu.graph(&format!("/servicePrincipals/{graph_sp}/appRoleAssignedTo"));
    let body = json!({"principalId": principal, "resourceId": graph_sp, "appRoleId": role});
    let r = emu.post(&assign, &customer_graph, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["principalId"], principal.as_str());
    assert_eq!(r.body["appRoleId"], role.as_str());
    let assignment = r.body["id"].as_str().unwrap().to_string();
    let r = emu.post(&assign, &customer_graph, body).await;
    assert_eq!(r.status, 400, "an existing assignment: {}", r.body);
    let cpv = cpv_token().await;
    let claims = emu
        .handle
        .validate_access_token(&cpv, &[emulator::ResourceKind::Graph])
        .unwrap();
    assert_eq!(claims.roles, ["User.Read.All"]);
    let r = emu.get(&emu.graph("/users"), &cpv).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["value"][0]["userPrincipalName"],
        "admin@tailspin-demo.onmicrosoft.com"
    );
    // The CPV app's app-only token holds no AppRoleAssignment.ReadWrite.All: refused.
    let r = emu
        .delete(
            &emu.graph(&format!(
                "/servicePrincipals/{principal}/appRoleAssignments/{assignment}"
            )),
            &cpv,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = emu
        .delete(
            &emu.graph(&format!(
                "/servicePrincipals/{principal}/appRoleAssignments/{assignment}"
            )),
            &customer_graph,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // 5. Terminating the relationship closes the customer's authority again.
    let r = emu
        .post(
            &emu.graph(&format!("{REL}/{id}/requests")),
            &partner_graph,
            json!({"action": "terminate"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (s, _) = emu
        .redeem(customer, ids::CSP_APP, &secret, &rt, GRAPH)
        .await;
    assert_eq!(s, 400);
}
