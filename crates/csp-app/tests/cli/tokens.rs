use base64::Engine as _;
use emulator::EmulatorConfig;
use emulator::partner_data::{ARM_APP_ID, EXCHANGE_APP_ID};
use emulator::seed::{PermissionSeed, ids};

use crate::helpers::{ADMIN, FABRIKAM, spawn_with};

/// The claims of a JWT, unverified (the emulator signed it; only its content is checked).
fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partners_token_is_redeemed_at_a_customer_for_exchange_online_and_arm() {
    // The CSP app asks for Exchange Online and Azure Resource Manager too; the admin consents.
    let mut config = EmulatorConfig::default();
    let app = config
        .seed
        .apps
        .iter_mut()
        .find(|a| a.app_id == ids::CSP_APP)
        .unwrap();
    app.required_delegated.extend([
        PermissionSeed {
            resource: EXCHANGE_APP_ID.into(),
            scopes: vec!["Exchange.Manage".into()],
        },
        PermissionSeed {
            resource: ARM_APP_ID.into(),
            scopes: vec!["user_impersonation".into()],
        },
    ]);
    let app = spawn_with(config).await;
    app.consent(ADMIN).await;

    // The partner's consent does not reach its customers: at Fabrikam's authority the app holds
    // only what was consented there (Graph), until `consent grant` adds the rest.
    let refused = app
        .run(&["token", "--resource", "exchange", "--customer", FABRIKAM])
        .await;
    refused.assert_code(1);
    assert!(
        refused
            .stderr
            .contains("the application is not consented in customer tenant"),
        "{}",
        refused.stderr
    );
    let exchange = format!("{EXCHANGE_APP_ID}:Exchange.Manage");
    let arm = format!("{ARM_APP_ID}:user_impersonation");
    app.run(&[
        "consent",
        "grant",
        "--customer",
        FABRIKAM,
        "--delegated",
        &exchange,
        "--delegated",
        &arm,
    ])
    .await
    .assert_code(0);

    for (resource, audience) in [
        ("exchange", "https://outlook.office365.com"),
        (
            "https://outlook.office365.com",
            "https://outlook.office365.com",
        ),
        ("arm", "https://management.azure.com"),
        (
            "https://management.azure.com/.default",
            "https://management.azure.com",
        ),
    ] {
        let out = app
            .run(&[
                "-o",
                "json",
                "token",
                "--resource",
                resource,
                "--customer",
                FABRIKAM,
            ])
            .await;
        out.assert_code(0);
        let json = out.json();
        assert_eq!(json["tenant"], FABRIKAM);
        assert_eq!(json["resourceUri"], audience);
        let claims = claims(json["accessToken"].as_str().unwrap());
        assert_eq!(
            claims["aud"].as_str().unwrap().trim_end_matches('/'),
            audience,
            "{resource}: {claims}"
        );
        assert_eq!(
            claims["tid"], FABRIKAM,
            "issued by the customer's authority"
        );
    }
}

#[test]
fn token_refuses_a_resource_that_is_not_an_https_app_id_uri() {
    for (value, reason) in [
        (
            "http://outlook.office365.com",
            "only HTTPS resources are accepted",
        ),
        (
            "https://management.azure.com/?api-version=2022-12-01",
            "a resource has no query or fragment",
        ),
        ("outlook", "not a known name or a URL"),
    ] {
        let err = <csp_app::Cli as clap::Parser>::try_parse_from([
            "csp-app",
            "token",
            "--resource",
            value,
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains(reason), "{value}: {err}");
    }
}
