use emulator::{Fault, Service};

use crate::helpers::{FABRIKAM, NORTHWIND, TAILSPIN, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_list_reads_a_customer_tenant_through_gdap_page_by_page() {
    let app = spawn().await;
    let out = app
        .run(&[
            "-o",
            "ndjson",
            "users",
            "list",
            "--customer",
            FABRIKAM,
            "--page-size",
            "1",
        ])
        .await;
    out.assert_code(0);
    let users = out.ndjson();
    assert_eq!(users.len(), 2, "every page followed: {users:?}");
    assert_eq!(
        app.emu.counter("graph.users.list"),
        2,
        "one call per page of one user"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_call_succeeds_after_retry_after() {
    let app = spawn().await;
    app.emu.inject_fault(
        Fault::status(Service::Graph, 429)
            .retry_after(1)
            .on_route("/users")
            .times(1),
    );
    let started = std::time::Instant::now();
    let out = app
        .run(&["-o", "json", "users", "list", "--customer", FABRIKAM])
        .await;
    out.assert_code(0);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "waited Retry-After"
    );
    assert!(!out.json().as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_list_all_customers_reports_the_customer_without_gdap_and_lists_the_others() {
    let app = spawn().await;
    let out = app
        .run(&[
            "-o",
            "ndjson",
            "users",
            "list",
            "--all-customers",
            "--concurrency",
            "2",
        ])
        .await;
    out.assert_code(csp_app::Exit::Partial.code());
    let users = out.ndjson();
    let tenants: std::collections::BTreeSet<&str> = users
        .iter()
        .map(|u| u["customerTenantId"].as_str().unwrap())
        .collect();
    assert!(
        tenants.contains(FABRIKAM) && tenants.contains(NORTHWIND),
        "{tenants:?}"
    );
    assert!(!tenants.contains(TAILSPIN));
    assert!(
        out.stderr.contains(&format!("  {TAILSPIN} (Tailspin")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("no active GDAP relationship"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.starts_with("1 of "), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_list_needs_a_customer_or_all_customers() {
    let err =
        <csp_app::Cli as clap::Parser>::try_parse_from(["csp-app", "users", "list"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
}
