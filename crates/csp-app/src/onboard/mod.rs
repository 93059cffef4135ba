//! `onboard`: each selected customer through create relationship → lock for approval →
//! approval (link printed) → active → the template's access assignments → active → the app's
//! consent → access check → done, recorded step by step in the [`journal`]. A rerun resumes
//! every customer where it stopped; `onboard status` reads the journal.

pub mod board;
pub mod journal;
pub mod steps;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use cli_kit::output::{Column, ListWriter, OutputFormat, printable};
use cli_kit::{Exit, Failure, Selection};
use common::config::{Settings, StoreSettings};
use futures::StreamExt as _;
use serde_json::{Value, json};

use self::board::{Board, Pace};
use self::journal::{Entry, Journal, Step, now};
use self::steps::{Next, Run, Waits, failed};
use crate::cli::{OnboardArgs, OnboardCommand};
use crate::context::Context;

/// Columns of `onboard` and `onboard status`.
pub const COLUMNS: &[Column] = &[
    ("CUSTOMER", "/tenantId"),
    ("STEP", "/step"),
    ("SINCE", "/age"),
    ("AWAITING", "/awaiting"),
    ("APPROVAL LINK", "/approvalLink"),
];

/// The journal's path: `--journal`, else `onboard-journal.ndjson` next to the local token
/// store, or in the working directory with a Key Vault store.
pub fn journal_path(settings: &Settings, given: Option<&PathBuf>) -> PathBuf {
    if let Some(p) = given {
        return p.clone();
    }
    match &settings.store {
        StoreSettings::Local(local) => local.path.with_file_name("onboard-journal.ndjson"),
        StoreSettings::KeyVault(_) => PathBuf::from("sam-onboard-journal.ndjson"),
    }
}

/// `onboard` and `onboard status`.
pub async fn run(
    ctx: &Context,
    args: OnboardArgs,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let path = journal_path(&ctx.settings, args.journal.as_ref());
    if let Some(OnboardCommand::Status) = args.command {
        let journal = Journal::read(&path)?;
        return report(journal.entries(), format, out, err);
    }
    let name = args.template.as_deref().ok_or_else(|| {
        Failure::config("onboard needs --template NAME (`csp-app templates list` shows them)")
    })?;
    let template = crate::commands::templates::find(&ctx.settings, name)?.clone();
    let selection = args.selection.resolve(&ctx.settings.customers)?;
    let customers = customers(ctx, &selection).await?;
    writeln!(
        err,
        "onboarding with template {} ({}): {}; journal {}",
        template.name,
        template.role_names().join(", "),
        selection.describe(),
        path.display()
    )?;
    let mut journal = Journal::open(&path)?;
    let today = time::OffsetDateTime::now_utc();
    let date = format!(
        "{:04}{:02}{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    for tenant in &customers {
        if journal.get(tenant).is_none() {
            journal.append(Entry {
                tenant_id: tenant.clone(),
                template: template.name.clone(),
                step: Step::Create,
                failed_at: None,
                display_name: template.display_name_for(tenant, &date),
                relationship_id: None,
                approval_link: None,
                assignments: Default::default(),
                since: now(),
                error: None,
                remedy: None,
                note: None,
            })?;
        }
    }
    let syncer = journal.syncer()?;
    syncer.sync_through(u64::MAX).await?;
    let waits = Waits {
        approval: Duration::from_secs(args.wait_approval.map_or(0, |s| s.0.unsigned_abs())),
        graph: args.wait.budget(),
    };
    let known = crate::access::Known::read(&ctx.graph).await?;
    let concurrency = usize::from(args.concurrency);
    let board = Board::new(
        &ctx.graph,
        known.relationships.values().flatten(),
        concurrency,
    );
    let found = steps::Found {
        relationships: known.relationships,
        my_groups: known.my_groups,
    };
    let run = Run {
        ctx,
        found: &found,
        template: &template,
        waits,
        board: &board,
    };
    let slots = Slots {
        calls: tokio::sync::Semaphore::new(concurrency),
        // Partner Center: 50 application consents per second per application
        // (docs/microsoft-behaviour.md §5.5).
        consents: Pace::new(50, Duration::from_secs(1)),
    };
    let journal = Record {
        journal: Mutex::new(journal),
        syncer,
    };
    let every = futures::stream::iter(customers.iter())
        .for_each_concurrent(None, |tenant| advance(&run, &slots, &journal, tenant));
    tokio::select! {
        () = every => {}
        () = board.poll() => {}
    }
    let counts = board.counts();
    if counts.rounds > 0 {
        writeln!(
            err,
            "waits: {} polling round(s), {} relationship listing page(s), {} assignment listing(s)",
            counts.rounds, counts.relationship_pages, counts.assignment_listings
        )?;
    }
    let journal = journal
        .journal
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let entries: Vec<&Entry> = customers.iter().filter_map(|t| journal.get(t)).collect();
    report(entries.into_iter(), format, out, err)
}

/// What bounds the calls: `--concurrency` calls at once (a customer waiting for Graph or for
/// its approval holds none: it is parked on the [`Board`]), and the consents' pace.
struct Slots {
    calls: tokio::sync::Semaphore,
    consents: Pace,
}

/// The journal and its flusher.
struct Record {
    journal: Mutex<Journal>,
    syncer: journal::Syncer,
}

impl Record {
    /// Records `entry` (on disk when this returns); false, with the failure logged, if it
    /// could not be.
    async fn entry(&self, entry: Entry) -> bool {
        let tenant = entry.tenant_id.clone();
        let appended = self
            .journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(entry);
        match appended {
            Ok(seq) => match self.syncer.sync_through(seq).await {
                Ok(()) => true,
                Err(failure) => {
                    tracing::error!(tenant, "{}", failure.message);
                    false
                }
            },
            Err(failure) => {
                tracing::error!(tenant, "{}", failure.message);
                false
            }
        }
    }
}

/// One customer, step after step, each recorded before the next begins. A step's calls hold a
/// slot; its waits do not.
async fn advance(run: &Run<'_>, slots: &Slots, journal: &Record, tenant: &str) {
    let record = |entry: Entry| journal.entry(entry);
    let Some(mut entry) = journal
        .journal
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(tenant)
        .cloned()
    else {
        return;
    };
    if entry.template != run.template.name {
        let failure = Failure::new(format!(
            "the journal onboards this customer with template {}, not {}",
            entry.template, run.template.name
        ));
        record(failed(entry, &failure)).await;
        return;
    }
    let mut resumed = true;
    let mut retries: Option<(std::time::Instant, Duration)> = None;
    loop {
        let mut before = entry.clone();
        let mut result = {
            let _paced = match entry.step {
                Step::Consent => Some(slots.consents.admit().await),
                _ => None,
            };
            let _slot = slots.calls.acquire().await;
            steps::step(run, entry, resumed).await
        };
        // A failed entry moves back to its step: that step is still the resumed one.
        resumed = resumed && before.step == Step::Failed;
        while let Ok(Next::Park(parked, what, budget)) = result {
            if parked != before && !record(parked.clone()).await {
                return;
            }
            before = parked.clone();
            let woken = run.board.wait(what, budget).await;
            result = steps::after(run, parked, woken);
        }
        match result {
            Ok(Next::Go(next)) => {
                if !record(next.clone()).await {
                    return;
                }
                entry = next;
            }
            Ok(Next::Stop(next)) => {
                if next != before {
                    record(next).await;
                }
                return;
            }
            Ok(Next::Retry(next, not_yet)) => {
                let (since, pause) =
                    *retries.get_or_insert((std::time::Instant::now(), Duration::from_millis(250)));
                if since.elapsed() >= run.waits.graph {
                    record(failed(before, &not_yet)).await;
                    return;
                }
                tokio::time::sleep(pause).await;
                retries = Some((since, (pause * 2).min(Duration::from_secs(10))));
                entry = next;
            }
            Ok(Next::Park(..)) => unreachable!("parked steps are resolved above"),
            Err(failure) => {
                if failure.needs_consent() {
                    tracing::error!(tenant, "{}", failure.message);
                }
                record(failed(before, &failure)).await;
                return;
            }
        }
    }
}

/// The customers to onboard: tenant IDs (a domain is looked up in the customer list).
async fn customers(ctx: &Context, selection: &Selection) -> Result<Vec<String>, Failure> {
    let listed = selection.listed();
    let need_list = listed
        .as_ref()
        .is_none_or(|l| l.iter().any(|t| uuid::Uuid::parse_str(t).is_err()));
    let known = if need_list {
        crate::customers::discover(ctx, 500, None).await?
    } else {
        Vec::new()
    };
    let domain_of = |d: &crate::customers::Discovered| {
        d.value
            .pointer("/companyProfile/domain")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    };
    let Some(listed) = listed else {
        return Ok(known
            .iter()
            .filter(|d| selection.admits(&d.tenant_id, domain_of(d).as_deref()))
            .map(|d| d.tenant_id.clone())
            .collect());
    };
    let mut out = Vec::new();
    for t in listed {
        if uuid::Uuid::parse_str(&t).is_ok() {
            out.push(t);
            continue;
        }
        match known
            .iter()
            .find(|d| domain_of(d).as_deref() == Some(t.as_str()))
        {
            Some(d) if selection.admits(&d.tenant_id, Some(&t)) => out.push(d.tenant_id.clone()),
            Some(_) => {}
            None => {
                return Err(Failure::config(format!(
                    "no customer of the partner has the domain {t:?}: give its tenant ID"
                )));
            }
        }
    }
    Ok(out)
}

/// How long ago, for a person: `3 days`, `5 hours`, `40 seconds`.
fn age(since: i64) -> String {
    let secs = (now() - since).max(0);
    let (n, unit) = match secs {
        s if s >= 86_400 => (s / 86_400, "day"),
        s if s >= 3_600 => (s / 3_600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// An entry as `onboard` and `onboard status` show it.
fn describe(entry: &Entry) -> Value {
    let awaiting = match entry.step {
        Step::Approval => format!(
            "the customer's approval since {}; link: {}",
            age(entry.since),
            entry.approval_link.as_deref().unwrap_or("")
        ),
        Step::Failed => format!(
            "a fix ({} failed: {})",
            entry.failed_at.map_or("a step", Step::awaited),
            entry.error.as_deref().unwrap_or("")
        ),
        step => step.awaited().to_owned(),
    };
    let mut value = serde_json::to_value(entry).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("age".into(), json!(age(entry.since)));
        map.insert("awaiting".into(), json!(awaiting));
    }
    value
}

/// Writes the entries; exit 4 when some customer failed (each failure and its remedy on
/// stderr), 0 otherwise (customers awaiting approval included).
fn report<'a>(
    entries: impl Iterator<Item = &'a Entry>,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let mut list = ListWriter::new(format, out, COLUMNS);
    let mut failures = Vec::new();
    let mut awaiting = 0;
    for entry in entries {
        list.item(&describe(entry))?;
        if entry.step == Step::Failed {
            failures.push(entry.clone());
        }
        if entry.step == Step::Approval {
            awaiting += 1;
        }
    }
    list.finish()?;
    if awaiting > 0 {
        writeln!(
            err,
            "{awaiting} customer(s) await their Global Administrator's approval: send each its link, then run onboard again"
        )?;
    }
    if failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(err, "{} customer(s) failed:", failures.len())?;
    for f in &failures {
        writeln!(
            err,
            "  {}: {}",
            printable(&f.tenant_id),
            printable(f.error.as_deref().unwrap_or("failed"))
        )?;
        if let Some(remedy) = &f.remedy {
            writeln!(err, "    remedy: {}", printable(remedy))?;
        }
    }
    Ok(Exit::Partial.into())
}
