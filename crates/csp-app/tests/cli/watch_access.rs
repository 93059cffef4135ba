//! The watch's customer selection and its access check, through the emulator: excluded
//! customers are not reported, `--customer` narrows the watch to that customer, each access
//! cause is a finding notified on change, the check keeps to its schedule (request counters),
//! and the console's customers page reads the results and the onboarding journal.

use std::sync::Arc;
use std::time::Duration;

use cli_kit::SelectionArgs;
use csp_app::watch::access_check::CustomerWatch;
use csp_app::watch::notify::WebhookFormat;
use csp_app::watch::{CycleReport, Finding, State, Watcher};
use emulator::partner_data::ids::{GDAP_FABRIKAM, GDAP_NORTHWIND, HELPDESK_GROUP};
use serde_json::Value;

use crate::helpers::{FABRIKAM, NORTHWIND, TAILSPIN, TestApp, spawn};
use crate::onboard::helpdesk_template;
use crate::watch::{EmulatorTime, Receiver, calls_about, options, spawn_watched};

const REDEMPTIONS: &str = "entra.token.refresh_token";
const MEMBER_OF: &str = "graph.users.memberOf";

/// `watch --once` as JSON, with extra arguments; its findings, exit code and stderr.
async fn watch_once(app: &TestApp, extra: &[&str]) -> (Vec<Value>, String, String) {
    let state = app.dir.path().join("cli-state.json").display().to_string();
    let mut args = vec![
        "-o",
        "json",
        "watch",
        "--once",
        "--listen",
        "off",
        "--state-file",
        &state,
    ];
    args.extend_from_slice(extra);
    let out = app.run(&args).await;
    let code = format!("{:?}", out.code);
    let findings = out.json().as_array().cloned().unwrap_or_default();
    (findings, code, out.stderr)
}

fn subjects<'a>(findings: &'a [Value], check: &str) -> Vec<&'a str> {
    let mut list: Vec<&str> = findings
        .iter()
        .filter(|f| f["check"] == check)
        .map(|f| f["subject"].as_str().unwrap())
        .collect();
    list.sort_unstable();
    list
}

/// What the watch covers and checks: `selection` (the fan-outs' flags), access every `every`
/// seconds, the onboarding journal of the `onboard` helper.
async fn customers(app: &TestApp, selection: SelectionArgs, every: i64) -> CustomerWatch {
    let ctx = app.context().await;
    let mut watch = CustomerWatch::from_settings(&ctx.settings);
    watch.selection = selection.resolve(&ctx.settings.customers).unwrap();
    watch.access_every = Some(every);
    watch.journal = app.dir.path().join("journal.ndjson");
    watch
}

fn only(customer: &str) -> SelectionArgs {
    SelectionArgs {
        customers: vec![customer.to_owned()],
        ..SelectionArgs::default()
    }
}

fn everyone() -> SelectionArgs {
    SelectionArgs {
        all_customers: true,
        ..SelectionArgs::default()
    }
}

/// One cycle on a fresh context and watcher (a restart each time: the state file carries the
/// results); the report, the metrics and what the console would read.
async fn cycle(
    app: &TestApp,
    hook: &Receiver,
    watch: &CustomerWatch,
) -> (
    CycleReport,
    String,
    Arc<csp_app::watch::snapshot::LastCycle>,
) {
    let ctx = app.context().await;
    let clock = Arc::new(EmulatorTime(app.emu.clock()));
    let watcher = Watcher::new(&ctx, options(app, hook, WebhookFormat::Generic), clock)
        .unwrap()
        .with_customers(watch.clone());
    let report = watcher.cycle().await;
    ctx.broker.flush().await;
    let shared = watcher.shared();
    (report, shared.render_metrics(), shared.last())
}

fn access_finding<'a>(report: &'a CycleReport, customer: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.check == "access" && &*f.subject == customer)
        .unwrap_or_else(|| panic!("no access finding for {customer}: {:#?}", report.findings))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excluded_customer_gets_no_finding_and_the_selection_is_printed() {
    let app = spawn_watched().await;
    let (all, code, err) = watch_once(&app, &[]).await;
    assert_eq!(
        subjects(&all, "access"),
        sorted([FABRIKAM, NORTHWIND]),
        "{code} {err}"
    );
    assert!(subjects(&all, "gdap").contains(&GDAP_NORTHWIND), "{all:#?}");
    assert!(err.contains("every customer of the partner"), "{err}");
    assert!(err.contains("access check every 1d"), "{err}");

    let (some, _, err) = watch_once(&app, &["--exclude", NORTHWIND]).await;
    assert!(err.contains(&format!("excluding {NORTHWIND}")), "{err}");
    let text = serde_json::to_string(&some).unwrap();
    assert!(!text.contains(NORTHWIND), "{some:#?}");
    assert!(!text.contains(GDAP_NORTHWIND), "{some:#?}");
    assert_eq!(subjects(&some, "access"), [FABRIKAM]);
    assert_eq!(subjects(&some, "gdap"), [GDAP_FABRIKAM]);

    // Nor a gauge (the library's watcher, as the service runs it).
    let hook = Receiver::start();
    let selection = SelectionArgs {
        exclude: vec![NORTHWIND.to_owned()],
        ..everyone()
    };
    let watch = customers(&app, selection, 86_400).await;
    let (report, metrics, last) = cycle(&app, &hook, &watch).await;
    assert!(!metrics.contains(NORTHWIND), "{metrics}");
    assert!(!metrics.contains(GDAP_NORTHWIND), "{metrics}");
    assert!(metrics.contains(GDAP_FABRIKAM), "{metrics}");
    assert!(
        report
            .findings
            .iter()
            .all(|f| !f.subject.contains(NORTHWIND))
    );
    assert!(last.relationships.iter().all(|r| &*r.id != GDAP_NORTHWIND));
    // Each relationship kept for the console carries the state of its finding.
    assert!(!last.relationships.is_empty());
    for r in &last.relationships {
        let finding = report
            .findings
            .iter()
            .find(|f| f.check == "gdap" && f.subject == r.id)
            .map(|f| f.state);
        assert_eq!(r.state, finding, "{r:?}");
    }

    // The configured exclusion applies unless overridden.
    app.append_config(&format!("\n[customers]\nexclude = [\"{FABRIKAM}\"]\n"));
    let (configured, _, err) = watch_once(&app, &[]).await;
    assert!(err.contains("1 from the configuration"), "{err}");
    assert!(
        !serde_json::to_string(&configured)
            .unwrap()
            .contains(FABRIKAM)
    );
    let (overridden, _, _) = watch_once(&app, &["--no-default-exclude"]).await;
    assert_eq!(
        subjects(&overridden, "access"),
        sorted([FABRIKAM, NORTHWIND])
    );
}

fn sorted<const N: usize>(mut list: [&str; N]) -> [&str; N] {
    list.sort_unstable();
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_with_customer_checks_that_customer_only() {
    let app = spawn_watched().await;
    let before = app.emu.counter(REDEMPTIONS);
    let (findings, code, err) = watch_once(&app, &["--customer", FABRIKAM]).await;
    assert!(err.contains(&format!("1 customer ({FABRIKAM})")), "{err}");
    assert_eq!(subjects(&findings, "access"), [FABRIKAM], "{code} {err}");
    assert_eq!(subjects(&findings, "gdap"), [GDAP_FABRIKAM]);
    let access = findings.iter().find(|f| f["check"] == "access").unwrap();
    assert_eq!(access["state"], "ok", "{access}");
    // The keepalive's redemption and one token at Fabrikam's authority: no other customer.
    assert_eq!(app.emu.counter(REDEMPTIONS) - before, 2);
    // The same from a tenants file.
    let file = app.dir.path().join("tenants.txt");
    std::fs::write(&file, format!("# this week\n{FABRIKAM}\n")).unwrap();
    let file = file.display().to_string();
    let (findings, _, _) = watch_once(&app, &["--tenants-file", &file]).await;
    assert_eq!(subjects(&findings, "access"), [FABRIKAM]);
    assert_eq!(subjects(&findings, "gdap"), [GDAP_FABRIKAM]);
    // `off`: no access check.
    let (findings, _, err) = watch_once(&app, &["--access-check-every", "off"]).await;
    assert!(subjects(&findings, "access").is_empty(), "{findings:#?}");
    assert!(err.contains("access check off"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_access_cause_is_a_finding_notified_when_it_changes() {
    let app = spawn().await;
    app.append_config(&helpdesk_template());
    let hook = Receiver::start();
    let watch = customers(&app, only(TAILSPIN), 3_600).await;
    let next_check = || {
        app.emu.advance_clock(Duration::from_secs(3_601));
    };
    // No relationship: a warning, notified.
    let (report, metrics, last) = cycle(&app, &hook, &watch).await;
    let found = access_finding(&report, TAILSPIN);
    assert_eq!(found.state, State::Warning, "{found:?}");
    assert!(found.message.contains("noRelationship"), "{found:?}");
    assert!(found.message.contains("remedy: onboard"), "{found:?}");
    assert!(
        metrics.contains(&format!(
            "sam_customer_access{{customer=\"{TAILSPIN}\",cause=\"noRelationship\"}} 1"
        )),
        "{metrics}"
    );
    assert_eq!(last.access.len(), 1);
    assert_eq!(calls_about(&hook.bodies(), "access", TAILSPIN).len(), 1);
    // Onboarding stops at the customer's approval: the relationship changed, so the check runs
    // at the next cycle; the console reads the journal's step.
    app.onboard(&["--customer", TAILSPIN, "--template", "helpdesk"])
        .await
        .assert_code(0);
    let (report, _, last) = cycle(&app, &hook, &watch).await;
    let found = access_finding(&report, TAILSPIN);
    assert!(found.message.contains("relationshipNotActive"), "{found:?}");
    assert_eq!(last.onboarding.len(), 1);
    assert_eq!(last.onboarding[0].tenant_id, TAILSPIN);
    // Approved: active, no assignment yet.
    let id = app.live_relationships(TAILSPIN).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.emu.approve_gdap_relationship(&id, None).unwrap();
    let (report, _, _) = cycle(&app, &hook, &watch).await;
    let found = access_finding(&report, TAILSPIN);
    assert_eq!(found.state, State::Warning);
    assert!(found.message.contains("assignmentPending"), "{found:?}");
    // The account's group, the app not consented there yet: critical, notified.
    app.run(&[
        "gdap",
        "assign",
        "--relationship",
        &id,
        "--group",
        HELPDESK_GROUP,
        "--role",
        "Directory Readers",
    ])
    .await
    .assert_code(0);
    next_check();
    let (report, metrics, last) = cycle(&app, &hook, &watch).await;
    let found = access_finding(&report, TAILSPIN);
    assert_eq!(found.state, State::Critical, "{found:?}");
    assert!(found.message.contains("appNotConsented"), "{found:?}");
    assert!(
        metrics.contains("cause=\"appNotConsented\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        last.access[0].consent,
        csp_app::watch::state::Consent::NotConsented
    );
    let bodies = hook.bodies();
    let calls = calls_about(&bodies, "access", TAILSPIN);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[1]["state"], "critical");
    assert_eq!(calls[1]["previousState"], "warning");
    // Onboarding again consents the app: access works; the recovery is notified.
    app.onboard(&["--customer", TAILSPIN, "--template", "helpdesk"])
        .await
        .assert_code(0);
    next_check();
    let (report, _, last) = cycle(&app, &hook, &watch).await;
    let found = access_finding(&report, TAILSPIN);
    assert_eq!(found.state, State::Ok, "{found:?}");
    assert!(found.message.contains("works"), "{found:?}");
    assert_eq!(
        last.access[0].consent,
        csp_app::watch::state::Consent::Consented
    );
    let bodies = hook.bodies();
    let calls = calls_about(&bodies, "access", TAILSPIN);
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert_eq!(calls[2]["state"], "ok");
    assert_eq!(calls[2]["previousState"], "critical");
    crate::watch::assert_bodies_hold_no_secret(&app, &hook).await;
}

/// A fresh `setup` has consented the app in no customer, and a CSP consents it only where it
/// automates: there "not consented" is no fault. Where access is expected (the customer named,
/// or onboarded with `onboard`) it stays critical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_the_app_was_never_consented_in_is_skipped_unless_access_is_expected_there() {
    let app = spawn().await;
    app.append_config(&helpdesk_template());
    let hook = Receiver::start();
    app.onboard(&["--customer", TAILSPIN, "--template", "helpdesk"])
        .await
        .assert_code(0);
    let id = app.live_relationships(TAILSPIN).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.emu.approve_gdap_relationship(&id, None).unwrap();
    app.run(&[
        "gdap",
        "assign",
        "--relationship",
        &id,
        "--group",
        HELPDESK_GROUP,
        "--role",
        "Directory Readers",
    ])
    .await
    .assert_code(0);
    // Every customer, no onboarding journal: Tailspin is not expected to have the app.
    let mut all = customers(&app, everyone(), 3_600).await;
    all.journal = app.dir.path().join("no-journal.ndjson");
    let (report, _, _) = cycle(&app, &hook, &all).await;
    let found = access_finding(&report, TAILSPIN);
    assert_eq!(found.state, State::Skipped, "{found:?}");
    assert!(found.message.contains("appNotConsented"), "{found:?}");
    assert!(
        found.message.contains("csp-app consent grant --customer"),
        "{found:?}"
    );
    for customer in [FABRIKAM, NORTHWIND] {
        assert_eq!(access_finding(&report, customer).state, State::Ok);
    }
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.check == "access" && f.state.needs_attention()),
        "{:#?}",
        report.findings
    );
    // Onboarded (the journal read) or named: critical.
    for watch in [
        customers(&app, everyone(), 3_600).await,
        customers(&app, only(TAILSPIN), 3_600).await,
    ] {
        let (report, _, _) = cycle(&app, &hook, &watch).await;
        let found = access_finding(&report, TAILSPIN);
        assert_eq!(found.state, State::Critical, "{found:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_check_keeps_to_its_schedule_across_restarts() {
    let app = spawn().await;
    let hook = Receiver::start();
    let watch = customers(&app, everyone(), 86_400).await;
    let counted = || (app.emu.counter(REDEMPTIONS), app.emu.counter(MEMBER_OF));
    let before = counted();
    let (report, metrics, _) = cycle(&app, &hook, &watch).await;
    for customer in [FABRIKAM, NORTHWIND] {
        assert_eq!(access_finding(&report, customer).state, State::Ok);
        assert!(metrics.contains(&format!(
            "sam_customer_access{{customer=\"{customer}\",cause=\"works\"}} 1"
        )));
    }
    let first = counted();
    // The keepalive, and a token at each customer's authority; the account's groups once.
    assert_eq!((first.0 - before.0, first.1 - before.1), (3, 1));
    // A second cycle (a restart: a fresh watcher reading the state file) an hour later: the
    // results are reported again, nothing is checked again.
    app.emu.advance_clock(Duration::from_secs(3_600));
    let (report, _, last) = cycle(&app, &hook, &watch).await;
    assert_eq!(access_finding(&report, FABRIKAM).state, State::Ok);
    assert_eq!(last.access.len(), 2);
    let second = counted();
    assert_eq!((second.0 - first.0, second.1 - first.1), (1, 0));
    // A day later both are due again.
    app.emu.advance_clock(Duration::from_secs(86_400));
    cycle(&app, &hook, &watch).await;
    let third = counted();
    assert_eq!((third.0 - second.0, third.1 - second.1), (3, 1));
    // Nothing changed: the access findings were notified once (first seen ok sends nothing).
    assert!(calls_about(&hook.bodies(), "access", FABRIKAM).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_group_listing_skips_the_access_check_saying_how_to_enable_it() {
    let app = spawn().await;
    let hook = Receiver::start();
    app.emu.inject_fault(
        emulator::Fault::status(emulator::Service::Graph, 403).on_route("/me/memberOf"),
    );
    let watch = customers(&app, everyone(), 86_400).await;
    let (report, _, last) = cycle(&app, &hook, &watch).await;
    let skipped = access_finding(&report, "memberships");
    assert_eq!(skipped.state, State::Skipped, "{skipped:?}");
    assert!(skipped.message.contains("User.Read"), "{skipped:?}");
    assert!(!report.errors.contains(&"access"), "{:?}", report.errors);
    assert!(last.access.is_empty());
}
