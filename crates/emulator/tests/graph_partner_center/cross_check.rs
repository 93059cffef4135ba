//! The partner's journey to a customer: no GDAP → refused at the customer's authority;
//! relationship created, locked, approved and assigned → the same refresh token works and
//! reads the customer's users; application consent → the CPV app's own client-credentials
//! token in that customer tenant reads its users.

use crate::helpers::*;
use emulator::partner_data::ids as pids;
use emulator::seed::ids;
use serde_json::json;

const REL: &str = "/tenantRelationships/delegatedAdminRelationships";
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

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
                "accessDetails": {"unifiedRoles": [{"roleDefinitionId": DIRECTORY_READERS}]},
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

    // 3. The same refresh token now works at the customer's authority.
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
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": DIRECTORY_READERS}]},
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
    // Application consent through Partner Center creates it with the grants.
    let pc = emu.user_token(ADMIN, ids::PARTNER_TENANT, PC).await;
    let r = emu
        .post(&emu.pc(&format!("/customers/{customer}/applicationconsents")), &pc, json!({
            "applicationId": ids::CPV_APP,
            "displayName": "Contoso Control Panel (demo CPV)",
            "applicationGrants": [{"enterpriseApplicationId": GRAPH_APP, "scope": "User.Read.All"}],
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (s, body) = emu
        .try_app_token(customer, ids::CPV_APP, &cpv_secret, GRAPH)
        .await;
    assert_eq!(s, 200, "{body}");
    let cpv = body["access_token"].as_str().unwrap().to_string();
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
