use crate::helpers::{FABRIKAM, NORTHWIND, TAILSPIN, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_list_follows_every_page_in_each_output_format() {
    let app = spawn().await;
    let table = app.run(&["customers", "list", "--page-size", "1"]).await;
    table.assert_code(0);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "COMPANY", "DOMAIN", "RELATIONSHIP", "SOURCE"]
    );
    for id in [FABRIKAM, NORTHWIND, TAILSPIN] {
        assert!(
            table.stdout.contains(id),
            "{id} missing from:\n{}",
            table.stdout
        );
    }

    let json = app
        .run(&["--output", "json", "customers", "list", "--page-size", "1"])
        .await;
    json.assert_code(0);
    let items = json.json();
    let ids: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        lines.len() - 1,
        "one page of one customer each, followed to the end"
    );
    assert!(ids.contains(&TAILSPIN));
    assert_eq!(
        items[0]["attributes"]["objectType"], "Customer",
        "fields not modelled are kept"
    );

    let ndjson = app
        .run(&["-o", "ndjson", "customers", "list", "--page-size", "2"])
        .await;
    ndjson.assert_code(0);
    assert_eq!(ndjson.ndjson().len(), ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_list_filters_by_company_name_prefix() {
    let app = spawn().await;
    let out = app
        .run(&["-o", "json", "customers", "list", "--name", "Fabrikam"])
        .await;
    out.assert_code(0);
    let items = out.json();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items[0]["id"], FABRIKAM);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_show_users_and_subscriptions_read_one_customer() {
    let app = spawn().await;
    let show = app.run(&["customers", "show", FABRIKAM]).await;
    show.assert_code(0);
    assert!(
        show.stdout.contains("fabrikam-demo.onmicrosoft.com"),
        "{}",
        show.stdout
    );

    let users = app
        .run(&["-o", "ndjson", "customers", "users", "--customer", FABRIKAM])
        .await;
    users.assert_code(0);
    let upns: Vec<String> = users
        .ndjson()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        upns.contains(&"admin@fabrikam-demo.onmicrosoft.com".to_owned()),
        "{upns:?}"
    );

    let subs = app
        .run(&[
            "-o",
            "json",
            "customers",
            "subscriptions",
            "--customer",
            FABRIKAM,
        ])
        .await;
    subs.assert_code(0);
    let subs = subs.json();
    let ids: Vec<&str> = subs
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&emulator::partner_data::ids::SUBSCRIPTION_FABRIKAM_M365),
        "{ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_customer_is_reported_in_partner_centers_words() {
    let app = spawn().await;
    let out = app
        .run(&["customers", "show", "99999999-0000-4000-8000-000000000000"])
        .await;
    out.assert_code(1);
    assert!(
        out.stderr
            .starts_with("error: Partner Center answered HTTP 404"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("MS-CorrelationId"), "{}", out.stderr);
}
