//! A start-up failure reads and exits the same in both CLIs (cpv-app's twin of this test is in
//! crates/cpv-app/tests/cli/startup.rs): both open their run through `cli_kit::Run`.

use crate::helpers::spawn;

#[tokio::test]
async fn a_corrupt_token_store_fails_at_start_as_a_configuration_error() {
    let app = spawn().await;
    std::fs::write(app.dir.path().join("tokens.enc"), "not a store").unwrap();
    let out = app.run(&["status"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("cannot start: ") && out.stderr.contains("not a store file"),
        "{}",
        out.stderr
    );
}

/// Relative paths in a configuration file resolve against the file's directory, so the binary
/// works the same from any working directory (docs/configuration.md, "Relative paths").
#[tokio::test]
async fn relative_paths_in_a_config_file_resolve_against_its_directory_from_any_directory() {
    let app = spawn().await;
    let deploy = app.dir.path().join("deploy");
    std::fs::create_dir_all(deploy.join("state")).unwrap();
    for (from, to) in [
        ("tokens.enc", "state/tokens.enc"),
        ("store.key", "state/store.key"),
        ("ca.pem", "ca.pem"),
    ] {
        std::fs::copy(app.dir.path().join(from), deploy.join(to)).unwrap();
    }
    let text = std::fs::read_to_string(&app.config_file).unwrap();
    let dir = app.dir.path().display().to_string();
    let relative = text
        .replace(&format!("{dir}/tokens.enc"), "state/tokens.enc")
        .replace(&format!("{dir}/store.key"), "state/store.key")
        .replace(&format!("{dir}/ca.pem"), "ca.pem");
    assert!(!relative.contains(&dir), "{relative}");
    let config = deploy.join("csp.toml");
    std::fs::write(&config, relative).unwrap();
    let elsewhere = app.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_csp-app"))
        .current_dir(&elsewhere)
        .env_remove("SAM_PROFILE")
        .arg("--config")
        .arg(&config)
        .arg("status")
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        std::fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "nothing is created in the working directory (no new store, no new key)"
    );
}
