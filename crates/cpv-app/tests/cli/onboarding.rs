//! Grant → verify → list users; idempotent re-grant; reset with other grants; remove.

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

    let verified = app
        .run(&["consent", "verify", "--all-customers", "--output", "json"])
        .await;
    verified.assert_code(0);
    let results = verified.results();
    assert_eq!(results.len(), 6);
    for r in &results {
        assert_eq!(r["outcome"], "verified", "{r}");
        assert_eq!(
            r["detail"], "app-only token works; Graph roles: Directory.Read.All,User.Read.All",
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
    assert_eq!(results[0]["detail"], "already granted: graph:User.Read.All");
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
            "a consent with other permissions exists (missing Directory.Read.All); re-run with --reset to delete it and grant graph:Directory.Read.All,User.Read.All"
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
        "deleted and granted again: graph:Directory.Read.All,User.Read.All"
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
        "app-only token works; Graph roles: Directory.Read.All,User.Read.All"
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
