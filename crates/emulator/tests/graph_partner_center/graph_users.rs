use crate::helpers::*;
use emulator::partner_data::generate::generated_tenant_id;
use emulator::seed::ids;
use emulator::{Fault, Service};

#[tokio::test]
async fn users_list_pages_to_the_end_with_next_links_for_a_partner_admin_through_gdap() {
    let emu = spawn_with(config().with_generated_customers(2, 25).unwrap()).await;
    let customer = generated_tenant_id(1);
    let token = emu.user_token(ADMIN, &customer, GRAPH).await;
    let mut url = emu.graph("/users?$top=10&$select=id,userPrincipalName");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = emu.get(&url, &token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.header("request-id").is_some());
        pages += 1;
        for u in r.body["value"].as_array().unwrap() {
            assert_eq!(
                u.as_object().unwrap().len(),
                2,
                "only the selected properties: {u}"
            );
            seen.push(u["userPrincipalName"].as_str().unwrap().to_string());
        }
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&emu.graph("/users?")), "{next}");
                assert!(
                    next.contains("$top=10") && next.contains("$skiptoken="),
                    "{next}"
                );
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    assert!(
        seen.iter()
            .all(|u| u.ends_with("@gen-customer-00001.onmicrosoft.com"))
    );
}

#[tokio::test]
async fn users_default_shape_filter_and_get_by_id_or_upn() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let r = emu.get(&emu.graph("/users"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/$metadata#users")
    );
    assert!(r.body.get("@odata.nextLink").is_none());
    let users = r.body["value"].as_array().unwrap();
    // Avery, Noah, Uma and the console operator Olivia.
    assert_eq!(users.len(), 4, "only the partner tenant's users");
    let first = users[0].as_object().unwrap();
    for key in [
        "businessPhones",
        "displayName",
        "givenName",
        "id",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
    ] {
        assert!(first.contains_key(key), "{key} missing in {first:?}");
    }
    let r = emu
        .get(
            &emu.graph("/users?$filter=startswith(userPrincipalName,'nomfa')"),
            &token,
        )
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["value"][0]["id"], ids::PARTNER_ADMIN_NO_MFA);
    let r = emu
        .get(&emu.graph(&format!("/users/{}", ids::PARTNER_USER)), &token)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["userPrincipalName"], PLAIN_USER);
    let r = emu
        .get(&emu.graph(&format!("/users/{PLAIN_USER}")), &token)
        .await;
    assert_eq!(r.body["id"], ids::PARTNER_USER);
    // A user of another tenant is not visible in this one.
    let r = emu
        .get(
            &emu.graph("/users/31000000-0000-4000-8000-000000000001"),
            &token,
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(graph_code(&r), "Request_ResourceNotFound");
}

#[tokio::test]
async fn users_query_validation_errors_have_graph_codes() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let r = emu
        .get(&emu.graph("/users?$filter=jobTitle eq 'x'"), &token)
        .await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (400, "Request_UnsupportedQuery")
    );
    let r = emu.get(&emu.graph("/users?$top=1000"), &token).await;
    assert_eq!((r.status, graph_code(&r)), (400, "Request_BadRequest"));
    let r = emu.get(&emu.graph("/users?$select=nope"), &token).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'nope'")
    );
    let r = emu
        .get(&emu.graph("/users?$skiptoken=garbage"), &token)
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn me_and_organization_answer_for_the_signed_in_user_and_me_refuses_app_only_tokens() {
    let emu = spawn_with(config().with_app(setup_app())).await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    // /organization needs User.Read or Organization/Directory.Read.All, which the CSP app lacks.
    let r = emu.get(&emu.graph("/organization"), &token).await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (403, "Authorization_RequestDenied")
    );
    let rt = emu
        .sign_in(ids::PARTNER_TENANT, SETUP_APP, SETUP_SECRET, ADMIN)
        .await;
    let (_, body) = emu
        .redeem(ids::PARTNER_TENANT, SETUP_APP, SETUP_SECRET, &rt, GRAPH)
        .await;
    let token = body["access_token"].as_str().unwrap().to_string();
    let r = emu.get(&emu.graph("/me"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], ids::PARTNER_ADMIN);
    let r = emu.get(&emu.graph("/organization"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["value"][0]["id"], ids::PARTNER_TENANT);
    assert_eq!(
        r.body["value"][0]["verifiedDomains"][0]["name"],
        "contoso-partner.onmicrosoft.com"
    );
    let app = emu
        .app_token(ids::PARTNER_TENANT, ids::CPV_APP, GRAPH)
        .await;
    let r = emu.get(&emu.graph("/me"), &app).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn graph_refuses_missing_expired_and_foreign_audience_tokens_with_401() {
    let emu = spawn().await;
    let r = emu
        .call(reqwest::Method::GET, &emu.graph("/users"), None, None, &[])
        .await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (401, "InvalidAuthenticationToken")
    );
    assert!(r.header("www-authenticate").is_some());
    let r = emu.get(&emu.graph("/users"), "not-a-jwt").await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (401, "InvalidAuthenticationToken")
    );
    let pc_token = emu.app_token(ids::PARTNER_TENANT, ids::CPV_APP, PC).await;
    let r = emu.get(&emu.graph("/users"), &pc_token).await;
    assert_eq!(r.status, 401);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid audience")
    );
    let token = emu
        .app_token(ids::PARTNER_TENANT, ids::CPV_APP, GRAPH)
        .await;
    emu.handle
        .advance_clock(std::time::Duration::from_secs(2 * 3600));
    let r = emu.get(&emu.graph("/servicePrincipals"), &token).await;
    assert_eq!(r.status, 401);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn users_need_a_user_read_permission_403_authorization_request_denied() {
    let emu = spawn().await;
    // The CPV app holds only Application.Read.All in the partner tenant.
    let token = emu
        .app_token(ids::PARTNER_TENANT, ids::CPV_APP, GRAPH)
        .await;
    let r = emu.get(&emu.graph("/users"), &token).await;
    assert_eq!(
        (r.status, graph_code(&r)),
        (403, "Authorization_RequestDenied")
    );
    assert_eq!(
        r.body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
}

#[tokio::test]
async fn graph_throttling_answers_429_with_retry_after_through_the_fault_controls() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    emu.handle.inject_fault(
        Fault::status(Service::Graph, 429)
            .on_route("/users")
            .retry_after(7)
            .times(1),
    );
    let r = emu.get(&emu.graph("/users"), &token).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(graph_code(&r), "TooManyRequests");
    let r = emu.get(&emu.graph("/users"), &token).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_fault_for_one_tenant_throttles_that_tenant_only() {
    let emu = spawn().await;
    let customer = ids::CUSTOMER_FABRIKAM;
    let partner = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let in_customer = emu.user_token(ADMIN, customer, GRAPH).await;
    emu.handle.inject_fault(
        Fault::status(Service::Graph, 429)
            .for_tenant(customer.to_uppercase())
            .retry_after(1)
            .times(1),
    );
    // The partner's own calls are not the customer's: they pass, and leave the fault in place.
    let r = emu.get(&emu.graph("/users"), &partner).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Unauthenticated calls carry no tenant: they reach the handler (401), not the fault.
    let r = emu.get(&emu.graph("/users"), "not-a-jwt").await;
    assert_eq!(r.status, 401);
    let r = emu.get(&emu.graph("/users"), &in_customer).await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("1")));
    let r = emu.get(&emu.graph("/users"), &in_customer).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn an_entra_fault_for_one_tenant_matches_the_tenant_in_the_path() {
    let emu = spawn().await;
    emu.handle.inject_fault(
        Fault::status(Service::Entra, 503)
            .for_tenant(ids::CUSTOMER_FABRIKAM)
            .times(1),
    );
    let secret = emu.secret_of(ids::CSP_APP);
    let token_at = |tenant| emu.try_app_token(tenant, ids::CSP_APP, &secret, GRAPH);
    let (s, body) = token_at(ids::PARTNER_TENANT).await;
    assert_eq!(s, 200, "another tenant passes: {body}");
    let (s, body) = token_at(ids::CUSTOMER_FABRIKAM).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
}
