//! `users list --all-customers`: Graph `/users` in every customer tenant through GDAP, with
//! bounded concurrency.
//!
//! The customer list comes from Partner Center and Graph `delegatedAdminCustomers`, merged by
//! tenant ([`crate::customers::discover`]; IDs and names only, a few bytes per customer).
//! Then at most `--concurrency` Graph calls are in flight; a customer waiting on `Retry-After`
//! gives its slot back and is queued again for when its wait ends ([`fan_out_users`]), so the
//! slots never idle while there is work. Users are written as their pages arrive with `ndjson`
//! (completion order), customer by customer with `table` and `json` ([`Order`]); memory holds
//! the pages in flight and, in customer order, the users of customers that finished before an
//! earlier one, not the result. A customer that fails (no GDAP relationship, missing role,
//! throttled past the retry budget) is recorded and reported at the end while the others go on;
//! a failure that dooms every customer (the partner must consent again) stops the run at once.

use std::collections::{BTreeMap, VecDeque};
use std::io::{IsTerminal as _, Write};
use std::process::ExitCode;
use std::time::Duration;

use cli_kit::output::{Column, ListWriter, OutputFormat};
use cli_kit::{Exit, Failure};
use common::graph::{GraphClient, GraphError, PageStep, Pager, User, UsersQuery};
use common::http::Tenant;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt as _};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::cli::UsersListArgs;
use crate::context::Context;
pub use crate::customers::CustomerRef;
use crate::customers::Discovery;

/// Partner Center customers per page while customers are found.
const CUSTOMER_PAGE_SIZE: u32 = 500;

/// Columns of `users list --all-customers` ([`cli_kit::columns::USERS_BY_CUSTOMER`]).
pub const FANOUT_COLUMNS: &[Column] = cli_kit::columns::USERS_BY_CUSTOMER;

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
    /// Customers found.
    pub customers: usize,
    /// Customers whose users were all listed.
    pub succeeded: usize,
    /// Users written.
    pub users: usize,
    /// Customers that failed, in the order they failed.
    pub failed: Vec<CustomerFailure>,
}

/// The order users are handed on in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// As pages arrive (`ndjson`: nothing is held back).
    Completion,
    /// Customer by customer, in the order given (`table`, `json`): a customer's users are held
    /// back only while an earlier customer is still being listed.
    Customer,
}

impl Order {
    /// The order an output format promises.
    pub fn of(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Ndjson => Self::Completion,
            OutputFormat::Table | OutputFormat::Json => Self::Customer,
        }
    }
}

/// One customer being listed: where it is in the customer list, and its pages.
struct Job {
    index: usize,
    pager: Pager<User>,
}

/// What fetching a page gives back.
type Fetched = (Job, Result<PageStep<User>, GraphError>);

/// Which customer runs next: at most `concurrency` pages are fetched at once, and a customer
/// waiting on `Retry-After` holds no slot; its wait is a timer, after which it is ready again.
/// Customers already started (more pages, or a wait just over) go before customers not started
/// yet, which keeps the number of half-listed customers (and, in customer order, the users held
/// back) small.
///
/// Each page is fetched in a task of its own (a [`JoinSet`], aborted when the fan-out stops), so
/// decoding pages and redeeming tokens run on every runtime thread, and a task that blocks a
/// thread for a moment (the token store's write) does not stall the others.
struct Scheduler<'a> {
    graph: &'a GraphClient,
    query: &'a UsersQuery,
    /// The customers found so far.
    customers: Vec<CustomerRef>,
    /// Finds more customers, until both lists are through.
    discovery: Option<Discovery>,
    concurrency: usize,
    /// The first customer not started yet.
    next_new: usize,
    ready: VecDeque<Job>,
    fetching: JoinSet<Fetched>,
    waiting: FuturesUnordered<BoxFuture<'static, Job>>,
    /// The first customer whose token is not being prepared yet.
    next_token: usize,
    /// Tokens being redeemed ahead of their customers' first page.
    tokens: JoinSet<()>,
}

impl<'a> Scheduler<'a> {
    fn new(
        graph: &'a GraphClient,
        query: &'a UsersQuery,
        discovery: Discovery,
        concurrency: usize,
    ) -> Self {
        Self {
            graph,
            query,
            customers: Vec::new(),
            discovery: Some(discovery),
            concurrency: concurrency.max(1),
            next_new: 0,
            ready: VecDeque::new(),
            fetching: JoinSet::new(),
            waiting: FuturesUnordered::new(),
            next_token: 0,
            tokens: JoinSet::new(),
        }
    }

    /// Redeems the tokens of the next `concurrency` customers not started yet, outside the
    /// slots: a customer's first page then finds its token cached (or joins the redemption in
    /// flight), and a slot spends its time on Graph. A failure is left to the page, which asks
    /// again and reports it.
    fn prepare_tokens(&mut self) {
        let ahead = (self.next_new + self.concurrency).min(self.customers.len());
        while self.next_token < ahead {
            let customer = &self.customers[self.next_token];
            self.next_token += 1;
            let graph = self.graph.clone();
            let tenant = customer.tenant_id.clone();
            self.tokens.spawn(async move {
                let _ = graph.prepare_token(Tenant::Customer(&tenant)).await;
            });
        }
    }

    /// Starts pages until every slot is busy or nothing is ready.
    fn fill(&mut self) {
        while self.fetching.len() < self.concurrency {
            let job = match self.ready.pop_front() {
                Some(job) => job,
                None => match self.customers.get(self.next_new) {
                    Some(customer) => {
                        self.next_new += 1;
                        Job {
                            index: self.next_new - 1,
                            pager: self
                                .graph
                                .users_pager(Tenant::Customer(&customer.tenant_id), self.query),
                        }
                    }
                    None => return,
                },
            };
            self.fetching.spawn(async move {
                let mut job = job;
                let step = job.pager.next_page().await;
                (job, step)
            });
        }
    }

    /// The next page fetched (or failed), or `None` when every customer found is done and no
    /// more will be; the failure of the customer lists.
    async fn next(&mut self) -> Result<Option<Fetched>, Failure> {
        loop {
            self.fill();
            self.prepare_tokens();
            let discovering = self.discovery.is_some();
            let busy = !self.fetching.is_empty() || !self.waiting.is_empty() || discovering;
            tokio::select! {
                Some(joined) = self.fetching.join_next() => match joined {
                    Ok(fetched) => return Ok(Some(fetched)),
                    // A panic in a page's task is the fan-out's own.
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // Cancelled: only when the runtime shuts down.
                    Err(_) => return Ok(None),
                },
                Some(job) = self.waiting.next() => self.ready.push_back(job),
                found = next_customer(&mut self.discovery), if discovering => match found {
                    Some(Ok(customer)) => self.customers.push(customer),
                    Some(Err(failure)) => return Err(failure),
                    None => self.discovery = None,
                },
                Some(_) = self.tokens.join_next(), if busy => {}
                else => return Ok(None),
            }
        }
    }

    /// The customer has more pages.
    fn resume(&mut self, job: Job) {
        self.ready.push_back(job);
    }

    /// The customer was throttled: it is ready again after `wait`, and holds no slot meanwhile.
    fn wait(&mut self, job: Job, wait: Duration) {
        self.waiting.push(Box::pin(async move {
            tokio::time::sleep(wait).await;
            job
        }));
    }
}

/// The next customer found, `None` when there are no more.
async fn next_customer(discovery: &mut Option<Discovery>) -> Option<Result<CustomerRef, Failure>> {
    match discovery {
        Some(d) => d.next().await,
        None => None,
    }
}

/// Lists the users of the customers `discovery` finds (starting with the first found) with at most `concurrency` Graph calls in flight, calling
/// `on_user` for each user in `order`. Returns early with the failure when one says the partner
/// must consent again (every other customer would fail the same way).
///
/// A slot is held only while a page is being fetched: a customer answered 429 (or 5xx) waits
/// its `Retry-After` (or back-off) without one, then goes on ([`Scheduler`]). Throttling is per
/// tenant, so no other customer waits for it; the client's retry policy still bounds each page.
pub async fn fan_out_users<F>(
    graph: &GraphClient,
    discovery: Discovery,
    query: &UsersQuery,
    concurrency: usize,
    order: Order,
    progress: &ProgressBar,
    mut on_user: F,
) -> Result<FanOutReport, Failure>
where
    F: FnMut(&CustomerRef, User) -> Result<(), Failure>,
{
    let mut scheduler = Scheduler::new(graph, query, discovery, concurrency);
    let mut out = Sequencer::new(order);
    let mut report = FanOutReport::default();
    while let Some((job, step)) = scheduler.next().await? {
        let index = job.index;
        // The slot goes on to the next page before this page's users are written.
        let more = matches!(step, Ok(PageStep::Items(_))) && !job.pager.is_done();
        match &step {
            Ok(PageStep::RetryAfter(wait)) => scheduler.wait(job, *wait),
            _ if more => scheduler.resume(job),
            _ => {}
        }
        scheduler.fill();
        report.customers = scheduler.customers.len();
        progress.set_length(report.customers as u64);
        let customers = &scheduler.customers;
        let mut emit = |i: usize, user: User| on_user(&customers[i], user);
        match step {
            Ok(PageStep::Items(users)) => {
                report.users += users.len();
                out.users(index, users, &mut emit)?;
                if more {
                    continue;
                }
                report.succeeded += 1;
            }
            Ok(PageStep::RetryAfter(_)) => continue,
            Err(e) => {
                let failure = Failure::from(e);
                if failure.needs_consent() {
                    return Err(failure);
                }
                tracing::debug!(customer.id = %customers[index].tenant_id, "customer failed: {}", failure.message);
                report.failed.push(CustomerFailure {
                    customer: customers[index].clone(),
                    failure,
                });
            }
        }
        out.finished(index, &mut emit)?;
        progress.inc(1);
    }
    Ok(report)
}

/// Hands users on in the promised [`Order`]: at once in completion order; in customer order,
/// the first unfinished customer's users at once, and a later customer's once every customer
/// before it has finished.
struct Sequencer {
    order: Order,
    /// The first customer not finished yet (customer order).
    head: usize,
    finished: Vec<bool>,
    held: BTreeMap<usize, Vec<User>>,
}

impl Sequencer {
    fn new(order: Order) -> Self {
        Self {
            order,
            head: 0,
            finished: Vec::new(),
            held: BTreeMap::new(),
        }
    }

    /// A page of customer `index`'s users.
    fn users<F>(&mut self, index: usize, users: Vec<User>, emit: &mut F) -> Result<(), Failure>
    where
        F: FnMut(usize, User) -> Result<(), Failure>,
    {
        if self.order == Order::Completion || index == self.head {
            return users.into_iter().try_for_each(|u| emit(index, u));
        }
        self.held.entry(index).or_default().extend(users);
        Ok(())
    }

    /// Customer `index` is done (listed or failed).
    fn finished<F>(&mut self, index: usize, emit: &mut F) -> Result<(), Failure>
    where
        F: FnMut(usize, User) -> Result<(), Failure>,
    {
        if self.order == Order::Completion {
            return Ok(());
        }
        if self.finished.len() <= index {
            self.finished.resize(index + 1, false);
        }
        self.finished[index] = true;
        while self.finished.get(self.head) == Some(&true) {
            self.head += 1;
            // The new head's users so far; its later pages pass straight through.
            if let Some(users) = self.held.remove(&self.head) {
                let head = self.head;
                users.into_iter().try_for_each(|u| emit(head, u))?;
            }
        }
        Ok(())
    }
}

/// A progress bar on stderr when it is a terminal; hidden otherwise (pipes, cron, CI).
/// Its length grows as customers are found.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} customers {pos}/{len} [{bar:40}] {elapsed_precise} (eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The partner's customers: Partner Center's and GDAP's, merged by tenant ID
/// ([`crate::customers::discover`]).
/// `users list --all-customers`.
pub async fn users_of_all_customers(
    ctx: &Context,
    args: &UsersListArgs,
    query: &UsersQuery,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let all = cli_kit::Selection {
        scope: cli_kit::selection::Scope::All,
        exclude: Default::default(),
        configured_exclusions: 0,
    };
    users_of_customers(ctx, &all, args, query, format, out, err).await
}

/// `users list` over the selected customers (every customer, or those listed), exclusions
/// applied.
pub async fn users_of_customers(
    ctx: &Context,
    selection: &cli_kit::Selection,
    args: &UsersListArgs,
    query: &UsersQuery,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let progress = progress_bar();
    let mut writer = ListWriter::new(format, out, FANOUT_COLUMNS);
    let result = fan_out_users(
        &ctx.graph,
        Discovery::select(ctx, CUSTOMER_PAGE_SIZE, selection),
        query,
        usize::from(args.concurrency),
        Order::of(format),
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
        customers = report.customers,
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
    // A customer whose GDAP access is still being applied fails like one without access: say
    // which it is.
    let pending = common::graph::access::pending_notes(
        &ctx.graph,
        report.failed.iter().map(|f| f.customer.tenant_id.as_str()),
    )
    .await;
    write_failures(err, &report, &pending)?;
    Ok(if report.succeeded == 0 {
        Exit::Failure
    } else {
        Exit::Partial
    }
    .into())
}

/// The failure list on stderr: one line per failed customer and its remedy. Every value in it
/// (the tenant ID and company name come from Partner Center and Graph, i.e. from whoever named
/// the customer; the reason may quote them) goes through [`cli_kit::output::printable`], so a
/// name cannot move the cursor, clear the screen or recolour the terminal with control
/// characters or ANSI escapes. `pending` has a note for customers whose GDAP access is still
/// being applied (by lower-cased tenant ID).
pub fn write_failures(
    err: &mut dyn Write,
    report: &FanOutReport,
    pending: &std::collections::HashMap<String, String>,
) -> std::io::Result<()> {
    use cli_kit::output::printable;
    writeln!(
        err,
        "{} of {} customers failed ({} succeeded, {} users listed):",
        report.failed.len(),
        report.customers,
        report.succeeded,
        report.users
    )?;
    for f in &report.failed {
        writeln!(
            err,
            "  {} ({}): {}",
            printable(&f.customer.tenant_id),
            printable(&f.customer.name),
            printable(f.failure.text())
        )?;
        if let Some(note) = pending.get(&f.customer.tenant_id.to_ascii_lowercase()) {
            writeln!(err, "    note: {}", printable(note))?;
        }
        if let Some(advice) = f.failure.advice() {
            writeln!(err, "    remedy: {}", printable(&advice))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_list_shows_control_characters_and_ansi_escapes_escaped() {
        let report = FanOutReport {
            customers: 2,
            succeeded: 1,
            users: 3,
            failed: vec![CustomerFailure {
                customer: CustomerRef {
                    tenant_id: "t-1\r".into(),
                    name: "Evil\u{1b}[2J\u{1b}[31mCorp\u{7}\u{202e}".into(),
                },
                failure: Failure::new("no GDAP relationship with Evil\u{1b}]0;title\u{7}Corp"),
            }],
        };
        let mut out = Vec::new();
        write_failures(&mut out, &report, &Default::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
            "{text:?}"
        );
        assert_eq!(text.lines().count(), 2, "{text:?}");
        assert!(
            text.contains("  t-1\\u{d} (Evil\\u{1b}[2J\\u{1b}[31mCorp\\u{7}\\u{202e}): no GDAP relationship with Evil\\u{1b}]0;title\\u{7}Corp\n"),
            "{text:?}"
        );
    }
}
