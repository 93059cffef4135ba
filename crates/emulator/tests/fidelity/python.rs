//! Runs `tests/fidelity/*.py` (Microsoft's Python clients) against a fresh emulator.

use crate::harness::{Fidelity, start, workspace_root};

async fn run_script(name: &str) {
    run_script_on(name, &start().await, Vec::new()).await;
}

/// Run a script against `emu`, with `extra` environment variables (what a platform would set).
pub async fn run_script_on(name: &str, emu: &Fidelity, extra: Vec<(String, String)>) {
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/test` (it creates .venv with tests/fidelity/requirements.txt) before the fidelity tests",
        python.display()
    );
    let script = root.join("tests/fidelity").join(name);
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .current_dir(root.join("tests/fidelity"))
        .envs(emu.env())
        .envs(extra)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_python_auth_code_refresh_token_and_client_credentials_work() {
    run_script("test_msal.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_identity_and_keyvault_secrets_python_work_with_challenge_verification_on() {
    run_script("test_keyvault.py").await;
}
