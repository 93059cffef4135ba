//! `onboard` through the emulator: each step, resumption, adoption, the journal, `status`.

use emulator::partner_data::ids::HELPDESK_GROUP;
use serde_json::Value;

use crate::helpers::{FABRIKAM, TAILSPIN, TestApp, spawn};

pub fn helpdesk_template() -> String {
    format!(
        "\n[templates.helpdesk]\ndisplay_name = \"{{template}}-{{tenant8}}\"\n\
         duration = \"P30D\"\n[[templates.helpdesk.access]]\ngroup = \"{HELPDESK_GROUP}\"\n\
         roles = [\"Directory Readers\"]\n"
    )
}

impl TestApp {
    /// The partner's relationships with a customer that are not terminated or expired.
    pub async fn live_relationships(&self, customer: &str) -> Vec<Value> {
        let out = self.run(&["-o", "json", "gdap", "list"]).await;
        out.assert_code(0);
        out.json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["customer"]["tenantId"].as_str() == Some(customer))
            .filter(|r| !matches!(r["status"].as_str(), Some("terminated" | "expired")))
            .cloned()
            .collect()
    }

    pub async fn onboard(&self, extra: &[&str]) -> crate::helpers::Output {
        let journal = self.dir.path().join("journal.ndjson").display().to_string();
        let mut args = vec!["-o", "json", "onboard", "--journal", &journal];
        args.extend_from_slice(extra);
        self.run(&args).await
    }
}

fn step_of(out: &Value, tenant: &str) -> String {
    out.as_array()
        .unwrap()
        .iter()
        .find(|e| e["tenantId"] == tenant)
        .map(|e| e["step"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboard_waits_for_approval_resumes_and_ends_done_with_one_relationship() {
    let app = spawn().await;
    app.append_config(&helpdesk_template());
    let first = app
        .onboard(&["--customer", TAILSPIN, "--template", "helpdesk"])
        .await;
    first.assert_code(0);
    let entries = first.json();
    assert_eq!(step_of(&entries, TAILSPIN), "approval", "{}", first.stdout);
    let link = entries[0]["approvalLink"].as_str().unwrap().to_owned();
    assert!(link.starts_with("https://admin.microsoft.com/"), "{link}");
    assert!(
        first.stderr.contains("customers: 1 customer"),
        "{}",
        first.stderr
    );
    assert!(first.stderr.contains("await"), "{}", first.stderr);

    // Again before the approval: nothing new is created.
    app.onboard(&["--customer", TAILSPIN, "--template", "helpdesk"])
        .await
        .assert_code(0);
    let live = app.live_relationships(TAILSPIN).await;
    assert_eq!(live.len(), 1, "{live:?}");
    let id = live[0]["id"].as_str().unwrap().to_owned();

    let journal = app.dir.path().join("journal.ndjson").display().to_string();
    let status = app
        .run(&["-o", "json", "onboard", "status", "--journal", &journal])
        .await;
    status.assert_code(0);
    assert!(
        status.json()[0]["awaiting"]
            .as_str()
            .unwrap()
            .contains(&link),
        "{}",
        status.stdout
    );

    app.emu.approve_gdap_relationship(&id, None).unwrap();
    let done = app
        .onboard(&["--customer", TAILSPIN, "--template", "helpdesk"])
        .await;
    done.assert_code(0);
    assert_eq!(
        step_of(&done.json(), TAILSPIN),
        "done",
        "{} {}",
        done.stdout,
        done.stderr
    );
    assert_eq!(app.live_relationships(TAILSPIN).await.len(), 1);
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
    assert_eq!(assignments.json()["value"].as_array().unwrap().len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&journal).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relationship_that_differs_from_the_template_is_reported_with_the_difference() {
    let app = spawn().await;
    app.append_config(&helpdesk_template());
    let out = app
        .onboard(&["--customer", FABRIKAM, "--template", "helpdesk"])
        .await;
    out.assert_code(4);
    assert!(
        out.stderr.contains("differs from template helpdesk"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("remedy:") || out.stderr.contains("terminate"),
        "{}",
        out.stderr
    );
    let journal = app.dir.path().join("journal.ndjson").display().to_string();
    app.run(&["onboard", "status", "--journal", &journal])
        .await
        .assert_code(4);
}
