use crate::helpers::{FABRIKAM, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_gets_return_the_apis_json() {
    let app = spawn().await;
    let users = app
        .run(&["graph", "get", "/v1.0/users?$top=1", "--customer", FABRIKAM])
        .await;
    users.assert_code(0);
    assert_eq!(users.json()["value"].as_array().unwrap().len(), 1);
    assert!(
        users.json()["@odata.nextLink"].is_string(),
        "{}",
        users.stdout
    );

    let me = app.run(&["-o", "ndjson", "graph", "get", "/v1.0/me"]).await;
    me.assert_code(0);
    assert_eq!(me.stdout.lines().count(), 1);
    assert_eq!(me.json()["userPrincipalName"], crate::helpers::ADMIN);

    let customers = app
        .run(&["partner-center", "get", "/v1/customers?size=1"])
        .await;
    customers.assert_code(0);
    assert!(
        customers.json()["links"]["next"]["uri"].is_string(),
        "{}",
        customers.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_graph_error_keeps_graphs_code_and_message() {
    let app = spawn().await;
    let out = app
        .run(&["graph", "get", "/v1.0/users/nobody@nowhere.example"])
        .await;
    out.assert_code(1);
    assert!(
        out.stderr
            .starts_with("error: Microsoft Graph answered HTTP 404"),
        "{}",
        out.stderr
    );
}
