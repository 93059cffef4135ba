//! GDAP changes Graph completes later (docs/microsoft-behaviour.md §6.2a), with the emulator's
//! transitional states lasting 30 s each on its clock: the commands wait for the final state
//! (the clock is moved on by a background task while they wait, so no test waits for minutes),
//! print each new state on stderr, and return at once with `--no-wait`; a `pending` assignment
//! is not access.

use std::time::Duration;

use emulator::EmulatorClock;
use emulator::partner_data::gdap::GdapTimings;
use emulator::partner_data::ids::{ADMIN_AGENTS_GROUP, GDAP_NORTHWIND};

use crate::helpers::{TAILSPIN, TestApp, spawn};

const STEP: u64 = 30;
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

/// Moves the emulator's clock 10 s on every 100 ms until dropped.
struct Ticker(tokio::task::JoinHandle<()>);

impl Ticker {
    fn start(clock: EmulatorClock) -> Self {
        Ticker(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                clock.advance(Duration::from_secs(10));
            }
        }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn slow_gdap() -> TestApp {
    let app = spawn().await;
    app.emu.set_gdap_timings(GdapTimings::uniform(STEP));
    app
}

/// A relationship with Tailspin, created, locked and approved by the customer: `approved`.
async fn approved_relationship(app: &TestApp) -> String {
    let out = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "create",
            "--display-name",
            "Tailspin waits",
            "--customer",
            TAILSPIN,
            "--duration",
            "P30D",
            "--role",
            DIRECTORY_READERS,
        ])
        .await;
    out.assert_code(0);
    let id = out.json()["id"].as_str().unwrap().to_owned();
    let lock = app
        .run(&["-o", "json", "gdap", "lock-for-approval", &id])
        .await;
    lock.assert_code(0);
    assert_eq!(
        lock.json()["status"],
        "created",
        "the lock request completes later"
    );
    app.emu.advance_clock(Duration::from_secs(STEP));
    app.emu.approve_gdap_relationship(&id, None).unwrap();
    id
}

fn assign_args<'a>(id: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "-o",
        "json",
        "gdap",
        "assign",
        "--relationship",
        id,
        "--group",
        ADMIN_AGENTS_GROUP,
        "--role",
        "Directory Readers",
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_right_after_approval_waits_for_activation_then_for_the_assignment() {
    let app = slow_gdap().await;
    let id = approved_relationship(&app).await;
    // --no-wait: the relationship is not active yet; say so rather than let Graph refuse.
    let now = app.run(&assign_args(&id, &["--no-wait"])).await;
    now.assert_code(1);
    assert!(
        now.stderr
            .contains(&format!("relationship {id} is approved")),
        "{}",
        now.stderr
    );
    let _ticker = Ticker::start(app.emu.clock());
    let out = app.run(&assign_args(&id, &[])).await;
    out.assert_code(0);
    assert_eq!(out.json()["status"], "active");
    assert_eq!(out.json()["result"], "assigned");
    for line in [
        format!("waiting for relationship {id} to be active: approved"),
        "to be active: pending".to_owned(),
    ] {
        assert!(out.stderr.contains(&line), "{line:?} in {}", out.stderr);
    }
    let check = app.run(&["gdap", "check", "--customer", TAILSPIN]).await;
    check.assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_assignment_is_not_access_and_check_says_it_is_pending() {
    let app = slow_gdap().await;
    let id = approved_relationship(&app).await;
    app.emu.advance_clock(Duration::from_secs(2 * STEP));
    let out = app.run(&assign_args(&id, &["--no-wait"])).await;
    out.assert_code(0);
    assert_eq!(out.json()["status"], "pending");
    let check = app
        .run(&["-o", "json", "gdap", "check", "--customer", TAILSPIN])
        .await;
    check.assert_code(1);
    assert_eq!(check.json()["roles"], serde_json::json!([]));
    assert_eq!(check.json()["accessPending"], true);
    assert!(
        check
            .stderr
            .contains("is pending: the access assignment of group"),
        "{}",
        check.stderr
    );
    // The users fan-out says so too for that customer.
    let users = app
        .run(&["-o", "ndjson", "users", "list", "--all-customers"])
        .await;
    users.assert_code(4);
    assert!(
        users.stderr.contains("note: GDAP access is pending"),
        "{}",
        users.stderr
    );
    // And the consent fan-out, whose application-permission step needs that access.
    let consent = app
        .run(&[
            "-o",
            "json",
            "consent",
            "grant",
            "--customer",
            TAILSPIN,
            "--delegated",
            "graph:User.Read.All,AppRoleAssignment.ReadWrite.All,Application.Read.All",
            "--application",
            "graph:User.Read.All",
        ])
        .await;
    assert_ne!(
        consent.code,
        std::process::ExitCode::SUCCESS,
        "{}",
        consent.stdout
    );
    assert!(!consent.stdout.is_empty(), "{}", consent.stderr);
    let detail = consent.json()["results"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("(GDAP access pending: "), "{detail}");
    app.emu.advance_clock(Duration::from_secs(STEP));
    let check = app.run(&["gdap", "check", "--customer", TAILSPIN]).await;
    check.assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_waits_until_terminated_or_returns_at_once_with_no_wait() {
    let app = slow_gdap().await;
    let now = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "terminate",
            "--relationship",
            GDAP_NORTHWIND,
            "--no-wait",
        ])
        .await;
    now.assert_code(0);
    assert_eq!(now.json()["status"], "terminationRequested");
    assert_eq!(now.json()["result"], "termination requested");
    // Again, waiting: no second request; it waits the termination out.
    let _ticker = Ticker::start(app.emu.clock());
    let out = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "terminate",
            "--relationship",
            GDAP_NORTHWIND,
        ])
        .await;
    out.assert_code(0);
    assert_eq!(out.json()["status"], "terminated");
    assert_eq!(out.json()["result"], "termination under way");
    assert!(
        out.stderr.contains("to be terminated: terminat"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_outlasts_its_budget_fails_saying_what_is_awaited() {
    let app = slow_gdap().await;
    let id = approved_relationship(&app).await;
    let out = app.run(&assign_args(&id, &["--wait-timeout", "2s"])).await;
    out.assert_code(1);
    assert!(
        out.stderr
            .contains(&format!("relationship {id} is still approved after")),
        "{}",
        out.stderr
    );
}
