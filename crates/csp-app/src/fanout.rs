//! `users list --all-customers`: Graph `/users` in every customer tenant through GDAP, with
//! bounded concurrency.
//!
//! The customer list comes from Partner Center (IDs and names only, a few bytes per customer).
//! Then at most `--concurrency` customers are worked on at once; users are written as their
//! pages arrive (`flatten_unordered`), so memory holds a page per customer in flight, not the
//! result. A customer that fails (no GDAP relationship, missing role, throttled past the retry
//! budget) is recorded and reported at the end while the others go on; a failure that dooms
//! every customer (the partner must consent again) stops the run at once.

use std::io::{IsTerminal as _, Write};
use std::process::ExitCode;

use cli_kit::output::{Column, ListWriter, OutputFormat};
use cli_kit::{Exit, Failure};
use common::graph::{GraphError, User, UsersQuery};
use common::http::Tenant;
use futures::stream::{self, StreamExt as _};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::UsersListArgs;
use crate::context::Context;

/// Columns of `users list --all-customers`.
pub const FANOUT_COLUMNS: &[Column] = &[
    ("CUSTOMER TENANT", "/customerTenantId"),
    ("ID", "/id"),
    ("USER PRINCIPAL NAME", "/userPrincipalName"),
    ("DISPLAY NAME", "/displayName"),
];

/// A customer of the fan-out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRef {
    /// Tenant ID.
    pub tenant_id: String,
    /// Company name.
    pub name: String,
}

/// A customer that failed.
#[derive(Debug)]
pub struct CustomerFailure {
    /// The customer.
    pub customer: CustomerRef,
    /// Why.
    pub failure: Failure,
}

/// What a fan-out did.
#[derive(Debug, Default)]
pub struct FanOutReport {
    /// Customers whose users were all listed.
    pub succeeded: usize,
    /// Users written.
    pub users: usize,
    /// Customers that failed, in the order they failed.
    pub failed: Vec<CustomerFailure>,
}

enum Event {
    User(usize, User),
    Failed(usize, GraphError),
    Done(usize),
}

/// Lists the users of `customers` with at most `concurrency` customers in flight, calling
/// `on_user` for each user as it arrives. Returns early with the failure when one says the
/// partner must consent again (every other customer would fail the same way).
pub async fn fan_out_users<F>(
    graph: &common::graph::GraphClient,
    customers: &[CustomerRef],
    query: &UsersQuery,
    concurrency: usize,
    progress: &ProgressBar,
    mut on_user: F,
) -> Result<FanOutReport, Failure>
where
    F: FnMut(&CustomerRef, User) -> Result<(), Failure>,
{
    let per_customer = customers.iter().enumerate().map(|(i, c)| {
        graph
            .list_users(Tenant::Customer(&c.tenant_id), query)
            .map(move |r| match r {
                Ok(user) => Event::User(i, user),
                Err(e) => Event::Failed(i, e),
            })
            .chain(stream::iter(std::iter::once(Event::Done(i))))
    });
    let mut events =
        std::pin::pin!(stream::iter(per_customer).flatten_unordered(concurrency.max(1)));
    let mut failed = vec![false; customers.len()];
    let mut report = FanOutReport::default();
    while let Some(event) = events.next().await {
        match event {
            Event::User(i, user) => {
                report.users += 1;
                on_user(&customers[i], user)?;
            }
            Event::Failed(i, e) => {
                let failure = Failure::from(e);
                if failure.needs_consent() {
                    return Err(failure);
                }
                tracing::debug!(customer.id = %customers[i].tenant_id, "customer failed: {}", failure.message);
                failed[i] = true;
                report.failed.push(CustomerFailure {
                    customer: customers[i].clone(),
                    failure,
                });
            }
            Event::Done(i) => {
                if !failed[i] {
                    report.succeeded += 1;
                }
                progress.inc(1);
            }
        }
    }
    Ok(report)
}

/// A progress bar on stderr when it is a terminal; hidden otherwise (pipes, cron, CI).
fn progress_bar(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} customers {pos}/{len} [{bar:40}] {elapsed_precise} (eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The partner's customers: Partner Center's and GDAP's, merged by tenant ID
/// ([`crate::customers::discover`]).
pub async fn list_customers(ctx: &Context) -> Result<Vec<CustomerRef>, Failure> {
    Ok(crate::customers::discover(ctx, 500, None)
        .await?
        .into_iter()
        .map(|c| CustomerRef {
            tenant_id: c.tenant_id,
            name: c.name,
        })
        .collect())
}

/// `users list --all-customers`.
pub async fn users_of_all_customers(
    ctx: &Context,
    args: &UsersListArgs,
    query: &UsersQuery,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let customers = list_customers(ctx).await?;
    let progress = progress_bar(customers.len());
    let mut writer = ListWriter::new(format, out, FANOUT_COLUMNS);
    let result = fan_out_users(
        &ctx.graph,
        &customers,
        query,
        usize::from(args.concurrency),
        &progress,
        |customer, user| {
            let mut value = serde_json::to_value(&user).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert(
                    "customerTenantId".into(),
                    Value::String(customer.tenant_id.clone()),
                );
            }
            writer.item(&value).map_err(Failure::from)
        },
    )
    .await;
    progress.finish_and_clear();
    let report = result?;
    writer.finish()?;
    let stats = ctx.graph.stats();
    tracing::info!(
        customers = customers.len(),
        succeeded = report.succeeded,
        failed = report.failed.len(),
        users = report.users,
        http.requests = stats.requests,
        http.retries = stats.retries,
        http.throttled = stats.throttled,
        "fan-out finished"
    );
    if report.failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        err,
        "{} of {} customers failed ({} succeeded, {} users listed):",
        report.failed.len(),
        customers.len(),
        report.succeeded,
        report.users
    )?;
    for f in &report.failed {
        writeln!(
            err,
            "  {} ({}): {}",
            f.customer.tenant_id, f.customer.name, f.failure.message
        )?;
        if let Some(advice) = f.failure.advice() {
            writeln!(err, "    remedy: {advice}")?;
        }
    }
    Ok(if report.succeeded == 0 {
        Exit::Failure
    } else {
        Exit::Partial
    }
    .into())
}
