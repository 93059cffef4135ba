//! `ManagedIdentityCredential` (App Service / Container Apps protocol) to the emulated vault.
//!
//! `azure_identity` reads `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` from the process
//! environment, which tests must not change (it is shared, and `set_var` is unsafe): each case
//! re-runs this test binary's ignored `child_case` test in a child process with the variables
//! set, and the parent asserts its outcome.

use common::config::KeyVaultIdentity;
use emulator::seed::ids;

use crate::helpers::{Target, refused_get, spawn_with, store, store_rotate_read};

const CASE_VAR: &str = "SAM_TEST_IDENTITY_CASE";

#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Case {
    target: Target,
    client_id: Option<String>,
    /// `None`: store, rotate and read succeed; `Some(text)`: a `get` fails with this text.
    expect_error: Option<String>,
}

/// Runs in the child only (the parent passes `--ignored --exact`).
#[tokio::test]
#[ignore = "run by the managed-identity tests in a child process with IDENTITY_ENDPOINT set"]
async fn child_case() {
    let case: Case = serde_json::from_str(&std::env::var(CASE_VAR).unwrap()).unwrap();
    let store = store(
        &case.target,
        KeyVaultIdentity::ManagedIdentity {
            client_id: case.client_id.clone(),
        },
    );
    match &case.expect_error {
        None => store_rotate_read(&store).await,
        Some(text) => {
            let error = refused_get(&store).await;
            assert!(error.contains(text.as_str()), "{error}");
            println!("refused as expected: {error}");
        }
    }
}

async fn run(client_id: Option<&str>, header: Option<&str>, expect_error: Option<&str>) {
    let env = spawn_with(|c| c).await;
    let case = Case {
        target: env.target.clone(),
        client_id: client_id.map(str::to_string),
        expect_error: expect_error.map(str::to_string),
    };
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "managed_identity::child_case",
            "--nocapture",
        ])
        .env(CASE_VAR, serde_json::to_string(&case).unwrap())
        .env("IDENTITY_ENDPOINT", env.emu.identity_endpoint())
        .env(
            "IDENTITY_HEADER",
            header.unwrap_or(env.emu.identity_header()),
        )
        .env_remove("IDENTITY_SERVER_THUMBPRINT")
        .env_remove("MSI_ENDPOINT")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.emu.counter("managed_identity.token") >= 1);
}

#[tokio::test]
async fn system_assigned_identity_stores_rotates_and_reads_a_refresh_token() {
    run(None, None, None).await;
}

#[tokio::test]
async fn user_assigned_identity_stores_rotates_and_reads_a_refresh_token() {
    run(Some(ids::USER_MI_CLIENT), None, None).await;
}

#[tokio::test]
async fn a_wrong_identity_header_is_refused_with_a_remedy() {
    run(
        None,
        Some("copied-from-another-host"),
        Some("fix: the managed-identity endpoint refused IDENTITY_HEADER"),
    )
    .await;
}

#[tokio::test]
async fn an_unassigned_user_identity_is_refused_with_a_remedy() {
    run(
        Some("60000000-0000-4000-8000-0000000000ff"),
        None,
        Some("fix: assign the user-assigned identity with client ID 60000000-0000-4000-8000-0000000000ff"),
    )
    .await;
}
