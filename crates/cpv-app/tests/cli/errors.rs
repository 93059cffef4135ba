//! Refusals and throttling: another partner's customer, usage errors, Partner Center's
//! application-consent rate limit.

use clap::Parser as _;

use crate::helpers::{
    CONTOSO, FABRIKAM, LITWARE, LITWARE_CUSTOMERS, spawn, spawn_with, two_partners,
};

#[tokio::test]
async fn a_customer_of_another_partner_is_refused() {
    let app = spawn().await;
    let other = LITWARE_CUSTOMERS[2];
    let granted = app
        .run(&[
            "consent",
            "grant",
            "--partner",
            CONTOSO,
            "--customer",
            other,
            "--grant",
            "graph:User.Read.All",
        ])
        .await;
    granted.assert_code(1);
    let line = granted.stdout.lines().nth(1).unwrap();
    assert!(line.contains("failed"), "{line}");
    assert!(
        line.contains(&format!(
            "customer {other} is not a customer of partner {CONTOSO} (Partner Center answered HTTP 403 (code 20002)"
        )) && line.ends_with("check the customer ID, or name the partner it belongs to with --partner"),
        "{line}"
    );
    assert_eq!(
        app.emu.counter("partnercenter.applicationconsents.create"),
        1
    );

    let verify = app
        .run(&[
            "consent",
            "verify",
            "--partner",
            CONTOSO,
            "--customer",
            other,
            "--output",
            "json",
        ])
        .await;
    verify.assert_code(1);
    assert!(
        verify.results()[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "customer {other} is not a customer of partner {CONTOSO}"
            ))
    );
    let users = app
        .run(&["users", "list", "--partner", CONTOSO, "--customer", other])
        .await;
    users.assert_code(1);
    assert!(
        users.stderr.contains("is not a customer of partner"),
        "{}",
        users.stderr
    );
}

#[tokio::test]
async fn customer_ids_need_exactly_one_partner() {
    let app = spawn().await;
    let out = app
        .run(&[
            "consent",
            "grant",
            "--customer",
            FABRIKAM,
            "--grant",
            "graph:User.Read.All",
        ])
        .await;
    out.assert_code(2);
    assert_eq!(
        out.stderr,
        "error: --customer needs exactly one partner, and 2 are selected: name it with --partner\n"
    );
    let bad = cpv_app::Cli::try_parse_from([
        "cpv-app",
        "consent",
        "grant",
        "--all-customers",
        "--grant",
        "arm:x",
    ])
    .unwrap_err();
    assert!(
        bad.to_string().contains(
            "unknown resource `arm`: use `graph` or the resource application's ID (a GUID)"
        ),
        "{bad}"
    );
    let help = cpv_app::Cli::try_parse_from(["cpv-app", "--help"]).unwrap_err();
    assert!(help.to_string().contains(
        "3  a partner must consent again (refresh token expired or revoked, or MFA missing)"
    ));
}

#[tokio::test]
async fn throttled_consents_wait_for_retry_after_and_all_succeed() {
    let mut config = two_partners();
    // 2 consent requests per second per application, far below what the client is told to send.
    config.seed.partner_center.consent_rate_limit = 2;
    let app = spawn_with(config).await;
    app.consent(crate::helpers::CONTOSO_ADMIN).await;
    app.consent(crate::helpers::LITWARE_ADMIN).await;
    let granted = app
        .run(&[
            "consent",
            "grant",
            "--all-customers",
            "--grant",
            "graph:User.Read.All",
            "--consent-rate",
            "50",
            "--output",
            "json",
        ])
        .await;
    granted.assert_code(0);
    let doc = granted.json();
    assert_eq!(doc["summary"]["outcomes"]["granted"], 6);
    let throttled = doc["summary"]["throttled"].as_u64().unwrap();
    assert!(throttled > 0, "{doc}");
    // Each 429 was waited out and retried: every consent was created exactly once.
    assert_eq!(
        app.emu.counter("partnercenter.applicationconsents.create"),
        6 + throttled
    );
    assert!(
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["partner"] == CONTOSO || r["partner"] == LITWARE)
    );
}
