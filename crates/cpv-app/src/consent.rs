//! `consent grant | remove | verify`: Partner Center application consents in the partners'
//! customer tenants, and proof that they work.
//!
//! Partner Center has no call that reads a consent back, so `grant` is made idempotent from the
//! answers: a 201 is a new consent; a 409 means one exists, and the application's app-only Graph
//! token in that tenant tells which Graph permissions it holds (its `roles`): the same ones are
//! success ("already granted"), other ones an error asking for `--reset`, which deletes the
//! consent and creates it again (as the Microsoft CPV sample and CIPP do).

use std::io::{IsTerminal as _, Write};
use std::process::ExitCode;
use std::time::Instant;

use cli_kit::Failure;
use cli_kit::output::{self, OutputFormat};
use common::http::Tenant;
use common::partner_center::PartnerCenterError;
use common::partner_center::consents::ApplicationConsent;
use futures::{StreamExt as _, TryStreamExt as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::context::App;
use crate::grants::{GrantMatch, Grants};
use crate::report::{CustomerResult, Outcome, Summary, exit_code_of};

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
    /// Check that each named customer belongs to the partner first (`GET /v1/customers/{id}`);
    /// `grant` leaves that to Partner Center's own refusal.
    pub check_membership: bool,
}

/// The (partner, customer) pairs to work on, and a failed result for each partner that cannot be
/// served (its token expired, its customers cannot be listed, a customer is not its own).
async fn resolve(app: &App, targets: &Targets) -> (Vec<(String, String)>, Vec<CustomerResult>) {
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
                            (p.clone(), id.to_ascii_lowercase())
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
        OutputFormat::Table => {
            output::write_table(out, &results).and_then(|()| writeln!(out, "\n{}", summary.line()))
        }
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

/// `consent grant`.
pub async fn grant(
    app: &App,
    run: &Run,
    grants: &Grants,
    reset: bool,
    out: &mut dyn Write,
) -> ExitCode {
    let consent = ApplicationConsent {
        application_id: app.app_id().to_owned(),
        display_name: app.display_name().to_owned(),
        application_grants: grants.to_application_grants(),
    };
    let consent = &consent;
    fan_out(app, run, "granting consent", out, |p, c| async move {
        grant_one(app, &p, &c, consent, grants, reset).await
    })
    .await
}

async fn grant_one(
    app: &App,
    partner: &str,
    customer: &str,
    consent: &ApplicationConsent,
    grants: &Grants,
    reset: bool,
) -> CustomerResult {
    let create = || {
        app.consent_call(partner, |pc| async move {
            pc.create_application_consent(customer, consent).await
        })
    };
    let fail = |e: &PartnerCenterError| {
        CustomerResult::failed(
            partner,
            Some(customer),
            app.from_partner_center(partner, Some(customer), e),
        )
    };
    match create().await {
        Ok(_) => CustomerResult::ok(partner, customer, Outcome::Granted, grants.to_string()),
        Err(PartnerCenterError::Api { status: 409, .. }) if reset => {
            let deleted = app
                .consent_call(partner, |pc| async move {
                    pc.delete_application_consent(customer, app.app_id()).await
                })
                .await;
            match deleted {
                Ok(()) | Err(PartnerCenterError::Api { status: 404, .. }) => {}
                Err(e) => return fail(&e),
            }
            match create().await {
                Ok(_) => CustomerResult::ok(
                    partner,
                    customer,
                    Outcome::Reset,
                    format!("deleted and granted again: {grants}"),
                ),
                Err(e) => fail(&e),
            }
        }
        Err(PartnerCenterError::Api { status: 409, .. }) => {
            existing(app, partner, customer, grants).await
        }
        Err(e) => fail(&e),
    }
}

/// A consent exists: compare its Graph permissions with those asked for.
async fn existing(app: &App, partner: &str, customer: &str, grants: &Grants) -> CustomerResult {
    let roles = match app.graph_roles(customer).await {
        Ok(r) => r,
        Err(mut f) => {
            f.message = format!(
                "a consent exists but its permissions cannot be read ({}); re-run with --reset to replace it",
                f.message
            );
            return CustomerResult::failed(partner, Some(customer), f);
        }
    };
    let unverified = if grants.has_other_resources() {
        " (permissions on resources other than Microsoft Graph cannot be read back; use --reset to be sure)"
    } else {
        ""
    };
    match grants.compare_graph(&roles) {
        GrantMatch::Same => CustomerResult::ok(
            partner,
            customer,
            Outcome::AlreadyGranted,
            format!("already granted: {grants}{unverified}"),
        ),
        GrantMatch::Different { missing, extra } => {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing {}", missing.join(",")));
            }
            if !extra.is_empty() {
                parts.push(format!("also holds {}", extra.join(",")));
            }
            CustomerResult::failed(
                partner,
                Some(customer),
                Failure::new(format!(
                    "a consent with other permissions exists ({}); re-run with --reset to delete it and grant {grants}",
                    parts.join("; ")
                )),
            )
        }
    }
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

/// `consent verify`: an app-only token in the customer tenant, then one Graph read with it.
pub async fn verify(app: &App, run: &Run, out: &mut dyn Write) -> ExitCode {
    fan_out(app, run, "verifying consent", out, |p, c| async move {
        let roles = match app.graph_roles(&c).await {
            Ok(r) => r,
            Err(f) => return CustomerResult::failed(&p, Some(&c), f),
        };
        match app
            .graph()
            .get_raw(Tenant::Customer(&c), "v1.0/users?$top=1&$select=id")
            .await
        {
            Ok(_) => CustomerResult::ok(
                &p,
                &c,
                Outcome::Verified,
                format!(
                    "app-only token works; Graph roles: {}",
                    if roles.is_empty() {
                        "none".to_owned()
                    } else {
                        roles.join(",")
                    }
                ),
            ),
            Err(e) => CustomerResult::failed(&p, Some(&c), app.from_graph(&c, &e)),
        }
    })
    .await
}
