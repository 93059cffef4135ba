//! `consent grant | remove | verify`: the application's consent in the partners' customer
//! tenants, and proof that it works.
//!
//! `grant` makes two changes, each idempotent:
//! 1. Partner Center's application consent with the *delegated* permissions. Partner Center has
//!    no call that reads a consent back, so a 409 (one exists) is resolved by reading the `scp`
//!    of the partner user's delegated Graph token in that tenant: the same permissions are
//!    success ("already granted"), other ones an error asking for `--reset`, which deletes the
//!    consent and creates it again (as the Microsoft CPV sample and CIPP do).
//! 2. The *application* permissions, as app-role assignments through Graph with that delegated
//!    token (`app_roles`), once the consent's service principal has replicated there
//!    (`replication`): the missing ones are added; ones not asked for are removed with
//!    `--reset`, and reported otherwise.
//!
//! `verify` reads both back — the `scp` of a delegated token and the `roles` of the
//! application's app-only token there — and names every missing permission.

use std::io::{IsTerminal as _, Write};
use std::process::ExitCode;
use std::time::Instant;

use cli_kit::Failure;
use cli_kit::output::{self, OutputFormat};
use common::http::Tenant;
use common::partner_center::PartnerCenterError;
use common::partner_center::consents::ApplicationConsent;
use common::remedy::Remedy;
use futures::{StreamExt as _, TryStreamExt as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::app::App;
use super::app_roles::sync_app_roles;
use super::grants::{GrantMatch, Grants};
use super::replication::{WaitPolicy, Waits};
use super::report::{CustomerResult, Outcome, Summary, exit_code_of};

/// Page size of the customer listing.
const CUSTOMER_PAGE: u32 = 100;

/// Which customers: those named, or every customer of each partner.
#[derive(Clone, Debug)]
pub struct Targets {
    /// The partners.
    pub partners: Vec<String>,
    /// Customers named with `--customer` (all belong to the one partner).
    pub customers: Vec<String>,
    /// `--all-customers`.
    pub all: bool,
    /// Customers left out (`--exclude`, `[customers] exclude`; tenant IDs, lower case).
    pub exclude: std::collections::BTreeSet<String>,
    /// Check that each named customer belongs to the partner first (`GET /v1/customers/{id}`);
    /// `grant` leaves that to Partner Center's own refusal.
    pub check_membership: bool,
}

/// The (partner, customer) pairs to work on, and a failed result for each partner that cannot be
/// served (its token expired, its customers cannot be listed, a customer is not its own).
pub(crate) async fn resolve(
    app: &App,
    targets: &Targets,
) -> (Vec<(String, String)>, Vec<CustomerResult>) {
    let per_partner = futures::future::join_all(targets.partners.iter().map(|p| async move {
        if let Err(f) = app.check_partner(p).await {
            return (Vec::new(), vec![CustomerResult::failed(p, None, f)]);
        }
        let pc = app.partner_center(p);
        if targets.all {
            match pc
                .list_customers(CUSTOMER_PAGE, None)
                .try_collect::<Vec<_>>()
                .await
            {
                Ok(customers) => (
                    customers
                        .into_iter()
                        .map(|c| {
                            let id = if c.company_profile.tenant_id.is_empty() {
                                c.id
                            } else {
                                c.company_profile.tenant_id
                            };
                            let id = id.to_ascii_lowercase();
                            app.note_customer_name(&id, &c.company_profile.company_name);
                            (p.clone(), id)
                        })
                        .collect(),
                    Vec::new(),
                ),
                Err(e) => (
                    Vec::new(),
                    vec![CustomerResult::failed(
                        p,
                        None,
                        app.from_partner_center(p, None, &e),
                    )],
                ),
            }
        } else if targets.check_membership {
            let mut jobs = Vec::new();
            let mut failed = Vec::new();
            for c in &targets.customers {
                match pc.get_customer(c).await {
                    Ok(_) => jobs.push((p.clone(), c.to_ascii_lowercase())),
                    Err(e) => failed.push(CustomerResult::failed(
                        p,
                        Some(c),
                        app.from_partner_center(p, Some(c), &e),
                    )),
                }
            }
            (jobs, failed)
        } else {
            (
                targets
                    .customers
                    .iter()
                    .map(|c| (p.clone(), c.to_ascii_lowercase()))
                    .collect(),
                Vec::new(),
            )
        }
    }))
    .await;
    let mut jobs = Vec::new();
    let mut failed = Vec::new();
    for (j, f) in per_partner {
        jobs.extend(j);
        failed.extend(f);
    }
    jobs.retain(|(_, customer)| !targets.exclude.contains(customer));
    (jobs, failed)
}

/// One consent command's run: which customers, how many at once, how results are written.
#[derive(Clone, Debug)]
pub struct Run {
    /// Which customers.
    pub targets: Targets,
    /// Customers worked on at once.
    pub concurrency: usize,
    /// How the report is written.
    pub format: OutputFormat,
    /// How long `grant` waits for what it created to replicate.
    pub wait: WaitPolicy,
}

/// A progress bar on standard error when it is a terminal; hidden otherwise.
fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len as u64),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} customers, {per_sec}, ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Runs `op` on every (partner, customer) pair with at most `concurrency` in flight, then writes
/// the report. NDJSON lines are written as results arrive; table and JSON at the end, sorted.
/// A customer refused for want of GDAP access may only be waiting for it (a relationship
/// still activating, an assignment still pending: docs/microsoft-behaviour.md §6.2a): its
/// detail says so (tables and JSON; NDJSON lines are written as they come, before this).
async fn note_pending_access(app: &App, results: &mut [CustomerResult]) {
    use std::collections::BTreeMap;
    let mut by_partner: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in results.iter() {
        if let (Some(Remedy::GdapAccess), Some(c)) = (r.remedy, &r.customer) {
            by_partner
                .entry(r.partner.clone())
                .or_default()
                .push(c.clone());
        }
    }
    for (partner, customers) in by_partner {
        let graph = app.graph_as(&partner);
        let notes =
            common::graph::access::pending_notes(&graph, customers.iter().map(String::as_str))
                .await;
        for r in results.iter_mut().filter(|r| r.partner == partner) {
            if let Some(note) = r
                .customer
                .as_ref()
                .and_then(|c| notes.get(&c.to_ascii_lowercase()))
            {
                r.detail = format!("{} (GDAP access pending: {note})", r.detail);
            }
        }
    }
}

async fn fan_out<'a, F, Fut>(
    app: &'a App,
    run: &Run,
    what: &str,
    out: &mut dyn Write,
    op: F,
) -> ExitCode
where
    F: Fn(String, String) -> Fut,
    Fut: Future<Output = CustomerResult> + 'a,
{
    let started = Instant::now();
    let format = run.format;
    let (jobs, mut results) = resolve(app, &run.targets).await;
    if format == OutputFormat::Ndjson {
        for r in &results {
            let _ = output::write_ndjson(out, r);
        }
    }
    let bar = progress(jobs.len(), what);
    let mut stream = futures::stream::iter(jobs)
        .map(|(p, c)| op(p, c))
        .buffer_unordered(run.concurrency.max(1));
    while let Some(r) = stream.next().await {
        bar.inc(1);
        if format == OutputFormat::Ndjson {
            let _ = output::write_ndjson(out, &r);
        }
        results.push(r);
    }
    drop(stream);
    bar.finish_and_clear();
    note_pending_access(app, &mut results).await;
    results.sort_by(|a, b| (&a.partner, &a.customer).cmp(&(&b.partner, &b.customer)));
    let (pc, graph) = app.call_counts();
    let summary = Summary {
        outcomes: Summary::count(&results),
        partner_center_calls: pc.requests,
        graph_calls: graph.requests,
        throttled: pc.throttled + graph.throttled,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    tracing::info!(
        duration_ms = summary.elapsed_ms,
        partner_center.calls = summary.partner_center_calls,
        graph.calls = summary.graph_calls,
        throttled = summary.throttled,
        "{what}: {}",
        summary.line()
    );
    let written = match format {
        OutputFormat::Table => super::report::write_table(out, &results, &summary),
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct Doc<'a> {
                results: &'a [CustomerResult],
                summary: &'a Summary,
            }
            output::write_json(
                out,
                &Doc {
                    results: &results,
                    summary: &summary,
                },
            )
        }
        OutputFormat::Ndjson => Ok(()),
    };
    if written.is_err() {
        return ExitCode::FAILURE;
    }
    exit_code_of(&results)
}

/// The permissions `consent grant` gives and `consent verify` expects.
#[derive(Clone, Debug, Default)]
pub struct Asked {
    /// Delegated permissions (Partner Center's application consent).
    pub delegated: Grants,
    /// Application permissions (app-role assignments through Graph).
    pub application: Grants,
}

/// `consent grant`: `run.concurrency` customers work at once; one waiting for replication
/// ([`super::replication`]) holds no slot, so every customer starts as soon as a slot is free;
/// progress of the waits goes to `err`.
pub async fn grant(
    app: &App,
    run: &Run,
    asked: &Asked,
    reset: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let consent = ApplicationConsent {
        application_id: app.app_id().to_owned(),
        display_name: app.display_name().to_owned(),
        application_grants: asked.delegated.to_application_grants(),
    };
    let consent = &consent;
    let waits = Waits::new(run.concurrency, run.wait, err);
    let waits = &waits;
    // Every customer is under way at once; the slots of `waits` bound the work.
    let all_at_once = Run {
        concurrency: usize::MAX,
        ..run.clone()
    };
    fan_out(
        app,
        &all_at_once,
        "granting consent",
        out,
        |p, c| async move { grant_one(app, waits, &p, &c, (consent, asked), reset).await },
    )
    .await
}

async fn grant_one(
    app: &App,
    waits: &Waits<'_>,
    partner: &str,
    customer: &str,
    (consent, asked): (&ApplicationConsent, &Asked),
    reset: bool,
) -> CustomerResult {
    let slot = waits.slot().await;
    let (outcome, detail) =
        match consent_delegated(app, partner, customer, consent, &asked.delegated, reset).await {
            Ok(done) => done,
            Err(f) => return CustomerResult::failed(partner, Some(customer), f),
        };
    drop(slot);
    if asked.application.is_empty() {
        return CustomerResult::ok(partner, customer, outcome, detail);
    }
    match sync_app_roles(app, waits, (partner, customer), &asked.application, reset).await {
        Ok((changed, roles)) => {
            let outcome = if changed && outcome == Outcome::AlreadyGranted {
                Outcome::Granted
            } else {
                outcome
            };
            CustomerResult::ok(partner, customer, outcome, format!("{detail}; {roles}"))
        }
        Err(f) => CustomerResult::failed(
            partner,
            Some(customer),
            Failure {
                message: format!("{detail}, but {}", f.message),
                ..f
            },
        ),
    }
}

/// Step 1: Partner Center's application consent of the delegated permissions.
async fn consent_delegated(
    app: &App,
    partner: &str,
    customer: &str,
    consent: &ApplicationConsent,
    delegated: &Grants,
    reset: bool,
) -> Result<(Outcome, String), Failure> {
    let create = || {
        app.consent_call(partner, |pc| async move {
            pc.create_application_consent(customer, consent).await
        })
    };
    let fail = |e: &PartnerCenterError| app.from_partner_center(partner, Some(customer), e);
    // A token cached before this change would carry the old scopes.
    let forget = || {
        app.broker()
            .forget_delegated_token(partner, customer, common::cloud::Resource::Graph);
    };
    match create().await {
        Ok(_) => {
            forget();
            Ok((Outcome::Granted, format!("delegated {delegated} granted")))
        }
        Err(PartnerCenterError::Api { status: 409, .. }) if reset => {
            let deleted = app
                .consent_call(partner, |pc| async move {
                    pc.delete_application_consent(customer, app.app_id()).await
                })
                .await;
            match deleted {
                Ok(()) | Err(PartnerCenterError::Api { status: 404, .. }) => {}
                Err(e) => return Err(fail(&e)),
            }
            create().await.map_err(|e| fail(&e))?;
            forget();
            Ok((
                Outcome::Reset,
                format!("deleted and granted again: delegated {delegated}"),
            ))
        }
        Err(PartnerCenterError::Api { status: 409, .. }) => {
            existing_delegated(app, partner, customer, delegated).await
        }
        Err(e) => Err(fail(&e)),
    }
}

/// A consent exists: compare its delegated Graph permissions with those asked for.
async fn existing_delegated(
    app: &App,
    partner: &str,
    customer: &str,
    delegated: &Grants,
) -> Result<(Outcome, String), Failure> {
    let scopes = app
        .delegated_graph_scopes(partner, customer, true)
        .await
        .map_err(|mut f| {
            f.message = format!(
                "a consent exists but its permissions cannot be read ({}); re-run with --reset to replace it",
                f.message
            );
            f
        })?;
    let unverified = if delegated.has_other_resources() {
        " (permissions on resources other than Microsoft Graph cannot be read back; use --reset to be sure)"
    } else {
        ""
    };
    match delegated.compare_graph(&scopes) {
        GrantMatch::Same => Ok((
            Outcome::AlreadyGranted,
            format!("delegated {delegated} already granted{unverified}"),
        )),
        GrantMatch::Different { missing, extra } => Err(Failure::new(format!(
            "a consent with other delegated permissions exists ({}); re-run with --reset to delete it and grant {delegated}",
            difference(&missing, &extra)
        ))),
    }
}

fn difference(missing: &[String], extra: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(",")));
    }
    if !extra.is_empty() {
        parts.push(format!("also holds {}", extra.join(",")));
    }
    parts.join("; ")
}

/// `consent remove`.
pub async fn remove(app: &App, run: &Run, out: &mut dyn Write) -> ExitCode {
    fan_out(app, run, "removing consent", out, |p, c| async move {
        let result = app
            .consent_call(&p, |pc| {
                let c = c.clone();
                async move { pc.delete_application_consent(&c, app.app_id()).await }
            })
            .await;
        match result {
            Ok(()) => CustomerResult::ok(&p, &c, Outcome::Removed, "consent removed"),
            Err(PartnerCenterError::Api { status: 404, .. }) => CustomerResult::ok(
                &p,
                &c,
                Outcome::Absent,
                "no consent of the application was present",
            ),
            Err(e) => {
                CustomerResult::failed(&p, Some(&c), app.from_partner_center(&p, Some(&c), &e))
            }
        }
    })
    .await
}

/// Application permissions that let an app-only token read users.
pub const READS_USERS: [&str; 4] = [
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// `consent verify`: the delegated grant (the `scp` of the partner user's delegated Graph token
/// in the customer tenant) and the app-role assignments (the `roles` of the application's
/// app-only token there), each compared with what is expected; then one app-only Graph read when
/// the roles allow it.
pub async fn verify(app: &App, run: &Run, asked: &Asked, out: &mut dyn Write) -> ExitCode {
    fan_out(app, run, "verifying consent", out, |p, c| async move {
        verify_one(app, &p, &c, asked).await
    })
    .await
}

async fn verify_one(app: &App, partner: &str, customer: &str, asked: &Asked) -> CustomerResult {
    let scopes = match app.delegated_graph_scopes(partner, customer, false).await {
        Ok(s) => s,
        Err(f) => return CustomerResult::failed(partner, Some(customer), f),
    };
    let roles = match app.graph_roles(customer).await {
        Ok(r) => r,
        Err(f) if asked.application.is_empty() && f.remedy == Remedy::CustomerConsent => Vec::new(),
        Err(f) => return CustomerResult::failed(partner, Some(customer), f),
    };
    let missing = |wanted: &Grants, held: &[String]| match wanted.compare_graph(held) {
        GrantMatch::Different { missing, .. } => missing,
        GrantMatch::Same => Vec::new(),
    };
    let (no_scopes, no_roles) = (
        missing(&asked.delegated, &scopes),
        missing(&asked.application, &roles),
    );
    if !no_scopes.is_empty() || !no_roles.is_empty() {
        let mut parts = Vec::new();
        if !no_scopes.is_empty() {
            parts.push(format!("delegated {} missing", no_scopes.join(",")));
        }
        if !no_roles.is_empty() {
            parts.push(format!("application {} missing", no_roles.join(",")));
        }
        return CustomerResult::failed(
            partner,
            Some(customer),
            Failure::with_remedy(
                format!(
                    "{}: grant them with `{} consent grant --customer {customer} …`",
                    parts.join("; "),
                    app.tool()
                ),
                Remedy::CustomerConsent,
            ),
        );
    }
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_owned()
        } else {
            l.join(",")
        }
    };
    let mut detail = format!(
        "delegated: {}; application: {}",
        list(&scopes),
        list(&roles)
    );
    if roles
        .iter()
        .any(|r| READS_USERS.iter().any(|u| u.eq_ignore_ascii_case(r)))
    {
        if let Err(e) = app
            .graph()
            .get_raw(Tenant::Customer(customer), "v1.0/users?$top=1&$select=id")
            .await
        {
            return CustomerResult::failed(partner, Some(customer), app.from_graph(customer, &e));
        }
        detail.push_str("; an app-only Graph read succeeded");
    }
    CustomerResult::ok(partner, customer, Outcome::Verified, detail)
}
