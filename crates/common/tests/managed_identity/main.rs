//! `ManagedIdentityCredential` (App Service / Container Apps protocol) to the emulated vault.
//!
//! `azure_identity` reads `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` from the process environment,
//! which a test must not change (it is shared by every thread, and `set_var` is unsafe). So this
//! target has no test harness: its `main` runs each case by starting this same binary again as a
//! child, with the variables set and the case in `SAM_TEST_IDENTITY_CASE`; the child performs the
//! Key Vault calls and exits 0 or 1, and the parent checks the exit status and the emulator's
//! managed-identity counter. Every case runs on every `cargo test`; none is ignored. It answers a
//! runner's `--list` and name filter like the standard harness, so `cargo nextest` runs it too.

#[path = "../identity/helpers.rs"]
#[expect(
    dead_code,
    reason = "shared with the identity suite; this target uses part of it"
)]
mod helpers;

use std::process::ExitCode;

use common::config::KeyVaultIdentity;
use emulator::seed::ids;

use helpers::{Target, refused_get, spawn_with, store, store_rotate_read};

const CASE_VAR: &str = "SAM_TEST_IDENTITY_CASE";

#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Case {
    target: Target,
    client_id: Option<String>,
    /// `None`: store, rotate and read succeed; `Some(text)`: a `get` fails with this text.
    expect_error: Option<String>,
}

/// The child's side: the Key Vault calls through the managed identity named in the case.
async fn child(case: &str) -> ExitCode {
    let case: Case = serde_json::from_str(case).expect("the parent passes a valid case");
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
            if !error.contains(text.as_str()) {
                eprintln!("expected an error containing {text:?}, got: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// The parent's side: one emulator, one child with the platform's variables, its verdict.
async fn run(
    client_id: Option<&str>,
    header: Option<&str>,
    expect_error: Option<&str>,
) -> Result<(), String> {
    let env = spawn_with(|c| c).await;
    let case = Case {
        target: env.target.clone(),
        client_id: client_id.map(str::to_string),
        expect_error: expect_error.map(str::to_string),
    };
    let exe = std::env::current_exe().map_err(|e| format!("no path to this test binary: {e}"))?;
    let out = tokio::process::Command::new(exe)
        .env(
            CASE_VAR,
            serde_json::to_string(&case).expect("a case serialises"),
        )
        .env("IDENTITY_ENDPOINT", env.emu.identity_endpoint())
        .env(
            "IDENTITY_HEADER",
            header.unwrap_or(env.emu.identity_header()),
        )
        .env_remove("IDENTITY_SERVER_THUMBPRINT")
        .env_remove("MSI_ENDPOINT")
        .output()
        .await
        .map_err(|e| format!("cannot start the child: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "child failed ({})\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if env.emu.counter("managed_identity.token") == 0 {
        return Err("the emulator's managed-identity endpoint was never called".into());
    }
    Ok(())
}

/// A case: its name, the user-assigned client ID, an `IDENTITY_HEADER` override, the expected error.
type NamedCase<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

const UNASSIGNED: &str = "60000000-0000-4000-8000-0000000000ff";

fn main() -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    if let Ok(case) = std::env::var(CASE_VAR) {
        return runtime.block_on(child(&case));
    }
    let unassigned_fix =
        format!("fix: assign the user-assigned identity with client ID {UNASSIGNED}");
    let cases: [NamedCase<'_>; 4] = [
        (
            "system_assigned_identity_stores_rotates_and_reads_a_refresh_token",
            None,
            None,
            None,
        ),
        (
            "user_assigned_identity_stores_rotates_and_reads_a_refresh_token",
            Some(ids::USER_MI_CLIENT),
            None,
            None,
        ),
        (
            "a_wrong_identity_header_is_refused_with_a_remedy",
            None,
            Some("copied-from-another-host"),
            Some("fix: the managed-identity endpoint refused IDENTITY_HEADER"),
        ),
        (
            "an_unassigned_user_identity_is_refused_with_a_remedy",
            Some(UNASSIGNED),
            None,
            Some(&unassigned_fix),
        ),
    ];
    let args = HarnessArgs::read();
    if args.list {
        // `cargo nextest` lists the tests first (`--list --format terse`), then runs each one.
        if !args.ignored {
            for (name, ..) in &cases {
                println!("managed_identity::{name}: test");
            }
        }
        return ExitCode::SUCCESS;
    }
    let cases: Vec<NamedCase<'_>> = cases
        .into_iter()
        .filter(|(name, ..)| args.selects(name))
        .collect();
    println!("\nrunning {} tests", cases.len());
    let mut failed = Vec::new();
    for &(name, client_id, header, expect_error) in &cases {
        match runtime.block_on(run(client_id, header, expect_error)) {
            Ok(()) => println!("test managed_identity::{name} ... ok"),
            Err(why) => {
                println!("test managed_identity::{name} ... FAILED");
                failed.push((name, why));
            }
        }
    }
    for (name, why) in &failed {
        println!("\n---- managed_identity::{name} ----\n{why}");
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {} passed; {} failed; 0 ignored; 0 measured; 0 filtered out\n",
        cases.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What a test runner asked on the command line, read the way the standard harness reads it:
/// `--list` (with `--ignored`: the ignored tests, none here), a name filter, and `--exact`.
struct HarnessArgs {
    list: bool,
    ignored: bool,
    exact: bool,
    filter: Option<String>,
}

impl HarnessArgs {
    fn read() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let flag = |f: &str| args.iter().any(|a| a == f);
        Self {
            list: flag("--list"),
            ignored: flag("--ignored"),
            exact: flag("--exact"),
            filter: args.iter().find(|a| !a.starts_with('-')).cloned(),
        }
    }

    /// Whether the case `name` runs: every case without a filter.
    fn selects(&self, name: &str) -> bool {
        let full = format!("managed_identity::{name}");
        match &self.filter {
            None => true,
            Some(f) if self.exact => *f == full || f == name,
            Some(f) => full.contains(f.as_str()),
        }
    }
}
