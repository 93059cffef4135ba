use emulator::partner_data::ids::{GDAP_FABRIKAM, GDAP_NORTHWIND};

use crate::helpers::{TAILSPIN, spawn};

const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdap_list_and_show_read_the_partners_relationships() {
    let app = spawn().await;
    let list = app
        .run(&["-o", "json", "gdap", "list", "--status", "active"])
        .await;
    list.assert_code(0);
    let ids: Vec<String> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.contains(&GDAP_FABRIKAM.to_owned()) && ids.contains(&GDAP_NORTHWIND.to_owned()),
        "{ids:?}"
    );

    let show = app.run(&["gdap", "show", GDAP_FABRIKAM]).await;
    show.assert_code(0);
    assert!(show.stdout.contains("active"), "{}", show.stdout);
    assert!(show.stdout.contains(DIRECTORY_READERS), "{}", show.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdap_create_checks_the_rules_before_calling_graph() {
    let app = spawn().await;
    let name = "x".repeat(51);
    let out = app
        .run(&[
            "gdap",
            "create",
            "--display-name",
            &name,
            "--duration",
            "P3Y",
            "--role",
            DIRECTORY_READERS,
            "--auto-extend",
            "P90D",
        ])
        .await;
    out.assert_code(1);
    assert_eq!(
        out.stderr,
        "error: the relationship breaks Graph's creation rules:\n  - the display name has 51 characters; Graph accepts at most 50\n  - the duration P3Y is outside P1D..P2Y (1 to 730 days)\n  - the auto-extend duration \"P90D\" must be one of PT0S, P0D or P180D\n"
    );
    assert_eq!(app.emu.counter("graph.gdap.create"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdap_create_then_lock_for_approval_prints_the_approval_link() {
    let app = spawn().await;
    let out = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "create",
            "--display-name",
            "Tailspin readers",
            "--customer",
            TAILSPIN,
            "--duration",
            "P30D",
            "--role",
            DIRECTORY_READERS,
        ])
        .await;
    out.assert_code(0);
    let created = out.json();
    assert_eq!(created["status"], "created");
    let id = created["id"].as_str().unwrap().to_owned();

    let again = app
        .run(&[
            "gdap",
            "create",
            "--display-name",
            "tailspin READERS",
            "--role",
            DIRECTORY_READERS,
        ])
        .await;
    again.assert_code(1);
    assert!(
        again.stderr.contains("display names must be unique"),
        "{}",
        again.stderr
    );

    let lock = app.run(&["gdap", "lock-for-approval", &id]).await;
    lock.assert_code(0);
    assert!(
        lock.stdout.contains(&format!("https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/{id}")),
        "{}",
        lock.stdout
    );
    let show = app.run(&["-o", "json", "gdap", "show", &id]).await;
    assert_eq!(show.json()["status"], "approvalPending");
}
