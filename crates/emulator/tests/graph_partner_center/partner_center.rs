use crate::helpers::*;
use emulator::partner_data::PartnerCenterSettings;
use emulator::seed::ids;
use emulator::{Fault, Service};
use reqwest::Method;
use serde_json::json;

fn consent_body() -> serde_json::Value {
    json!({
        "applicationId": ids::CPV_APP,
        "displayName": "Contoso Control Panel (demo CPV)",
        "applicationGrants": [
            {"enterpriseApplicationId": GRAPH_APP, "scope": "User.Read.All,Directory.Read.All"},
        ],
    })
}

#[tokio::test]
async fn customers_list_has_the_documented_shape_and_echoes_request_and_correlation_ids() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, PC).await;
    let request_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let correlation_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    let r = emu
        .call(
            Method::GET,
            &emu.pc("/customers"),
            Some(&token),
            None,
            &[
                ("MS-RequestId", request_id),
                ("MS-CorrelationId", correlation_id),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("ms-requestid"), Some(request_id));
    assert_eq!(r.header("ms-correlationid"), Some(correlation_id));
    assert_eq!(r.body["totalCount"], 3);
    assert_eq!(r.body["attributes"]["objectType"], "Collection");
    let c = &r.body["items"][0];
    assert_eq!(c["id"], ids::CUSTOMER_FABRIKAM);
    assert_eq!(c["companyProfile"]["tenantId"], ids::CUSTOMER_FABRIKAM);
    assert_eq!(
        c["companyProfile"]["domain"],
        "fabrikam-demo.onmicrosoft.com"
    );
    assert_eq!(
        c["companyProfile"]["attributes"]["objectType"],
        "CustomerCompanyProfile"
    );
    assert_eq!(c["relationshipToPartner"], "reseller");
    assert_eq!(c["attributes"]["objectType"], "Customer");
    assert!(r.body["links"].get("next").is_none());
    // Without the headers the emulator makes up its own IDs.
    let r = emu.get(&emu.pc("/customers"), &token).await;
    assert!(uuid::Uuid::parse_str(r.header("ms-requestid").unwrap()).is_ok());
}

#[tokio::test]
async fn customers_page_to_the_end_with_links_next_and_the_continuation_header() {
    let emu = spawn_with(config().with_generated_customers(5, 1).unwrap()).await;
    let token = emu.app_token(ids::PARTNER_TENANT, ids::CPV_APP, PC).await;
    let mut r = emu.get(&emu.pc("/customers?size=3"), &token).await;
    let mut seen = Vec::new();
    loop {
        assert_eq!(r.status, 200, "{}", r.body);
        for c in r.body["items"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_string());
        }
        let Some(next) = r.body["links"].get("next").cloned() else {
            break;
        };
        let uri = next["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("/v1/customers?size=3&seekOperation=Next"),
            "{uri}"
        );
        assert_eq!(next["headers"][0]["key"], "MS-ContinuationToken");
        let continuation = next["headers"][0]["value"].as_str().unwrap();
        let url = format!("{}{uri}", emu.handle.partner_center_url());
        r = emu
            .call(
                Method::GET,
                &url,
                Some(&token),
                None,
                &[("MS-ContinuationToken", continuation)],
            )
            .await;
    }
    assert_eq!(seen.len(), 8);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 8);
    let r = emu
        .call(
            Method::GET,
            &emu.pc("/customers?size=3&seekOperation=Next"),
            Some(&token),
            None,
            &[("MS-ContinuationToken", "bogus")],
        )
        .await;
    assert_eq!((r.status, r.body["code"].as_u64()), (400, Some(3000)));
    let r = emu.get(&emu.pc("/customers?size=0"), &token).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn customers_filter_on_company_name_and_domain() {
    let emu = spawn().await;
    let token = emu.app_token(ids::PARTNER_TENANT, ids::CPV_APP, PC).await;
    let filter = |f: serde_json::Value| {
        let mut u = url::Url::parse(&emu.pc("/customers")).unwrap();
        u.query_pairs_mut()
            .append_pair("size", "10")
            .append_pair("filter", &f.to_string());
        u.to_string()
    };
    let r = emu
        .get(
            &filter(json!({"Field": "CompanyName", "Value": "north", "Operator": "starts_with"})),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["id"], ids::CUSTOMER_NORTHWIND);
    let r = emu
        .get(
            &filter(json!({"Field": "Domain", "Value": "tailspin", "Operator": "starts_with"})),
            &token,
        )
        .await;
    assert_eq!(r.body["items"][0]["id"], ids::CUSTOMER_TAILSPIN);
    let r = emu
        .get(
            &filter(json!({"Field": "Country", "Value": "x", "Operator": "starts_with"})),
            &token,
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_u64(), r.body["source"].as_str()),
        (400, Some(3000), Some("PartnerFD"))
    );
}

#[tokio::test]
async fn customer_details_users_and_subscriptions() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, PC).await;
    let r = emu
        .get(
            &emu.pc(&format!("/customers/{}", ids::CUSTOMER_FABRIKAM)),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["allowDelegatedAccess"], true);
    let r = emu
        .get(
            &emu.pc(&format!("/customers/{}", ids::CUSTOMER_TAILSPIN)),
            &token,
        )
        .await;
    assert_eq!(r.body["allowDelegatedAccess"], false);
    let r = emu
        .get(
            &emu.pc(&format!(
                "/customers/{}/users?size=1",
                ids::CUSTOMER_FABRIKAM
            )),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["items"][0]["userPrincipalName"],
        "admin@fabrikam-demo.onmicrosoft.com"
    );
    assert_eq!(
        r.body["items"][0]["attributes"]["objectType"],
        "CustomerUser"
    );
    let token_value = r.body["links"]["next"]["headers"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    // Documented without the API root; a client adds `/v1` (docs/microsoft-behaviour.md §0).
    let uri = r.body["links"]["next"]["uri"].as_str().unwrap();
    assert!(
        uri.starts_with(&format!("/customers/{}/users?", ids::CUSTOMER_FABRIKAM)),
        "{uri}"
    );
    let next = format!("{}/v1{uri}", emu.handle.partner_center_url());
    let r = emu
        .call(
            Method::GET,
            &next,
            Some(&token),
            None,
            &[("MS-ContinuationToken", &token_value)],
        )
        .await;
    assert_eq!(
        r.body["items"][0]["userPrincipalName"],
        "finance@fabrikam-demo.onmicrosoft.com"
    );
    assert!(r.body["links"].get("next").is_none());
    let r = emu
        .get(
            &emu.pc(&format!(
                "/customers/{}/subscriptions",
                ids::CUSTOMER_FABRIKAM
            )),
            &token,
        )
        .await;
    assert_eq!(r.status, 200);
    let subs = r.body["items"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0]["offerName"], "Microsoft 365 Business Premium");
    assert_eq!(subs[1]["billingCycle"], "annual");
    assert_eq!(subs[0]["attributes"]["objectType"], "Subscription");
    let r = emu
        .get(
            &emu.pc("/customers/99999999-0000-4000-8000-000000000000"),
            &token,
        )
        .await;
    assert_eq!((r.status, r.body["code"].as_u64()), (404, Some(1000)));
}

#[tokio::test]
async fn partner_center_refuses_bad_tokens_in_its_error_shape() {
    let emu = spawn().await;
    let r = emu
        .call(Method::GET, &emu.pc("/customers"), None, None, &[])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["source"], "PartnerFD");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .starts_with("OAuth realm=")
    );
    assert!(r.header("ms-correlationid").is_some());
    // Wrong audience: a Graph token.
    let graph = emu
        .app_token(ids::PARTNER_TENANT, ids::CPV_APP, GRAPH)
        .await;
    let r = emu.get(&emu.pc("/customers"), &graph).await;
    assert_eq!(r.status, 401);
    assert!(r.body["description"].as_str().unwrap().contains("audience"));
    // A token of a customer tenant, not a partner.
    let customer = emu
        .user_token(
            "admin@fabrikam-demo.onmicrosoft.com",
            ids::CUSTOMER_FABRIKAM,
            PC,
        )
        .await;
    let r = emu.get(&emu.pc("/customers"), &customer).await;
    assert_eq!((r.status, r.body["code"].as_u64()), (403, Some(2032)));
    // A partner user who is no Admin Agent (after the admin consented for the tenant).
    emu.user_token(ADMIN, ids::PARTNER_TENANT, PC).await;
    let plain = emu.user_token(PLAIN_USER, ids::PARTNER_TENANT, PC).await;
    let r = emu.get(&emu.pc("/customers"), &plain).await;
    assert_eq!((r.status, r.body["code"].as_u64()), (403, Some(2032)));
    // App-only tokens are not accepted for application consents.
    let app = emu.app_token(ids::PARTNER_TENANT, ids::CPV_APP, PC).await;
    let r = emu
        .post(
            &emu.pc(&format!(
                "/customers/{}/applicationconsents",
                ids::CUSTOMER_TAILSPIN
            )),
            &app,
            consent_body(),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body["description"].as_str().unwrap().contains("App+User"));
}

#[tokio::test]
async fn a_delegated_token_without_mfa_gets_partner_centers_mfa_required_error() {
    let settings = PartnerCenterSettings {
        entra_requires_mfa: false,
        ..PartnerCenterSettings::default()
    };
    let mut cfg = config();
    cfg.seed.partner_center = settings;
    let emu = spawn_with(cfg).await;
    let token = emu.user_token(NO_MFA_ADMIN, ids::PARTNER_TENANT, PC).await;
    let r = emu.get(&emu.pc("/customers"), &token).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["code"], 900421);
    assert!(
        r.body["description"]
            .as_str()
            .unwrap()
            .starts_with("Unauthorized - MFA required")
    );
    // With the default Conditional Access policy Entra itself refuses (AADSTS50076).
    let emu = spawn().await;
    let secret = emu.secret_of(ids::CSP_APP);
    let rt = emu
        .sign_in(ids::PARTNER_TENANT, ids::CSP_APP, &secret, NO_MFA_ADMIN)
        .await;
    let (s, body) = emu
        .redeem(ids::PARTNER_TENANT, ids::CSP_APP, &secret, &rt, PC)
        .await;
    assert_eq!(s, 400);
    assert_eq!(body["error_codes"][0], 50076);
}

#[tokio::test]
async fn application_consent_is_created_refused_twice_validated_and_deleted() {
    let emu = spawn().await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, PC).await;
    let url = emu.pc(&format!(
        "/customers/{}/applicationconsents",
        ids::CUSTOMER_TAILSPIN
    ));
    let r = emu.post(&url, &token, consent_body()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["applicationGrants"][0]["scope"],
        "User.Read.All,Directory.Read.All"
    );
    assert!(
        emu.handle
            .state()
            .directory()
            .service_principal(ids::CUSTOMER_TAILSPIN, ids::CPV_APP)
            .is_some()
    );
    let r = emu.post(&url, &token, consent_body()).await;
    assert_eq!(r.status, 409, "{}", r.body);
    for (body, text) in [
        (
            json!({"displayName": "x", "applicationGrants": [{"enterpriseApplicationId": GRAPH_APP, "scope": "User.Read.All"}]}),
            "applicationId",
        ),
        (
            json!({"applicationId": ids::CPV_APP, "applicationGrants": []}),
            "applicationGrants",
        ),
        (
            json!({"applicationId": ids::CPV_APP, "applicationGrants": [{"enterpriseApplicationId": "graph", "scope": "x"}]}),
            "enterpriseApplicationId",
        ),
        (
            json!({"applicationId": ids::CPV_APP, "applicationGrants": [{"enterpriseApplicationId": GRAPH_APP, "scope": ""}]}),
            "scope",
        ),
        (
            json!({"applicationId": "12345678-1234-1234-1234-123456789012", "applicationGrants": [{"enterpriseApplicationId": GRAPH_APP, "scope": "User.Read.All"}]}),
            "registered",
        ),
    ] {
        let r = emu.post(&url, &token, body.clone()).await;
        assert_eq!(
            (r.status, r.body["code"].as_u64()),
            (400, Some(3000)),
            "{body} → {}",
            r.body
        );
        assert!(
            r.body["description"].as_str().unwrap().contains(text),
            "{body} → {}",
            r.body
        );
    }
    let r = emu.delete(&format!("{url}/{}", ids::CPV_APP), &token).await;
    assert_eq!(r.status, 204);
    assert!(
        emu.handle
            .state()
            .directory()
            .service_principal(ids::CUSTOMER_TAILSPIN, ids::CPV_APP)
            .is_none()
    );
    let r = emu.delete(&format!("{url}/{}", ids::CPV_APP), &token).await;
    assert_eq!(r.status, 404);
    let r = emu.post(&url, &token, consent_body()).await;
    assert_eq!(
        r.status, 201,
        "consenting again after the delete works: {}",
        r.body
    );
}

#[tokio::test]
async fn application_consents_are_rate_limited_per_application_with_retry_after() {
    let mut cfg = config();
    cfg.seed.partner_center = PartnerCenterSettings {
        consent_rate_limit: 2,
        consent_rate_window_secs: 3600,
        ..PartnerCenterSettings::default()
    };
    let emu = spawn_with(cfg).await;
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, PC).await;
    for customer in [ids::CUSTOMER_FABRIKAM, ids::CUSTOMER_NORTHWIND] {
        let r = emu
            .post(
                &emu.pc(&format!("/customers/{customer}/applicationconsents")),
                &token,
                consent_body(),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = emu
        .post(
            &emu.pc(&format!(
                "/customers/{}/applicationconsents",
                ids::CUSTOMER_TAILSPIN
            )),
            &token,
            consent_body(),
        )
        .await;
    assert_eq!(r.status, 429);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((3590..=3600).contains(&retry), "{retry}");
    assert_eq!(r.body["statusCode"], 429);
    assert_eq!(
        r.body["message"],
        format!("Rate limit is exceeded. Try again in {retry} seconds.")
    );
    // Another application is not affected; the window passes on the emulator's clock.
    emu.handle
        .advance_clock(std::time::Duration::from_secs(3600));
    let r = emu
        .post(
            &emu.pc(&format!(
                "/customers/{}/applicationconsents",
                ids::CUSTOMER_TAILSPIN
            )),
            &token,
            consent_body(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn partner_center_throttling_through_the_fault_controls_uses_its_429_shape() {
    let emu = spawn().await;
    let token = emu.app_token(ids::PARTNER_TENANT, ids::CPV_APP, PC).await;
    emu.handle.inject_fault(
        Fault::status(Service::PartnerCenter, 429)
            .retry_after(57)
            .times(1),
    );
    let r = emu.get(&emu.pc("/customers"), &token).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("57"));
    assert_eq!(
        r.body,
        json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."})
    );
    let mut cfg = config();
    cfg.seed.partner_center = PartnerCenterSettings {
        customers_rate_limit: 1,
        ..PartnerCenterSettings::default()
    };
    let emu = spawn_with(cfg).await;
    let token = emu.app_token(ids::PARTNER_TENANT, ids::CPV_APP, PC).await;
    assert_eq!(emu.get(&emu.pc("/customers"), &token).await.status, 200);
    let r = emu.get(&emu.pc("/customers"), &token).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
}
