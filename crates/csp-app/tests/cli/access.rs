//! `access check`: each cause through the emulator.

use emulator::partner_data::ids::{HELPDESK_GROUP, SECURITY_GROUP};
use emulator::{Fault, Service};
use serde_json::Value;

use crate::helpers::{FABRIKAM, NORTHWIND, TAILSPIN, TestApp, spawn};
use crate::onboard::helpdesk_template;

impl TestApp {
    async fn access(&self, customer: &str) -> (u8, Value, String) {
        let out = self
            .run(&["-o", "json", "access", "check", "--customer", customer])
            .await;
        let code = format!("{:?}", out.code);
        let code = code
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap_or(255);
        (code, out.json()[0].clone(), out.stderr)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_works_where_gdap_and_consent_are_in_place() {
    let app = spawn().await;
    let (_, fabrikam, err) = app.access(FABRIKAM).await;
    assert_eq!(fabrikam["cause"], "works", "{fabrikam} {err}");
    assert_eq!(fabrikam["works"], true);
    let both = app
        .run(&[
            "-o",
            "json",
            "access",
            "check",
            "--customer",
            FABRIKAM,
            "--customer",
            TAILSPIN,
        ])
        .await;
    both.assert_code(4);
    assert!(both.stderr.contains("remedy:"), "{}", both.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cause_is_named() {
    let app = spawn().await;
    app.append_config(&helpdesk_template());
    // No relationship.
    let (code, tailspin, _) = app.access(TAILSPIN).await;
    assert_eq!(
        (code, tailspin["cause"].as_str()),
        (1, Some("noRelationship"))
    );
    // Not active: created and locked, awaiting approval.
    app.onboard(&["--customer", TAILSPIN, "--template", "helpdesk"])
        .await
        .assert_code(0);
    let (_, tailspin, _) = app.access(TAILSPIN).await;
    assert_eq!(tailspin["cause"], "relationshipNotActive", "{tailspin}");
    assert!(tailspin["remedy"].as_str().unwrap().contains("approve"));
    // Active, but no assignment yet (the assignment step has not run).
    let live = app.live_relationships(TAILSPIN).await;
    let id = live[0]["id"].as_str().unwrap().to_owned();
    app.emu.approve_gdap_relationship(&id, None).unwrap();
    let (_, tailspin, _) = app.access(TAILSPIN).await;
    assert_eq!(tailspin["cause"], "assignmentPending", "{tailspin}");
    // A group the account is not in.
    app.run(&[
        "gdap",
        "assign",
        "--relationship",
        &id,
        "--group",
        SECURITY_GROUP,
        "--role",
        "Directory Readers",
    ])
    .await
    .assert_code(0);
    let (_, tailspin, _) = app.access(TAILSPIN).await;
    assert_eq!(tailspin["cause"], "userNotInGroup", "{tailspin}");
    // The account's group, but the app is not consented in Tailspin's tenant yet.
    app.run(&[
        "gdap",
        "assign",
        "--relationship",
        &id,
        "--group",
        HELPDESK_GROUP,
        "--role",
        "Directory Readers",
    ])
    .await
    .assert_code(0);
    let (_, tailspin, _) = app.access(TAILSPIN).await;
    assert_eq!(tailspin["cause"], "appNotConsented", "{tailspin}");
    // Onboarding again consents it: access works.
    let done = app
        .onboard(&["--customer", TAILSPIN, "--template", "helpdesk"])
        .await;
    done.assert_code(0);
    let (code, tailspin, _) = app.access(TAILSPIN).await;
    assert_eq!(
        (code, tailspin["cause"].as_str()),
        (0, Some("works")),
        "{tailspin}"
    );
    // Conditional Access at the customer's authority.
    app.emu
        .inject_fault(Fault::entra_error(53003).for_tenant(FABRIKAM));
    let (_, fabrikam, _) = app.access(FABRIKAM).await;
    assert_eq!(fabrikam["cause"], "conditionalAccess", "{fabrikam}");
    app.emu
        .inject_fault(Fault::entra_error(50177).for_tenant(NORTHWIND));
    let (_, northwind, _) = app.access(NORTHWIND).await;
    assert_eq!(northwind["cause"], "conditionalAccess", "{northwind}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_customer_is_named_throttled() {
    let app = spawn().await;
    app.emu.inject_fault(
        Fault::status(Service::Graph, 429)
            .retry_after(0)
            .on_route("/users")
            .for_tenant(FABRIKAM),
    );
    let (_, fabrikam, err) = app.access(FABRIKAM).await;
    assert_eq!(fabrikam["cause"], "throttled", "{fabrikam} {err}");
}
