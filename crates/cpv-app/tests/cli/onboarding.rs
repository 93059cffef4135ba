//! Grant → verify → list users; idempotent re-grant; reset with other grants; remove;
//! application permissions through Graph.

use crate::helpers::{
    CONTOSO, FABRIKAM, LITWARE, LITWARE_CUSTOMERS, NORTHWIND, TAILSPIN, outcomes, spawn,
};

fn s(x: &str) -> String {
    x.to_owned()
}

#[tokio::test]
async fn grant_to_all_customers_of_two_partners_then_verify_then_list_users() {
    let app = spawn().await;
    let granted = app
        .run(&[
            "consent",
            "grant",
            "--all-customers",
            "--grant",
            "graph:User.Read.All,Directory.Read.All",
            "--output",
            "json",
        ])
        .await;
    granted.assert_code(0);
    let mut expected: Vec<(String, String, String)> = [FABRIKAM, NORTHWIND, TAILSPIN]
        .iter()
        .map(|c| (s(CONTOSO), s(c), s("granted")))
        .chain(
            LITWARE_CUSTOMERS
                .iter()
                .map(|c| (s(LITWARE), s(c), s("granted"))),
        )
        .collect();
    expected.sort();
    assert_eq!(outcomes(&granted.results()), expected);
    let summary = &granted.json()["summary"];
    assert_eq!(summary["outcomes"]["granted"], 6);
    assert_eq!(
        app.emu.counter("partnercenter.applicationconsents.create"),
        6
    );

    // Partner Center's consent grants the delegated permissions only: no app role.
    let verified = app
        .run(&[
            "consent",
            "verify",
            "--all-customers",
            "--delegated",
            "graph:User.Read.All,Directory.Read.All",
            "--output",
            "json",
        ])
        .await;
    // Tailspin: consented, but the partner has no delegated access there to read it back.
    verified.assert_code(4);
    let results = verified.results();
    assert_eq!(results.len(), 6);
    for r in &results {
        if r["customer"] == TAILSPIN {
            assert_eq!(r["outcome"], "failed", "{r}");
            assert_eq!(r["remedy"], "gdap-access", "{r}");
            continue;
        }
        assert_eq!(r["outcome"], "verified", "{r}");
        assert_eq!(
            r["detail"], "delegated: Directory.Read.All,User.Read.All; application: none",
            "{r}"
        );
    }

    let users = app
        .run(&[
            "users",
            "list",
            "--partner",
            LITWARE,
            "--customer",
            LITWARE_CUSTOMERS[1],
            "--output",
            "json",
        ])
        .await;
    users.assert_code(0);
    let users = users.json();
    let upns: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(upns, ["admin@litware-customer2.onmicrosoft.com"]);

    let table = app
        .run(&[
            "users",
            "list",
            "--partner",
            CONTOSO,
            "--customer",
            FABRIKAM,
        ])
        .await;
    table.assert_code(0);
    let mut lines = table.stdout.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("ID                                    DISPLAY NAME"),
        "{}",
        table.stdout
    );
    // The same columns as csp-app's `users list` (one definition: cli_kit::columns::USERS).
    let header: Vec<&str> = table
        .stdout
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    assert_eq!(header, ["ID", "DISPLAY NAME", "USER PRINCIPAL NAME"]);
    assert!(table.stdout.contains("admin@fabrikam-demo.onmicrosoft.com"));
    assert!(
        table
            .stdout
            .contains("finance@fabrikam-demo.onmicrosoft.com")
    );
}

#[tokio::test]
async fn granting_the_same_permissions_again_reports_already_granted() {
    let app = spawn().await;
    let args = [
        "consent",
        "grant",
        "--partner",
        CONTOSO,
        "--customer",
        FABRIKAM,
        "--grant",
        "graph:User.Read.All",
        "--output",
        "json",
    ];
    app.run(&args).await.assert_code(0);
    let again = app.run(&args).await;
    again.assert_code(0);
    let results = again.results();
    assert_eq!(
        outcomes(&results),
        [(s(CONTOSO), s(FABRIKAM), s("already-granted"))]
    );
    assert_eq!(
        results[0]["detail"],
        "delegated graph:User.Read.All already granted"
    );
    // The consent was not touched: no delete.
    assert_eq!(
        app.emu.counter("partnercenter.applicationconsents.delete"),
        0
    );
}

#[tokio::test]
async fn other_permissions_need_reset_which_deletes_and_grants_again() {
    let app = spawn().await;
    let grant = |extra: &'static [&'static str]| {
        let mut args = vec![
            "consent",
            "grant",
            "--partner",
            LITWARE,
            "--customer",
            LITWARE_CUSTOMERS[0],
            "--grant",
            "graph:Directory.Read.All,User.Read.All",
        ];
        args.extend_from_slice(extra);
        args
    };
    app.run(&[
        "consent",
        "grant",
        "--partner",
        LITWARE,
        "--customer",
        LITWARE_CUSTOMERS[0],
        "--grant",
        "graph:User.Read.All",
    ])
    .await
    .assert_code(0);

    let refused = app.run(&grant(&[])).await;
    refused.assert_code(1);
    assert!(
        refused.stdout.contains(
            "a consent with other delegated permissions exists (missing Directory.Read.All); re-run with --reset to delete it and grant graph:Directory.Read.All,User.Read.All"
        ),
        "{}",
        refused.stdout
    );

    let reset = app.run(&grant(&["--reset", "--output", "ndjson"])).await;
    reset.assert_code(0);
    let lines = reset.ndjson();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["outcome"], "reset");
    assert_eq!(
        lines[0]["detail"],
        "deleted and granted again: delegated graph:Directory.Read.All,User.Read.All"
    );
    assert_eq!(
        app.emu.counter("partnercenter.applicationconsents.delete"),
        1
    );

    let verified = app
        .run(&[
            "consent",
            "verify",
            "--partner",
            LITWARE,
            "--customer",
            LITWARE_CUSTOMERS[0],
            "--output",
            "json",
        ])
        .await;
    verified.assert_code(0);
    assert_eq!(
        verified.results()[0]["detail"],
        "delegated: Directory.Read.All,User.Read.All; application: none"
    );
}

#[tokio::test]
async fn remove_deletes_the_consent_and_the_app_only_token_stops_working() {
    let app = spawn().await;
    let on = |cmd: &'static str| {
        vec![
            "consent",
            cmd,
            "--partner",
            CONTOSO,
            "--customer",
            NORTHWIND,
            "--output",
            "json",
        ]
    };
    let mut grant = on("grant");
    grant.extend_from_slice(&["--grant", "graph:User.Read.All"]);
    app.run(&grant).await.assert_code(0);

    let removed = app.run(&on("remove")).await;
    removed.assert_code(0);
    assert_eq!(
        outcomes(&removed.results()),
        [(s(CONTOSO), s(NORTHWIND), s("removed"))]
    );
    let again = app.run(&on("remove")).await;
    again.assert_code(0);
    assert_eq!(again.results()[0]["outcome"], "absent");

    let verify = app.run(&on("verify")).await;
    verify.assert_code(1);
    let r = &verify.results()[0];
    assert_eq!(r["outcome"], "failed");
    assert_eq!(r["remedy"], "customer-consent");
    assert!(
        r["detail"].as_str().unwrap().starts_with(&format!(
            "the application is not consented in customer tenant {NORTHWIND}"
        )),
        "{r}"
    );
    let users = app
        .run(&[
            "users",
            "list",
            "--partner",
            CONTOSO,
            "--customer",
            NORTHWIND,
        ])
        .await;
    users.assert_code(1);
    assert!(users.stdout.is_empty());
    assert!(
        users
            .stderr
            .contains("the application is not consented in customer tenant"),
        "{}",
        users.stderr
    );
}

/// The delegated permissions that let `consent grant` add application permissions.
const ASSIGNER: &str = "graph:User.Read.All,AppRoleAssignment.ReadWrite.All,Application.Read.All";

#[tokio::test]
async fn application_permissions_are_added_through_graph_idempotently_and_reset_replaces_them() {
    let app = spawn().await;
    let grant = |customer: &'static str, application: &'static str, reset: bool| {
        let mut args = vec![
            "consent",
            "grant",
            "--partner",
            CONTOSO,
            "--customer",
            customer,
            "--delegated",
            ASSIGNER,
            "--application",
            application,
            "--output",
            "json",
        ];
        if reset {
            args.push("--reset");
        }
        args
    };
    let first = app
        .run(&grant(FABRIKAM, "graph:User.Read.All", false))
        .await;
    first.assert_code(0);
    let r = &first.results()[0];
    assert_eq!(r["outcome"], "granted", "{r}");
    assert_eq!(
        r["detail"],
        format!(
            "delegated {ASSIGNER_SORTED} granted; application permissions: added User.Read.All"
        )
    );
    let assigned = "graph.servicePrincipals.appRoleAssignedTo.create";
    assert_eq!(app.emu.counter(assigned), 1);

    // Again: nothing to do at either step.
    let again = app
        .run(&grant(FABRIKAM, "graph:User.Read.All", false))
        .await;
    again.assert_code(0);
    let r = &again.results()[0];
    assert_eq!(r["outcome"], "already-granted", "{r}");
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .ends_with("application permissions: already held User.Read.All"),
        "{r}"
    );
    assert_eq!(app.emu.counter(assigned), 1);

    // verify names what is missing, and reads with the app-only token what its roles allow.
    let verify = |application: &'static str| {
        vec![
            "consent",
            "verify",
            "--partner",
            CONTOSO,
            "--customer",
            FABRIKAM,
            "--application",
            application,
            "--output",
            "json",
        ]
    };
    let missing = app
        .run(&verify("graph:User.Read.All,Directory.Read.All"))
        .await;
    missing.assert_code(1);
    let r = &missing.results()[0];
    assert_eq!(r["remedy"], "customer-consent", "{r}");
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .starts_with("application Directory.Read.All missing"),
        "{r}"
    );
    let verified = app.run(&verify("graph:User.Read.All")).await;
    verified.assert_code(0);
    let detail = verified.results()[0]["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.ends_with("application: User.Read.All; an app-only Graph read succeeded"),
        "{detail}"
    );

    // Another application permission: the one held is reported, and --reset replaces it.
    let other = app
        .run(&grant(FABRIKAM, "graph:Directory.Read.All", false))
        .await;
    other.assert_code(1);
    let r = &other.results()[0];
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .contains("the application also holds Microsoft Graph role"),
        "{r}"
    );
    let reset = app
        .run(&grant(FABRIKAM, "graph:Directory.Read.All", true))
        .await;
    reset.assert_code(0);
    assert_eq!(reset.results()[0]["outcome"], "reset");
    let verified = app.run(&verify("graph:Directory.Read.All")).await;
    verified.assert_code(0);
    assert!(
        verified.results()[0]["detail"]
            .as_str()
            .unwrap()
            .contains("application: Directory.Read.All;"),
        "{}",
        verified.stdout
    );

    // Northwind's GDAP role (Global Reader) may not assign app roles.
    let refused = app
        .run(&grant(NORTHWIND, "graph:User.Read.All", false))
        .await;
    refused.assert_code(1);
    let r = &refused.results()[0];
    assert_eq!(r["remedy"], "gdap-access", "{r}");
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .contains("may not manage app roles in customer tenant"),
        "{r}"
    );
}

const ASSIGNER_SORTED: &str =
    "graph:AppRoleAssignment.ReadWrite.All,Application.Read.All,User.Read.All";

#[tokio::test]
async fn application_permissions_without_the_delegated_ones_to_add_them_are_a_usage_error() {
    let app = spawn().await;
    let out = app
        .run(&[
            "consent",
            "grant",
            "--partner",
            CONTOSO,
            "--customer",
            FABRIKAM,
            "--delegated",
            "graph:User.Read.All",
            "--application",
            "graph:User.Read.All",
        ])
        .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains(
            "needs the delegated permissions AppRoleAssignment.ReadWrite.All,Application.Read.All"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(
        app.emu.counter("partnercenter.applicationconsents.create"),
        0
    );
}
