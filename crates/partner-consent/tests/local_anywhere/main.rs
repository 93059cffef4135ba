//! `partner-consent --local` works from any directory: the built binary, started in an empty
//! temporary directory (no `config/`), reaches its banner with the built-in local profile and
//! keeps its state under `.sam-local` there.
#![cfg(feature = "local")]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `partner-consent --local` in `dir` with `log_format`, waits for its banner (at most a
/// minute), stops it; gives whether the banner came, stdout so far and stderr.
fn run_local_until_banner(dir: &std::path::Path, log_format: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_partner-consent"))
        .current_dir(dir)
        .args([
            "--local",
            "--emulator-port",
            "0",
            "--sign-in-port",
            "0",
            "--set",
            "consent.listen=127.0.0.1:0",
            "--log-format",
            log_format,
        ])
        .env_remove("SAM_PROFILE")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    let started = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("Partner consent (local demo) is running") {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    (
        started,
        seen,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn local_starts_from_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (started, seen, stderr) = run_local_until_banner(dir.path(), "json");
    assert!(started, "no banner; stdout:\n{seen}\nstderr:\n{stderr}");
    assert!(dir.path().join(".sam-local/app.pem").is_file());
    assert!(dir.path().join(".sam-local/emulator/ca.pem").is_file());
    assert!(!dir.path().join("config").exists());
}

/// Text logs written to a pipe (a file, a container's log) carry no ANSI colour codes.
#[test]
fn text_logs_to_a_pipe_are_not_coloured() {
    let dir = tempfile::tempdir().unwrap();
    let (started, seen, stderr) = run_local_until_banner(dir.path(), "text");
    assert!(started, "no banner; stdout:\n{seen}\nstderr:\n{stderr}");
    assert!(stderr.contains("INFO"), "no log line on stderr:\n{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in a piped log:\n{stderr:?}"
    );
}

/// An empty CPV allow-list is a configuration error (exit 2) that names the key, before anything
/// listens.
#[test]
fn a_cpv_consent_app_without_an_allow_list_exits_with_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_partner-consent"))
        .current_dir(dir.path())
        .args(["--local", "--emulator-port", "0", "--sign-in-port", "0"])
        .args(["--set", "mode=cpv", "--set", "consent.listen=127.0.0.1:0"])
        .env_remove("SAM_PROFILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("partner.allowed_tenants") && stderr.contains("[\"*\"]"),
        "{stderr}"
    );
}
