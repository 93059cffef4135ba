//! The README's first command as a newcomer runs it: the built `partner-consent --local`, started
//! in an empty directory, walked by a stock Chromium (no certificate flag, no imported CA) from
//! the URL it prints, with the user, password and MFA code it prints, to the success page.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::driver::launch;

/// The running binary; killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value after `label` on the banner line that starts with it.
fn banner_value(banner: &str, label: &str) -> String {
    banner
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {label:?} in the banner:\n{banner}"))
}

#[tokio::test]
async fn the_readme_walk_from_the_built_binary_in_a_stock_browser() {
    let dir = tempfile::tempdir().unwrap();
    // The demo app's registered redirect is localhost:8080; `--local` registers the configured
    // one, so this run takes a free port instead.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_partner-consent"))
        .current_dir(dir.path())
        .args(["--local", "--emulator-port", "0", "--sign-in-port", "0"])
        .args(["--set", &format!("consent.listen=127.0.0.1:{port}")])
        .args([
            "--set",
            &format!("consent.redirect_url=http://127.0.0.1:{port}/callback"),
        ])
        .env_remove("SAM_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the built partner-consent starts");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let banner = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = String::new();
        let mut lines = BufReader::new(stdout).lines();
        while Instant::now() < deadline {
            let Some(Ok(line)) = lines.next() else { break };
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("Press Ctrl-C to stop") {
                // Keep draining so the server never blocks on a full pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return seen;
            }
        }
        panic!("no complete banner:\n{seen}");
    })
    .await
    .unwrap();
    let open = banner_value(&banner, "Open:");
    assert_eq!(open, format!("http://127.0.0.1:{port}/"), "{banner}");
    let user = banner_value(&banner, "Sign in as:");
    let password = banner_value(&banner, "Password:");
    let code = banner_value(&banner, "MFA code:");

    let browser = launch().await;
    browser.goto(&open).await;
    assert!(browser.text("h1").await.contains("Connect"));
    browser.click("#grant").await;
    browser.fill("#login", &user).await;
    let at = browser.url().await;
    assert!(at.starts_with("http://127.0.0.1:"), "sign-in page at {at}");
    browser.fill("#passwd", &password).await;
    browser.click("#idSIButton9").await;
    browser.fill("#otc", &code).await;
    browser.click("#idSubmit_SAOTCC_Continue").await;
    browser.click("#accept").await;
    assert_eq!(browser.text("#result").await, "Consent recorded");
    assert_eq!(browser.text("#user").await, user);
    assert_eq!(browser.text("#mfa").await, "used");
    // "working": partner-consent redeemed the stored token and Partner Center answered.
    assert!(browser.text("#check").await.starts_with("working"));
    browser.close().await;
    assert!(dir.path().join(".sam-local/refresh-tokens.enc").is_file());
    drop(running);
}
