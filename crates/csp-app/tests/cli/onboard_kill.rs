//! `kill -9` at every step of `onboard`: the real binary, spawned against the in-process
//! emulator, is killed as soon as the journal shows each step; the next run resumes. At the
//! end there is exactly one relationship and one access assignment, and the customer is done.

use std::process::Stdio;
use std::time::{Duration, Instant};

use emulator::partner_data::gdap::GdapTimings;
use serde_json::Value;

use crate::helpers::{TAILSPIN, TestApp, spawn};
use crate::onboard::helpdesk_template;

/// The step the journal shows for a tenant (its last line), if any.
fn journal_step(app: &TestApp, tenant: &str) -> Option<String> {
    let text = std::fs::read_to_string(app.dir.path().join("journal.ndjson")).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["tenantId"] == tenant)
        .and_then(|e| e["step"].as_str().map(str::to_owned))
}

/// Runs the binary until the journal shows one of `steps`, then SIGKILLs it; returns the step
/// seen (or the step it ended at when it exited first).
async fn run_until(app: &TestApp, steps: &[&str]) -> String {
    let journal = app.dir.path().join("journal.ndjson");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_csp-app"))
        .args(app.config_flags())
        .args(["-o", "json", "onboard", "--template", "helpdesk"])
        .args(["--customer", TAILSPIN, "--wait-approval", "2m"])
        .arg("--journal")
        .arg(&journal)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let step = journal_step(app, TAILSPIN).unwrap_or_default();
        if steps.contains(&step.as_str()) {
            child.kill().await.unwrap(); // SIGKILL
            return step;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return step;
        }
        assert!(Instant::now() < deadline, "stuck at {step:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_at_every_step_resumes_without_a_duplicate() {
    let app = spawn().await;
    app.append_config(&helpdesk_template());
    app.emu.set_gdap_timings(GdapTimings {
        lock_secs: 1,
        approved_secs: 1,
        activating_secs: 1,
        expiring_secs: 10,
        termination_requested_secs: 1,
        terminating_secs: 1,
        assignment_secs: 1,
    });
    let mut seen = Vec::new();
    for step in [
        "create",
        "lock",
        "approval",
        "activation",
        "assign",
        "assignments",
        "consent",
        "check",
    ] {
        if step == "activation" {
            // The customer approves while no run is going.
            let live = app.live_relationships(TAILSPIN).await;
            assert_eq!(live.len(), 1, "{live:?}");
            app.emu
                .approve_gdap_relationship(live[0]["id"].as_str().unwrap(), None)
                .unwrap();
        }
        let at = run_until(&app, &[step]).await;
        seen.push(at.clone());
        let live = app.live_relationships(TAILSPIN).await;
        assert!(live.len() <= 1, "after a kill at {at}: {live:?}");
        if at == "done" {
            break;
        }
    }
    let done = app
        .onboard(&["--customer", TAILSPIN, "--template", "helpdesk"])
        .await;
    done.assert_code(0);
    assert_eq!(
        done.json()[0]["step"],
        "done",
        "{}\n{}",
        done.stdout,
        done.stderr
    );
    let live = app.live_relationships(TAILSPIN).await;
    assert_eq!(live.len(), 1, "{live:?}");
    let id = live[0]["id"].as_str().unwrap();
    let assignments = app
        .run(&[
            "-o",
            "json",
            "graph",
            "get",
            &format!(
                "/v1.0/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments"
            ),
        ])
        .await;
    assignments.assert_code(0);
    assert_eq!(
        assignments.json()["value"].as_array().unwrap().len(),
        1,
        "{}",
        assignments.stdout
    );
    eprintln!("killed at {seen:?}");
    // Killed at least at create, lock and approval (the others may pass faster than a poll).
    assert!(seen.len() >= 3, "{seen:?}");
}
