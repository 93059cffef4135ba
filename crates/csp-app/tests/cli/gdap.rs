use std::time::Duration;

use emulator::partner_data::ids::{
    ADMIN_AGENTS_GROUP, GDAP_FABRIKAM, GDAP_NORTHWIND, HELPDESK_GROUP, SECURITY_GROUP,
};
use emulator::seed::UserSeed;
use emulator::{EmulatorConfig, Seed};
use serde_json::Value;

use crate::helpers::{ADMIN, FABRIKAM, NORTHWIND, TAILSPIN, TestApp, spawn, spawn_with};

const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";
const DAY: Duration = Duration::from_secs(86_400);

fn unix(rfc3339: &Value) -> i64 {
    time::OffsetDateTime::parse(
        rfc3339.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp()
}

impl TestApp {
    async fn relationship(&self, id: &str) -> Value {
        let show = self.run(&["-o", "json", "gdap", "show", id]).await;
        show.assert_code(0);
        show.json()
    }

    async fn expiring_ids(&self, within: &str) -> Vec<String> {
        let out = self
            .run(&["-o", "json", "gdap", "expiring", "--within", within])
            .await;
        out.assert_code(0);
        out.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdap_list_and_show_read_the_partners_relationships() {
    let app = spawn().await;
    let list = app
        .run(&["-o", "json", "gdap", "list", "--status", "active"])
        .await;
    list.assert_code(0);
    let ids: Vec<String> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.contains(&GDAP_FABRIKAM.to_owned()) && ids.contains(&GDAP_NORTHWIND.to_owned()),
        "{ids:?}"
    );

    let show = app.run(&["gdap", "show", GDAP_FABRIKAM]).await;
    show.assert_code(0);
    assert!(show.stdout.contains("active"), "{}", show.stdout);
    assert!(show.stdout.contains(DIRECTORY_READERS), "{}", show.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdap_create_checks_the_rules_before_calling_graph() {
    let app = spawn().await;
    let name = "x".repeat(51);
    let out = app
        .run(&[
            "gdap",
            "create",
            "--display-name",
            &name,
            "--duration",
            "P3Y",
            "--role",
            DIRECTORY_READERS,
            "--auto-extend",
            "P90D",
        ])
        .await;
    out.assert_code(1);
    assert_eq!(
        out.stderr,
        "error: the relationship breaks Graph's creation rules:\n  - the display name has 51 characters; Graph accepts at most 50\n  - the duration P3Y is outside P1D..P2Y (1 to 730 days)\n  - the auto-extend duration \"P90D\" must be one of PT0S, P0D or P180D\n"
    );
    assert_eq!(app.emu.counter("graph.gdap.create"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdap_create_then_lock_for_approval_prints_the_approval_link() {
    let app = spawn().await;
    let out = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "create",
            "--display-name",
            "Tailspin readers",
            "--customer",
            TAILSPIN,
            "--duration",
            "P30D",
            "--role",
            DIRECTORY_READERS,
        ])
        .await;
    out.assert_code(0);
    let created = out.json();
    assert_eq!(created["status"], "created");
    let id = created["id"].as_str().unwrap().to_owned();

    let again = app
        .run(&[
            "gdap",
            "create",
            "--display-name",
            "tailspin READERS",
            "--role",
            DIRECTORY_READERS,
        ])
        .await;
    again.assert_code(1);
    assert!(
        again.stderr.contains("display names must be unique"),
        "{}",
        again.stderr
    );

    let lock = app.run(&["gdap", "lock-for-approval", &id]).await;
    lock.assert_code(0);
    assert!(
        lock.stdout.contains(&format!("https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/{id}")),
        "{}",
        lock.stdout
    );
    let show = app.run(&["-o", "json", "gdap", "show", &id]).await;
    assert_eq!(show.json()["status"], "approvalPending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdap_lifecycle_create_lock_approve_assign_check_extend_expire_terminate() {
    let app = spawn().await;
    // create → lock → approve (the customer's Global Administrator)
    let out = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "create",
            "--display-name",
            "Tailspin helpdesk",
            "--customer",
            TAILSPIN,
            "--duration",
            "P30D",
            "--role",
            DIRECTORY_READERS,
            "--role",
            "fe930be7-5e62-47db-91af-98c3a49a38b1",
        ])
        .await;
    out.assert_code(0);
    let id = out.json()["id"].as_str().unwrap().to_owned();
    app.run(&["gdap", "lock-for-approval", &id])
        .await
        .assert_code(0);
    app.emu.approve_gdap_relationship(&id, None).unwrap();
    let approved = app.relationship(&id).await;
    assert_eq!(approved["status"], "active");
    assert_eq!(approved["autoExtendDuration"], "PT0S");
    let end = unix(&approved["endDateTime"]);

    // check before any assignment: why, and what to do
    let check = app.run(&["gdap", "check", "--customer", TAILSPIN]).await;
    check.assert_code(1);
    assert_eq!(
        check.stderr,
        format!(
            "error: the active relationship with customer {TAILSPIN} has no access assignment: no security group gets its roles\nremedy: assign a security group that {ADMIN} is a member of: `csp-app gdap assign --relationship {id} --group GROUP_ID --role ROLE`\n"
        )
    );

    // assign a group the account is not in: still no role, and the check says so
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
    let check = app.run(&["gdap", "check", "--customer", TAILSPIN]).await;
    check.assert_code(1);
    assert_eq!(
        check.stderr,
        format!(
            "error: the automation account {ADMIN} is not in any security group assigned on the active relationship with customer {TAILSPIN} (assigned groups: {SECURITY_GROUP})\nremedy: add {ADMIN} to one of those groups in the partner tenant (Entra admin center > Groups > Members), or assign a group it is in with `csp-app gdap assign`\n"
        )
    );
    assert!(check.stdout.contains("Roles: none"), "{}", check.stdout);
    let users = app.run(&["users", "list", "--customer", TAILSPIN]).await;
    users.assert_code(1);

    // assign the account's group, by role names; again is idempotent; other roles are refused
    let assign = [
        "-o",
        "json",
        "gdap",
        "assign",
        "--relationship",
        &id,
        "--group",
        HELPDESK_GROUP,
        "--role",
        "Directory Readers,User Administrator",
    ];
    let first = app.run(&assign).await;
    first.assert_code(0);
    assert_eq!(first.json()["result"], "assigned");
    assert_eq!(
        first.json()["roles"],
        serde_json::json!(["Directory Readers", "User Administrator"])
    );
    let again = app.run(&assign).await;
    again.assert_code(0);
    assert_eq!(again.json()["result"], "already assigned");
    assert_eq!(again.json()["assignmentId"], first.json()["assignmentId"]);
    let other = app
        .run(&[
            "gdap",
            "assign",
            "--relationship",
            &id,
            "--group",
            HELPDESK_GROUP,
            "--role",
            "Directory Readers",
        ])
        .await;
    other.assert_code(1);
    assert!(
        other.stderr.contains("already has access assignment"),
        "{}",
        other.stderr
    );

    // The app itself must be consented in the customer tenant before any token there (65001).
    app.run(&[
        "consent",
        "grant",
        "--customer",
        TAILSPIN,
        "--delegated",
        "graph:User.Read.All",
    ])
    .await
    .assert_code(0);

    // check: the roles, through which relationship and group; and they work
    let check = app
        .run(&["-o", "json", "gdap", "check", "--customer", TAILSPIN])
        .await;
    check.assert_code(0);
    let report = check.json();
    assert_eq!(report["account"], ADMIN);
    assert_eq!(
        report["roles"],
        serde_json::json!(["Directory Readers", "User Administrator"])
    );
    let through: Vec<(&str, bool)> = report["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["groupId"].as_str().unwrap(),
                g["isMember"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(through, [(SECURITY_GROUP, false), (HELPDESK_GROUP, true)]);
    assert!(report["problem"].is_null());
    app.run(&["users", "list", "--customer", TAILSPIN])
        .await
        .assert_code(0);

    // expiring: 30 days left without auto-extension; extend turns that off
    assert!(app.expiring_ids("31d").await.contains(&id));
    assert!(!app.expiring_ids("29d").await.contains(&id));
    let extend = app
        .run(&["-o", "json", "gdap", "extend", "--relationship", &id])
        .await;
    extend.assert_code(0);
    assert_eq!(extend.json()["autoExtendDuration"], "P180D");
    assert!(!app.expiring_ids("31d").await.contains(&id));

    // the end date passes: extended by 180 days, still active
    app.emu.advance_clock(31 * DAY);
    let extended = app.relationship(&id).await;
    assert_eq!(extended["status"], "active");
    assert_eq!(unix(&extended["endDateTime"]), end + 180 * 86_400);

    // without auto-extension it expires (steps shorter than the refresh token's 90 days)
    let off = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "extend",
            "--relationship",
            &id,
            "--off",
        ])
        .await;
    off.assert_code(0);
    assert_eq!(off.json()["autoExtendDuration"], "PT0S");
    for _ in 0..3 {
        app.emu.advance_clock(60 * DAY);
        app.relationship(&id).await;
    }
    assert_eq!(app.relationship(&id).await["status"], "expired");
    let check = app.run(&["gdap", "check", "--customer", TAILSPIN]).await;
    check.assert_code(1);
    assert_eq!(
        check.stderr,
        format!(
            "error: no GDAP relationship with customer {TAILSPIN} is active (Tailspin helpdesk is expired)\nremedy: have the customer approve a relationship waiting for approval; an expired or terminated one cannot come back: create a new relationship\n"
        )
    );

    // terminate: Northwind's relationship (still active) ends, and its roles with it
    let before = app
        .run(&["-o", "json", "gdap", "check", "--customer", NORTHWIND])
        .await;
    before.assert_code(0);
    assert_eq!(before.json()["grants"][0]["groupId"], ADMIN_AGENTS_GROUP);
    let terminate = app
        .run(&["gdap", "terminate", "--relationship", GDAP_NORTHWIND])
        .await;
    terminate.assert_code(0);
    assert!(
        terminate.stdout.contains("termination requested"),
        "{}",
        terminate.stdout
    );
    assert_eq!(
        app.relationship(GDAP_NORTHWIND).await["status"],
        "terminated"
    );
    let after = app.run(&["gdap", "check", "--customer", NORTHWIND]).await;
    after.assert_code(1);
    assert!(after.stderr.contains("is terminated"), "{}", after.stderr);
    let fabrikam = app
        .run(&["-o", "json", "gdap", "check", "--customer", FABRIKAM])
        .await;
    fabrikam.assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdap_check_explains_a_customer_without_any_relationship() {
    let app = spawn().await;
    let check = app
        .run(&["-o", "json", "gdap", "check", "--customer", TAILSPIN])
        .await;
    check.assert_code(1);
    assert_eq!(
        check.json()["problem"],
        format!("the partner has no GDAP relationship with customer {TAILSPIN}")
    );
}

const WOODGROVE: &str = "20000000-0000-4000-8000-0000000000aa";

/// The default seed plus Woodgrove: a tenant the partner reaches only through GDAP.
fn seed_with_gdap_only_customer() -> Seed {
    let mut seed = Seed::default();
    seed.tenants.push(emulator::seed::TenantSeed {
        id: WOODGROVE.into(),
        domain: "woodgrove-demo.onmicrosoft.com".into(),
        display_name: "Woodgrove (GDAP only)".into(),
        kind: emulator::seed::TenantKind::Customer,
        delegated_admin: Vec::new(),
    });
    seed.users.push(UserSeed {
        id: "3a0000aa-0000-4000-8000-000000000001".into(),
        tenant: WOODGROVE.into(),
        upn: "admin@woodgrove-demo.onmicrosoft.com".into(),
        display_name: "Woodgrove Admin".into(),
        password: "Woodgrove-Passw0rd!".into(),
        mfa_code: None,
        roles: vec!["Global Administrator".into()],
        admin_agent: false,
    });
    seed.gdap_only_customers.push(WOODGROVE.into());
    seed.gdap_relationships
        .push(emulator::partner_data::GdapSeed {
            id: "600000aa-0000-4000-8000-000000000001-200000aa-0000-4000-8000-000000000001".into(),
            partner: None,
            customer: WOODGROVE.into(),
            display_name: "Contoso - Woodgrove".into(),
            status: "active".into(),
            duration: "P730D".into(),
            auto_extend_duration: "P180D".into(),
            roles: vec![DIRECTORY_READERS.into()],
            access_assignments: vec![emulator::partner_data::AccessAssignmentSeed {
                id: "610000aa-0000-4000-8000-000000000001".into(),
                group: ADMIN_AGENTS_GROUP.into(),
                roles: vec![DIRECTORY_READERS.into()],
            }],
        });
    // The customer's admin consented the CSP app when the relationship was set up (Partner
    // Center's consent API serves its reseller customers only).
    seed.service_principals
        .push(emulator::seed::ServicePrincipalSeed {
            tenant: WOODGROVE.into(),
            app_id: emulator::seed::ids::CSP_APP.into(),
            object_id: "500000aa-0000-4000-8000-000000000001".into(),
            app_roles: Vec::new(),
        });
    seed.consents.push(emulator::seed::ConsentSeed {
        tenant: WOODGROVE.into(),
        app_id: emulator::seed::ids::CSP_APP.into(),
        grants: vec![emulator::seed::PermissionSeed {
            resource: "00000003-0000-0000-c000-000000000000".into(),
            scopes: vec!["User.Read.All".into()],
        }],
    });
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_come_from_partner_center_and_gdap_merged_by_tenant() {
    let app = spawn_with(EmulatorConfig {
        seed: seed_with_gdap_only_customer(),
        ..EmulatorConfig::default()
    })
    .await;
    app.consent(ADMIN).await;
    let list = app.run(&["-o", "json", "customers", "list"]).await;
    list.assert_code(0);
    let sources: Vec<(String, String)> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let source = |id: &str| {
        sources
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, s)| s.as_str())
    };
    assert_eq!(source(FABRIKAM), Some("partnerCenter+gdap"));
    assert_eq!(source(TAILSPIN), Some("partnerCenter"));
    assert_eq!(source(WOODGROVE), Some("gdap"), "{sources:?}");

    let table = app.run(&["customers", "list", "--name", "Wood"]).await;
    table.assert_code(0);
    assert!(
        table.stdout.contains("Woodgrove (GDAP only)") && table.stdout.contains(" gdap"),
        "{}",
        table.stdout
    );

    let users = app
        .run(&["-o", "json", "users", "list", "--all-customers"])
        .await;
    assert!(
        users
            .stdout
            .contains("admin@woodgrove-demo.onmicrosoft.com"),
        "stdout:\n{}\nstderr:\n{}",
        users.stdout,
        users.stderr
    );
}
