use emulator::{Fault, Service};
use std::time::Duration;

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

/// The column titles of a table's header line (columns are two or more spaces apart).
fn headers(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_list_shows_the_columns_cpv_app_shows() {
    let app = spawn().await;
    let one = app.run(&["users", "list", "--customer", FABRIKAM]).await;
    one.assert_code(0);
    // cpv-app's `users list` prints these (crates/cpv-app/tests/cli/onboarding.rs).
    assert_eq!(
        headers(&one.stdout),
        ["ID", "DISPLAY NAME", "USER PRINCIPAL NAME"],
        "{}",
        one.stdout
    );
    let all = app.run(&["users", "list", "--all-customers"]).await;
    assert_eq!(
        headers(&all.stdout),
        [
            "CUSTOMER TENANT",
            "ID",
            "DISPLAY NAME",
            "USER PRINCIPAL NAME"
        ],
        "{}",
        all.stdout
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

/// `users list --all-customers` with one slot: customers are started one at a time, in
/// Partner Center's order.
const ALL_CUSTOMERS_ONE_SLOT: [&str; 5] =
    ["users", "list", "--all-customers", "--concurrency", "1"];

/// The customer tenants of the users printed, in the order their first user appears; a
/// customer's users are printed together.
fn tenant_order(users: &[serde_json::Value]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for user in users {
        let tenant = user["customerTenantId"].as_str().unwrap().to_owned();
        if order.last() != Some(&tenant) {
            assert!(
                !order.contains(&tenant),
                "{tenant}'s users are split: {users:?}"
            );
            order.push(tenant);
        }
    }
    order
}

/// Fabrikam's next Graph `/users` call is answered 429 with `Retry-After: secs` (Graph
/// throttles per app and tenant: the fault names Fabrikam's tenant).
fn throttle_fabrikams_next_users_call(app: &crate::helpers::TestApp, secs: u64) {
    app.emu.inject_fault(
        Fault::status(Service::Graph, 429)
            .retry_after(secs)
            .on_route("/users")
            .for_tenant(FABRIKAM)
            .times(1),
    );
}

async fn run_all_customers(app: &crate::helpers::TestApp, format: &str) -> crate::helpers::Output {
    let out = app
        .run(&[&["-o", format][..], &ALL_CUSTOMERS_ONE_SLOT].concat())
        .await;
    // Tailspin has no GDAP relationship: the run is partial.
    out.assert_code(csp_app::Exit::Partial.code());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_waiting_on_retry_after_gives_its_one_slot_to_the_next_customer() {
    let app = spawn().await;
    let unthrottled = run_all_customers(&app, "ndjson").await;
    assert_eq!(
        tenant_order(&unthrottled.ndjson()),
        [FABRIKAM, NORTHWIND],
        "one slot, no throttling: Partner Center's order"
    );

    // Fabrikam's first call is answered 429 Retry-After: 3. Holding the only slot through the
    // wait would list Fabrikam first; giving it back lists Northwind during the wait.
    throttle_fabrikams_next_users_call(&app, 3);
    let out = run_all_customers(&app, "ndjson").await;
    let users = out.ndjson();
    assert_eq!(
        tenant_order(&users),
        [NORTHWIND, FABRIKAM],
        "ndjson streams in completion order"
    );
    assert_eq!(
        users.len(),
        unthrottled.ndjson().len(),
        "nobody's users lost"
    );
    assert!(
        out.stderr
            .starts_with("1 of 3 customers failed (2 succeeded"),
        "only Tailspin failed: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_table_keep_customer_order_when_an_earlier_customer_finishes_last() {
    let app = spawn().await;
    throttle_fabrikams_next_users_call(&app, 2);
    let out = run_all_customers(&app, "json").await;
    assert_eq!(
        tenant_order(out.json().as_array().unwrap()),
        [FABRIKAM, NORTHWIND],
        "Fabrikam finished last but comes first"
    );

    throttle_fabrikams_next_users_call(&app, 2);
    let out = run_all_customers(&app, "table").await;
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let first_northwind = rows.iter().position(|t| *t == NORTHWIND).unwrap();
    let last_fabrikam = rows.iter().rposition(|t| *t == FABRIKAM).unwrap();
    assert!(last_fabrikam < first_northwind, "{}", out.stdout);
}

/// Every `/users` call (of `tenant` only, when given) is answered 429 `Retry-After: 0`, which
/// spends a customer's 8 retries at once; then the fan-out runs with one slot.
async fn run_throttled_without_end(
    app: &crate::helpers::TestApp,
    tenant: Option<&str>,
) -> crate::helpers::Output {
    let fault = Fault::status(Service::Graph, 429)
        .retry_after(0)
        .on_route("/users");
    app.emu.inject_fault(match tenant {
        Some(tenant) => fault.for_tenant(tenant),
        None => fault,
    });
    app.run(&[&["-o", "ndjson"][..], &ALL_CUSTOMERS_ONE_SLOT].concat())
        .await
}

/// Asserts that the run's summary reports the customer as throttled past its retry budget.
fn assert_reported_throttled(out: &crate::helpers::Output, tenant: &str, name: &str) {
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with(&format!("  {tenant} ({name}")))
        .unwrap_or_else(|| panic!("{name} is reported: {}", out.stderr));
    assert!(
        line.ends_with(
            "Microsoft Graph still answered HTTP 429 after 9 attempts: Please retry again later."
        ),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_throttled_past_the_retry_budget_fails_and_the_run_goes_on() {
    let app = spawn().await;
    let out = run_throttled_without_end(&app, None).await;
    out.assert_code(csp_app::Exit::Failure.code());
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.starts_with("3 of 3 customers failed"),
        "{}",
        out.stderr
    );
    for (tenant, name) in [(FABRIKAM, "Fabrikam"), (NORTHWIND, "Northwind")] {
        assert_reported_throttled(&out, tenant, name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_throttled_without_end_fails_alone() {
    let app = spawn().await;
    // Only Fabrikam's tenant is throttled: throttling is per tenant, so Northwind is listed
    // all the same.
    let out = run_throttled_without_end(&app, Some(FABRIKAM)).await;
    out.assert_code(csp_app::Exit::Partial.code());
    assert_eq!(tenant_order(&out.ndjson()), [NORTHWIND]);
    assert!(
        out.stderr
            .starts_with("2 of 3 customers failed (1 succeeded"),
        "{}",
        out.stderr
    );
    assert_reported_throttled(&out, FABRIKAM, "Fabrikam");
}

/// Customers are listed as they are found: the first customer's users come while the customer
/// list is still open (Graph's list of GDAP customers can take seconds over thousands of
/// customers). Had the fan-out waited for the whole list, the customer list would never end
/// and the test would fail at its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fan_out_starts_on_the_first_customer_found_while_the_list_is_open() {
    use csp_app::customers::Discovery;
    use csp_app::fanout::{CustomerRef, Order, fan_out_users};

    let app = spawn().await;
    let ctx = app.context().await;
    let customer = |tenant: &str| {
        Ok(CustomerRef {
            tenant_id: tenant.into(),
            name: tenant.into(),
        })
    };
    let (query, progress) = (
        common::graph::UsersQuery::default(),
        indicatif::ProgressBar::hidden(),
    );
    for order in [Order::Completion, Order::Customer] {
        let (found, discovery) = Discovery::channel();
        found.send(customer(FABRIKAM)).unwrap();
        let (first_listed, listed) = tokio::sync::oneshot::channel::<()>();
        let mut first_listed = Some(first_listed);
        let mut tenants = Vec::new();
        let fan_out = fan_out_users(
            &ctx.graph,
            discovery,
            &query,
            4,
            order,
            &progress,
            |customer, _user| {
                tenants.push(customer.tenant_id.clone());
                if let Some(tx) = first_listed.take() {
                    let _ = tx.send(());
                }
                Ok(())
            },
        );
        // The rest of the list comes once Fabrikam's users are out.
        let rest = async move {
            listed.await.expect("Fabrikam listed");
            found.send(customer(NORTHWIND)).unwrap();
        };
        let (report, ()) = tokio::time::timeout(
            Duration::from_secs(60),
            futures::future::join(fan_out, rest),
        )
        .await
        .unwrap_or_else(|_| panic!("{order:?}: the fan-out waited for the whole list"));
        let report = report.unwrap();
        assert_eq!((report.customers, report.succeeded), (2, 2), "{order:?}");
        let northwind = tenants.iter().position(|t| t == NORTHWIND).unwrap();
        assert!(
            tenants[..northwind].iter().all(|t| t == FABRIKAM)
                && tenants[northwind..].iter().all(|t| t == NORTHWIND),
            "{order:?}: {tenants:?}"
        );
    }
}

/// Partner Center's customer list failing stops the run with Partner Center's error: listing
/// part of the partner's customers and exiting as if that were all would hide the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_customer_list_stops_the_fan_out_with_its_error() {
    let app = spawn().await;
    app.emu
        .inject_fault(Fault::status(Service::PartnerCenter, 403).on_route("/v1/customers"));
    let out = app
        .run(&["-o", "ndjson", "users", "list", "--all-customers"])
        .await;
    assert_ne!(out.code, std::process::ExitCode::SUCCESS, "{out:?}");
    assert_ne!(out.code, csp_app::Exit::Partial.into(), "{out:?}");
    assert!(
        out.stderr.contains("403") || out.stderr.to_lowercase().contains("partner center"),
        "{}",
        out.stderr
    );
}
