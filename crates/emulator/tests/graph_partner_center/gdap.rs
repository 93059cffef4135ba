use crate::helpers::*;
use emulator::partner_data::ids as pids;
use emulator::seed::{PermissionSeed, ServicePrincipalSeed, ids};
use serde_json::{Value, json};

const REL: &str = "/tenantRelationships/delegatedAdminRelationships";
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";
const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";

fn new_relationship(name: &str) -> Value {
    json!({
        "displayName": name,
        "duration": "P730D",
        "customer": {"tenantId": ids::CUSTOMER_TAILSPIN, "displayName": "Tailspin"},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": DIRECTORY_READERS}]},
        "autoExtendDuration": "P180D",
    })
}

#[tokio::test]
async fn relationships_list_filters_on_status_and_get_returns_the_seeded_one() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let r = emu
        .get(
            &emu.graph(&format!("{REL}?$filter=status eq 'active'")),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#delegatedAdminRelationships")
    );
    let ids_seen: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids_seen, [pids::GDAP_FABRIKAM, pids::GDAP_NORTHWIND]);
    let r = emu
        .get(
            &emu.graph(&format!("{REL}?$filter=status eq 'created'")),
            &token,
        )
        .await;
    assert!(r.body["value"].as_array().unwrap().is_empty());
    let r = emu
        .get(
            &emu.graph(&format!("{REL}/{}", pids::GDAP_FABRIKAM)),
            &token,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["customer"]["tenantId"], ids::CUSTOMER_FABRIKAM);
    assert_eq!(r.body["status"], "active");
    assert!(r.body["@odata.etag"].as_str().unwrap().starts_with("W/\""));
    assert_eq!(
        r.body["accessDetails"]["unifiedRoles"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let r = emu
        .get(
            &emu.graph(&format!("{REL}/{}/accessAssignments", pids::GDAP_FABRIKAM)),
            &token,
        )
        .await;
    assert_eq!(
        r.body["value"][0]["accessContainer"]["accessContainerId"],
        pids::ADMIN_AGENTS_GROUP
    );
    let r = emu.get(&emu.graph(&format!("{REL}/nope")), &token).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn relationships_page_with_top_and_next_link() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let r = emu.get(&emu.graph(&format!("{REL}?$top=1")), &token).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    let next = r.body["@odata.nextLink"].as_str().unwrap().to_string();
    let r = emu.get(&next, &token).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    assert!(r.body.get("@odata.nextLink").is_none());
    let r = emu
        .get(&emu.graph(&format!("{REL}?$top=301")), &token)
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn create_enforces_the_documented_validation_rules() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let url = emu.graph(REL);
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"duration": "P30D", "accessDetails": {"unifiedRoles": [{"roleDefinitionId": DIRECTORY_READERS}]}}),
            400,
            "displayName property is required",
        ),
        (
            {
                let mut v = new_relationship(&"x".repeat(51));
                v["displayName"] = json!("x".repeat(51));
                v
            },
            400,
            "50 characters",
        ),
        (
            new_relationship("Contoso - Fabrikam support"),
            409,
            "already exists",
        ),
        (
            {
                let mut v = new_relationship("d1");
                v["duration"] = json!("P3Y");
                v
            },
            400,
            "between P1D and P2Y",
        ),
        (
            {
                let mut v = new_relationship("d2");
                v["duration"] = json!("two years");
                v
            },
            400,
            "ISO 8601",
        ),
        (
            {
                let mut v = new_relationship("d3");
                v["autoExtendDuration"] = json!("P90D");
                v
            },
            400,
            "autoExtendDuration",
        ),
        (
            {
                let mut v = new_relationship("d4");
                v["accessDetails"]["unifiedRoles"] = json!([{"roleDefinitionId": GLOBAL_ADMIN}]);
                v
            },
            400,
            "cannot be auto-extended",
        ),
        (
            {
                let mut v = new_relationship("d5");
                v["accessDetails"]["unifiedRoles"] =
                    json!([{"roleDefinitionId": "11111111-1111-1111-1111-111111111111"}]);
                v
            },
            400,
            "not a supported",
        ),
        (
            {
                let mut v = new_relationship("d6");
                v["accessDetails"]["unifiedRoles"] = json!([]);
                v
            },
            400,
            "at least one role",
        ),
        (
            {
                let mut v = new_relationship("d7");
                v.as_object_mut().unwrap().remove("accessDetails");
                v
            },
            400,
            "accessDetails property is required",
        ),
        (
            {
                let mut v = new_relationship("d8");
                v["customer"]["tenantId"] = json!(ids::PARTNER_TENANT);
                v
            },
            400,
            "not a customer",
        ),
    ];
    for (body, status, text) in cases {
        let r = emu.post(&url, &token, body.clone()).await;
        assert_eq!(r.status, status, "{body} → {}", r.body);
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(text),
            "{body} → {}",
            r.body
        );
    }
    let r = emu
        .call(
            reqwest::Method::POST,
            &url,
            Some(&token),
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!((r.status, graph_code(&r)), (400, "BadRequest"));
}

#[tokio::test]
async fn a_created_relationship_is_locked_approved_assigned_and_terminated() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let r = emu
        .post(
            &emu.graph(REL),
            &token,
            new_relationship("Tailspin onboarding"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "created");
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location").unwrap(),
        emu.graph(&format!("{REL}/{id}"))
    );
    // Approval needs the lock first.
    assert!(
        emu.handle
            .approve_gdap_relationship(&id, None)
            .unwrap_err()
            .contains("approvalPending")
    );
    let r = emu
        .post(
            &emu.graph(&format!("{REL}/{id}/requests")),
            &token,
            json!({"action": "lockForApproval"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["action"], "lockForApproval");
    let r = emu
        .post(
            &emu.graph(&format!("{REL}/{id}/requests")),
            &token,
            json!({"action": "explode"}),
        )
        .await;
    assert_eq!(r.status, 400);
    // Assignments need an active relationship.
    let assignment = json!({"accessContainer": {"accessContainerId": pids::ADMIN_AGENTS_GROUP, "accessContainerType": "securityGroup"},
                            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": DIRECTORY_READERS}]}});
    let r = emu
        .post(
            &emu.graph(&format!("{REL}/{id}/accessAssignments")),
            &token,
            assignment.clone(),
        )
        .await;
    assert_eq!(r.status, 400);
    // The customer approves through the admin API.
    let r = emu
        .client
        .post(emu.url(&format!("/_admin/gdap/relationships/{id}/approve")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = emu.get(&emu.graph(&format!("{REL}/{id}")), &token).await;
    assert_eq!(r.body["status"], "active");
    assert!(r.body["activatedDateTime"].is_string() && r.body["endDateTime"].is_string());
    assert!(
        emu.handle
            .state()
            .has_delegated_access(ids::CUSTOMER_TAILSPIN, ids::PARTNER_TENANT)
    );
    // Access assignments.
    let mut wider = assignment.clone();
    wider["accessDetails"]["unifiedRoles"] = json!([{"roleDefinitionId": GLOBAL_ADMIN}]);
    let r = emu
        .post(
            &emu.graph(&format!("{REL}/{id}/accessAssignments")),
            &token,
            wider,
        )
        .await;
    assert_eq!(r.status, 400, "roles beyond the relationship's");
    let r = emu
        .post(
            &emu.graph(&format!("{REL}/{id}/accessAssignments")),
            &token,
            assignment.clone(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let aid = r.body["id"].as_str().unwrap().to_string();
    let r = emu
        .post(
            &emu.graph(&format!("{REL}/{id}/accessAssignments")),
            &token,
            assignment,
        )
        .await;
    assert_eq!(r.status, 409);
    let r = emu
        .get(
            &emu.graph(&format!("{REL}/{id}/accessAssignments/{aid}")),
            &token,
        )
        .await;
    assert_eq!(r.body["status"], "active");
    let r = emu
        .get(&emu.graph(&format!("{REL}/{id}/requests")), &token)
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    let r = emu
        .delete(
            &emu.graph(&format!("{REL}/{id}/accessAssignments/{aid}")),
            &token,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = emu
        .delete(
            &emu.graph(&format!("{REL}/{id}/accessAssignments/{aid}")),
            &token,
        )
        .await;
    assert_eq!(r.status, 404);
    // Termination withdraws delegated access.
    let r = emu
        .post(
            &emu.graph(&format!("{REL}/{id}/requests")),
            &token,
            json!({"action": "terminate"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        !emu.handle
            .state()
            .has_delegated_access(ids::CUSTOMER_TAILSPIN, ids::PARTNER_TENANT)
    );
    let r = emu.get(&emu.graph(&format!("{REL}/{id}")), &token).await;
    assert_eq!(r.body["status"], "terminated");
}

#[tokio::test]
async fn gdap_refuses_read_only_scopes_for_writes_and_tokens_of_customer_tenants() {
    let emu = spawn().await;
    // A customer's admin signs in to the CSP app in their own tenant: a customer-tenant token.
    let customer_token = emu
        .user_token(
            "admin@fabrikam-demo.onmicrosoft.com",
            ids::CUSTOMER_FABRIKAM,
            GRAPH,
        )
        .await;
    let r = emu.get(&emu.graph(REL), &customer_token).await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (403, "Authorization_RequestDenied")
    );
    // The setup app holds no DelegatedAdminRelationship permission at all.
    let emu = spawn_with(config().with_app(setup_app())).await;
    let rt = emu
        .sign_in(ids::PARTNER_TENANT, SETUP_APP, SETUP_SECRET, ADMIN)
        .await;
    let (_, body) = emu
        .redeem(ids::PARTNER_TENANT, SETUP_APP, SETUP_SECRET, &rt, GRAPH)
        .await;
    let token = body["access_token"].as_str().unwrap();
    let r = emu.get(&emu.graph(REL), token).await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (403, "Authorization_RequestDenied")
    );
}

#[tokio::test]
async fn app_only_gdap_needs_the_partner_customer_delegated_administration_service_principal() {
    let automation = "4a000000-0000-4000-8000-0000000000bb";
    let mut app = setup_app();
    app.app_id = automation.into();
    app.display_name = "GDAP automation (test)".into();
    let emu = spawn_with(
        config()
            .with_app(app)
            .with_service_principal(ServicePrincipalSeed {
                tenant: ids::PARTNER_TENANT.into(),
                app_id: automation.into(),
                object_id: "5a000000-0000-4000-8000-0000000000bb".into(),
                app_roles: vec![PermissionSeed {
                    resource: GRAPH_APP.into(),
                    scopes: vec![
                        "DelegatedAdminRelationship.ReadWrite.All".into(),
                        "Application.ReadWrite.All".into(),
                    ],
                }],
            }),
    )
    .await;
    let token = emu.app_token(ids::PARTNER_TENANT, automation, GRAPH).await;
    let r = emu.get(&emu.graph(REL), &token).await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2832473f-ec63-45fb-976f-5d45a7d4bb91")
    );
    let r = emu
        .post(
            &emu.graph("/servicePrincipals"),
            &token,
            json!({"appId": "2832473f-ec63-45fb-976f-5d45a7d4bb91"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = emu.get(&emu.graph(REL), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn update_needs_the_current_etag_and_changes_only_auto_extension_when_active() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let url = emu.graph(&format!("{REL}/{}", pids::GDAP_FABRIKAM));
    let current = emu.get(&url, &token).await;
    let etag = current.body["@odata.etag"].as_str().unwrap().to_owned();
    let body = json!({"autoExtendDuration": "PT0S"});
    let r = emu.patch(&url, &token, body.clone()).await;
    assert_eq!((r.status, graph_code(&r)), (400, "Request_BadRequest"));
    let r = emu
        .call(
            reqwest::Method::PATCH,
            &url,
            Some(&token),
            Some(body.clone()),
            &[("If-Match", "W/\"stale\"")],
        )
        .await;
    assert_eq!((r.status, graph_code(&r)), (412, "preconditionFailed"));
    let r = emu
        .call(
            reqwest::Method::PATCH,
            &url,
            Some(&token),
            Some(body),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["autoExtendDuration"], "PT0S");
    assert_ne!(r.body["@odata.etag"], etag.as_str());
    let etag = r.body["@odata.etag"].as_str().unwrap().to_owned();
    let r = emu
        .call(
            reqwest::Method::PATCH,
            &url,
            Some(&token),
            Some(json!({"duration": "P30D"})),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be updated while the relationship is 'active'"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn delegated_admin_customers_are_the_customers_with_an_active_relationship() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let r = emu
        .get(
            &emu.graph("/tenantRelationships/delegatedAdminCustomers"),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tenants: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tenantId"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, [ids::CUSTOMER_FABRIKAM, ids::CUSTOMER_NORTHWIND]);
    assert_eq!(r.body["value"][0]["id"], ids::CUSTOMER_FABRIKAM);
    assert_eq!(
        r.body["value"][0]["@odata.type"],
        "#microsoft.graph.delegatedAdminCustomer"
    );
}

#[tokio::test]
async fn member_of_lists_the_partner_users_security_groups() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let r = emu.get(&emu.graph("/me/memberOf"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let groups: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(groups, [pids::ADMIN_AGENTS_GROUP, pids::HELPDESK_GROUP]);
    assert_eq!(r.body["value"][1]["@odata.type"], "#microsoft.graph.group");
    let r = emu
        .get(
            &emu.graph(&format!("/users/{}/memberOf", ids::PARTNER_USER)),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["value"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_partner_user_gets_roles_only_through_an_assignment_of_a_group_it_is_in() {
    let emu = spawn().await;
    let partner = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let assignments = emu.graph(&format!("{REL}/{}/accessAssignments", pids::GDAP_NORTHWIND));
    let users = emu.graph("/users");
    let at_northwind = emu.user_token(ADMIN, ids::CUSTOMER_NORTHWIND, GRAPH).await;
    assert_eq!(emu.get(&users, &at_northwind).await.status, 200);
    // Without the Admin Agents assignment: no role.
    let r = emu
        .delete(
            &format!("{assignments}/{}", pids::ASSIGNMENT_NORTHWIND),
            &partner,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(emu.get(&users, &at_northwind).await.status, 403);
    let assign = |group: &str| {
        json!({"accessContainer": {"accessContainerId": group, "accessContainerType": "securityGroup"},
               "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "f2ef992c-3afb-46b9-b7cf-a126ee74c451"}]}})
    };
    // A group without the user: still none.
    let r = emu
        .post(&assignments, &partner, assign(pids::SECURITY_GROUP))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(emu.get(&users, &at_northwind).await.status, 403);
    // The user's group: the role.
    let r = emu
        .post(&assignments, &partner, assign(pids::HELPDESK_GROUP))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(emu.get(&users, &at_northwind).await.status, 200);
}

#[tokio::test]
async fn relationships_expire_or_auto_extend_on_the_emulator_clock() {
    let emu = spawn().await;
    // Northwind: P365D without auto-extension; Fabrikam: P730D with P180D.
    emu.handle
        .advance_clock(std::time::Duration::from_secs(366 * 86_400));
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let northwind = emu
        .get(
            &emu.graph(&format!("{REL}/{}", pids::GDAP_NORTHWIND)),
            &token,
        )
        .await;
    assert_eq!(northwind.body["status"], "expired");
    let fabrikam_url = emu.graph(&format!("{REL}/{}", pids::GDAP_FABRIKAM));
    let before = emu.get(&fabrikam_url, &token).await.body;
    assert_eq!(before["status"], "active");
    emu.handle
        .advance_clock(std::time::Duration::from_secs(365 * 86_400));
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let after = emu.get(&fabrikam_url, &token).await.body;
    assert_eq!(after["status"], "active");
    let day = |v: &Value| v["endDateTime"].as_str().unwrap()[..10].to_owned();
    let end = |v: &Value| {
        time::Date::parse(
            &day(v),
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap()
    };
    assert_eq!(end(&after) - end(&before), time::Duration::days(180));
    let customers = emu
        .get(
            &emu.graph("/tenantRelationships/delegatedAdminCustomers"),
            &token,
        )
        .await;
    assert_eq!(customers.body["value"].as_array().unwrap().len(), 1);
}
