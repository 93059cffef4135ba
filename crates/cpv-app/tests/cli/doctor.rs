//! `cpv-app doctor`'s `customers.application_permissions`: the application permissions the app
//! holds in each customer tenant of a partner (the `roles` of its app-only token there),
//! compared with `[customers] application_permissions`.

use crate::helpers::{
    CONTOSO, FABRIKAM, LITWARE, LITWARE_CUSTOMERS, NORTHWIND, Output, TAILSPIN, TestApp, spawn,
};

const ID: &str = "customers.application_permissions";

/// The delegated permissions that let `consent grant` add application permissions.
const ASSIGNER: &str = "graph:User.Read.All,AppRoleAssignment.ReadWrite.All,Application.Read.All";

/// Configures the permissions the app holds in customer tenants.
fn configure(app: &TestApp, delegated: &str, application: &str) {
    let mut text = std::fs::read_to_string(&app.config_file).unwrap();
    text.push_str(&format!(
        "[customers]\ndelegated_permissions = [\"{delegated}\"]\napplication_permissions = [\"{application}\"]\n"
    ));
    std::fs::write(&app.config_file, text).unwrap();
}

/// The `customers.application_permissions` check of a JSON doctor report: (status, detail, fix).
fn permissions_check(out: &Output) -> (String, String, String) {
    let checks = out.json()["checks"].as_array().unwrap().clone();
    let found: Vec<_> = checks.iter().filter(|c| c["id"] == ID).collect();
    assert_eq!(found.len(), 1, "{}", out.stdout);
    let c = found[0];
    (
        c["status"].as_str().unwrap().to_owned(),
        c["detail"].as_str().unwrap().to_owned(),
        c["fix"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn every_customer_with_exactly_the_configured_roles_passes_and_one_with_more_fails() {
    let app = spawn().await;
    configure(&app, ASSIGNER, "graph:User.Read.All");
    // `consent grant` with no permission flags grants the configured ones.
    let granted = app
        .run(&[
            "--partner",
            LITWARE,
            "--output",
            "json",
            "consent",
            "grant",
            "--all-customers",
        ])
        .await;
    granted.assert_code(0);
    assert_eq!(granted.results().len(), 3, "{}", granted.stdout);

    let graph_calls = |app: &TestApp| -> u64 {
        app.emu
            .counters()
            .iter()
            .filter(|(k, _)| k.starts_with("graph."))
            .map(|(_, n)| n)
            .sum()
    };
    let (tokens, listings, graph) = (
        app.emu.counter("entra.token.client_credentials"),
        app.emu.counter("partnercenter.customers.list"),
        graph_calls(&app),
    );
    let out = app
        .run(&["--partner", LITWARE, "--output", "json", "doctor"])
        .await;
    let (status, detail, _) = permissions_check(&out);
    assert_eq!(status, "pass", "{detail}");
    assert_eq!(detail, "3 customers: 3 as configured (graph:User.Read.All)");
    // One app-only token per customer (its `roles`), one customer listing (the other listing
    // is token.partner_center_mfa's `size=1` probe); no Graph call.
    assert_eq!(
        app.emu.counter("entra.token.client_credentials") - tokens,
        3
    );
    assert_eq!(
        app.emu.counter("partnercenter.customers.list") - listings,
        2
    );
    assert_eq!(graph_calls(&app), graph);

    // One customer is given a role beyond the configured set: least privilege fails, naming it.
    let second = LITWARE_CUSTOMERS[1];
    app.run(&[
        "--partner",
        LITWARE,
        "consent",
        "grant",
        "--customer",
        second,
        "--delegated",
        ASSIGNER,
        "--application",
        "graph:User.Read.All,Directory.Read.All",
    ])
    .await
    .assert_code(0);
    let out = app
        .run(&["--partner", LITWARE, "--output", "json", "doctor"])
        .await;
    out.assert_code(1);
    let (status, detail, fix) = permissions_check(&out);
    assert_eq!(status, "fail", "{detail}");
    assert_eq!(
        detail,
        format!(
            "3 customers: 2 as configured (graph:User.Read.All), 1 with application permissions beyond the configured ones — Litware customer 2 ({second}): also holds Directory.Read.All"
        )
    );
    assert!(
        fix.contains("Enterprise applications") && fix.contains("--reset"),
        "{fix}"
    );

    // A customer whose app-only token cannot be had (other than "not consented"): cannot read.
    let third = LITWARE_CUSTOMERS[2];
    app.emu
        .inject_fault(emulator::Fault::entra_error(700_027).for_tenant(third));
    let out = app
        .run(&[
            "--partner",
            LITWARE,
            "--output",
            "json",
            "doctor",
            "--customer",
            third,
        ])
        .await;
    let (status, detail, _) = permissions_check(&out);
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.starts_with(&format!(
            "1 customer: 0 as configured (graph:User.Read.All), 1 that could not be read — Litware customer 3 ({third}): cannot read: "
        )),
        "{detail}"
    );
}

#[tokio::test]
async fn a_customer_missing_a_role_or_the_consent_warns_and_names_it() {
    let app = spawn().await;
    // Nothing configured, nothing consented: no application permission anywhere, as expected.
    let out = app
        .run(&["--partner", CONTOSO, "--output", "json", "doctor"])
        .await;
    let (status, detail, _) = permissions_check(&out);
    assert_eq!(status, "pass", "{detail}");
    assert!(
        detail.starts_with("3 customers: 0 as configured (none), 3 where the app is not consented"),
        "{detail}"
    );

    configure(&app, ASSIGNER, "graph:User.Read.All");
    let grant = |customer: &'static str, delegated_only: bool| {
        let mut args = vec![
            "--partner",
            CONTOSO,
            "consent",
            "grant",
            "--customer",
            customer,
        ];
        if delegated_only {
            args.extend(["--delegated", "graph:User.Read.All"]);
        }
        args
    };
    app.run(&grant(FABRIKAM, false)).await.assert_code(0);
    app.run(&grant(NORTHWIND, true)).await.assert_code(0);

    let out = app
        .run(&["--partner", CONTOSO, "--output", "json", "doctor"])
        .await;
    let (status, detail, fix) = permissions_check(&out);
    assert_eq!(status, "warn", "{detail}");
    assert!(
        detail.starts_with(
            "3 customers: 1 as configured (graph:User.Read.All), 1 missing application permissions, 1 where the app is not consented — "
        ),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("({NORTHWIND}): missing User.Read.All")),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("({TAILSPIN}): not consented")),
        "{detail}"
    );
    assert!(
        fix.contains(&format!(
            "cpv-app consent grant --partner {CONTOSO} --customer TENANT"
        )),
        "{fix}"
    );

    // `--customer`: only those named (of the partner's customers).
    let out = app
        .run(&[
            "--partner",
            CONTOSO,
            "--output",
            "json",
            "doctor",
            "--customer",
            FABRIKAM,
        ])
        .await;
    let (status, detail, _) = permissions_check(&out);
    assert_eq!(status, "pass", "{detail}");
    assert_eq!(detail, "1 customer: 1 as configured (graph:User.Read.All)");
}

#[test]
fn doctor_help_names_the_customer_check() {
    use clap::Parser as _;
    let help = cpv_app::Cli::try_parse_from(["cpv-app", "doctor", "--help"])
        .unwrap_err()
        .to_string();
    assert!(help.contains("customers.application_permissions"), "{help}");
}
