//! `docs/setup-azure.md` section 6, run as written: the commands of its `walk-csp` and `walk-cpv`
//! blocks, in order, against the emulator (the doc's ports swapped for free ones), with the
//! built binaries; device-code sign-ins played over HTTP, consents clicked in a stock Chromium.
//! A command the test does not know, or one the doc no longer has, fails the test, as does a
//! result that differs from what the doc says.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use emulator::{Emulator, EmulatorConfig, EmulatorHandle};

use crate::driver::launch;

const DOC: &str = include_str!("../../../../docs/setup-azure.md");
const CONTOSO_ADMIN: &str = "admin@contoso-partner.onmicrosoft.com";
const FOURTH_ADMIN: &str = "admin@fourthcoffee-partner.onmicrosoft.com";
const CONTOSO: &str = "10000000-0000-4000-8000-000000000001";
const FOURTH: &str = "10000000-0000-4000-8000-000000000002";

/// The lines of the fenced block opened by ```` ```{info} ````.
fn block(info: &str) -> Vec<String> {
    let start = DOC
        .find(&format!("```{info}\n"))
        .unwrap_or_else(|| panic!("docs/setup-azure.md has no ```{info} block"));
    let body = &DOC[start + info.len() + 4..];
    let end = body.find("```").expect("the block ends");
    body[..end].lines().map(str::to_owned).collect()
}

/// The `cloud.toml` of the doc: the first toml block after it is named.
fn cloud_toml() -> String {
    let at = DOC
        .find("The cloud, in `cloud.toml`")
        .expect("cloud.toml in the doc");
    let rest = &DOC[at..];
    let start = rest.find("```toml\n").expect("its block") + "```toml\n".len();
    let end = rest[start..].find("```").expect("the block ends");
    rest[start..start + end].to_owned()
}

/// A built binary of the workspace: in `SAM_TEST_BIN_DIR` when set (a copy taken right after
/// building, when several checkouts share one target directory), else beside this test's own
/// target directory.
fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("SAM_TEST_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None if name == "partner-consent" => {
            return PathBuf::from(env!("CARGO_BIN_EXE_partner-consent"));
        }
        None => {
            let exe = std::env::current_exe().unwrap();
            exe.parent().and_then(Path::parent).unwrap().to_path_buf()
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run the workspace's tests (cargo nextest run --workspace), or cargo build -p {name} first",
        path.display()
    );
    path
}

/// A running binary; killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Walk {
    dir: tempfile::TempDir,
    emu: EmulatorHandle,
    http: reqwest::Client,
    /// The doc's ports and the test's.
    ports: Vec<(String, String)>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

impl Walk {
    async fn start() -> Walk {
        let emu = Emulator::start(EmulatorConfig {
            sign_in_port: Some(0),
            ..EmulatorConfig::default()
        })
        .await
        .expect("emulator starts");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".sam-local/emulator")).unwrap();
        std::fs::write(dir.path().join(".sam-local/emulator/ca.pem"), emu.ca_pem()).unwrap();
        let sign_in = url::Url::parse(&emu.sign_in_host()).unwrap();
        let ports = vec![
            (":8443".to_owned(), format!(":{}", emu.port())),
            (":8480".to_owned(), format!(":{}", sign_in.port().unwrap())),
            (":8080".to_owned(), format!(":{}", free_port())),
            (":8081".to_owned(), format!(":{}", free_port())),
        ];
        let http = common::http::build_client(&common::config::HttpSettings {
            ca_bundle: Some(dir.path().join(".sam-local/emulator/ca.pem")),
            ..Default::default()
        })
        .unwrap();
        let walk = Walk {
            dir,
            emu,
            http,
            ports,
        };
        std::fs::write(walk.path("cloud.toml"), walk.localize(&cloud_toml())).unwrap();
        walk
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn localize(&self, text: &str) -> String {
        self.ports
            .iter()
            .fold(text.to_owned(), |t, (doc, here)| t.replace(doc, here))
    }

    fn command(&self, line: &str) -> Command {
        let words: Vec<String> = self
            .localize(line)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let mut cmd = Command::new(binary(&words[0]));
        cmd.args(&words[1..])
            .current_dir(self.dir.path())
            .env_remove("SAM_PROFILE")
            .env("NO_COLOR", "1")
            .env_remove("BROWSER");
        cmd
    }

    /// Runs `line` to its end (a device-code sign-in completed as `CONTOSO_ADMIN`).
    async fn run(&self, line: &str) -> Output {
        let mut child = self
            .command(line)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // stderr: the device-code prompt (once), then everything for the report.
        let reader = std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let prompt =
                    line.contains("enter the code") || line.trim_start().starts_with("http");
                if prompt && let Some(tx) = tx.take() {
                    let _ = tx.send(line.clone());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let needs_sign_in = line.contains(" setup ") || line.contains("--sign-in ");
        if needs_sign_in {
            let prompt = tokio::time::timeout(Duration::from_secs(60), rx)
                .await
                .unwrap_or_else(|_| panic!("{line}: no sign-in prompt"))
                .unwrap();
            if line.contains("--sign-in browser") {
                self.browser_sign_in(prompt.trim()).await;
            } else {
                self.device_login(&prompt).await;
            }
        }
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let stderr = reader.join().unwrap();
        Output {
            stderr: stderr.into_bytes(),
            ..output
        }
    }

    /// The admin's browser at the device-login page of `prompt`.
    async fn device_login(&self, prompt: &str) {
        let words: Vec<&str> = prompt.split_whitespace().collect();
        let at = |w: &str| words.iter().position(|x| *x == w).unwrap();
        let page = words[at("page") + 1];
        let code = words[at("code") + 1];
        let otc = self.emu.mfa_code(CONTOSO_ADMIN).unwrap();
        let html = self
            .http
            .post(page)
            .form(&[
                ("user_code", code),
                ("login", CONTOSO_ADMIN),
                ("passwd", "Demo-Admin-Passw0rd!"),
                ("otc", otc.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("id=\"accept\""), "{html}");
        let done = self
            .http
            .post(format!("{page}/approve"))
            .form(&[("user_code", code), ("action", "accept")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(done.contains("id=\"done\""), "{done}");
    }

    /// The admin signs in at the URL `setup --sign-in browser` printed (no browser was found
    /// for it here), in a stock Chromium, back to the command's loopback listener.
    async fn browser_sign_in(&self, url: &str) {
        let sign_in = self.localize("http://127.0.0.1:8480/");
        assert!(url.starts_with(&sign_in), "at entra.sign_in_host: {url}");
        let browser = launch().await;
        browser.goto(url).await;
        browser.fill("#login", CONTOSO_ADMIN).await;
        browser.fill("#passwd", "Demo-Admin-Passw0rd!").await;
        browser.click("#idSIButton9").await;
        browser
            .fill("#otc", &self.emu.mfa_code(CONTOSO_ADMIN).unwrap())
            .await;
        browser.click("#idSubmit_SAOTCC_Continue").await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let page = browser.source().await;
            if page.contains("Signed in.") {
                break;
            }
            if page.contains("id=\"accept\"") {
                browser.click("#accept").await;
            }
            assert!(Instant::now() < deadline, "no 'Signed in' page:\n{page}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(browser.url().await.starts_with("http://localhost:"));
        browser.close().await;
    }

    /// Starts partner-consent as `line` says and returns it with the URL it prints.
    async fn serve(&self, line: &str) -> (Running, String) {
        let mut child = self
            .command(line)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let running = Running(child);
        let url = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut lines = BufReader::new(stdout).lines();
            let mut seen = String::new();
            while Instant::now() < deadline {
                let Some(Ok(line)) = lines.next() else { break };
                seen.push_str(&line);
                seen.push('\n');
                if let Some((_, url)) = line.split_once("Partner admins consent at: ") {
                    std::thread::spawn(move || lines.for_each(drop));
                    return url.trim().to_owned();
                }
            }
            panic!("partner-consent printed no consent URL:\n{seen}");
        })
        .await
        .unwrap();
        (running, url)
    }

    /// A partner admin consents at `url` in a fresh Chromium.
    async fn consent(&self, url: &str, upn: &str, password: &str) {
        let browser = launch().await;
        browser.goto(url).await;
        browser.click("#grant").await;
        browser.fill("#login", upn).await;
        browser.fill("#passwd", password).await;
        browser.click("#idSIButton9").await;
        browser.fill("#otc", &self.emu.mfa_code(upn).unwrap()).await;
        browser.click("#idSubmit_SAOTCC_Continue").await;
        // As docs/setup-azure.md says: for the whole organization.
        browser.click("#for-org").await;
        browser.click("#accept").await;
        assert_eq!(browser.text("#result").await, "Consent recorded", "{upn}");
        assert_eq!(browser.text("#mfa").await, "used");
        browser.close().await;
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn expect_code(line: &str, o: &Output, code: i32) -> String {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(code), "{line}\n{out}\n{err}");
    out
}

#[tokio::test]
async fn the_csp_walk_of_setup_azure_runs_as_written() {
    let walk = Walk::start().await;
    let mut seen = BTreeSet::new();
    for line in block("sh walk-csp") {
        let step = csp_step(&walk, &line).await;
        assert!(seen.insert(step), "{step} twice");
    }
    let all: BTreeSet<&str> = [
        "cp",
        "dry-run",
        "setup",
        "setup-browser",
        "consent",
        "doctor",
        "status",
        "customers",
        "watch",
        "keepalive",
    ]
    .into();
    assert_eq!(seen, all, "the doc's CSP walk lost or gained a step");
}

async fn csp_step(walk: &Walk, line: &str) -> &'static str {
    let file = walk.path("csp.toml");
    if let Some(rest) = line.strip_prefix("cp ") {
        let (from, to) = rest.split_once(' ').unwrap();
        std::fs::copy(walk.path(from), walk.path(to.trim())).unwrap();
        return "cp";
    }
    if line.starts_with("partner-consent ") {
        let (running, url) = walk.serve(line).await;
        assert_eq!(url, walk.localize("http://localhost:8080/"));
        walk.consent(&url, CONTOSO_ADMIN, "Demo-Admin-Passw0rd!")
            .await;
        drop(running);
        return "consent";
    }
    let before = std::fs::read_to_string(&file).unwrap();
    let output = walk.run(line).await;
    if line.contains(" setup --dry-run ") {
        let out = expect_code(line, &output, 0);
        assert!(out.contains("would create  app registration"), "{out}");
        assert!(
            out.contains("would change (not written)") && out.contains("+mode = \"csp\""),
            "{out}"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            before,
            "a dry run writes nothing"
        );
        return "dry-run";
    }
    if line.contains(" setup ") && line.contains("--sign-in browser") {
        let out = expect_code(line, &output, 0);
        assert!(out.contains("No changes"), "{out}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
        return "setup-browser";
    }
    if line.contains(" setup ") {
        let out = expect_code(line, &output, 0);
        assert!(out.contains("created       app registration"), "{out}");
        assert!(out.contains("keys: mode, app.client_id"), "{out}");
        let written = std::fs::read_to_string(&file).unwrap();
        assert!(written.starts_with("mode = \"csp\""), "{written}");
        assert!(written.contains("sign_in_host = "), "kept: {written}");
        return "setup";
    }
    if line.contains(" doctor ") {
        let out = expect_code(line, &output, 4);
        let warnings: Vec<&str> = out.lines().filter(|l| l.contains("WARN ")).collect();
        assert_eq!(warnings.len(), 1, "{out}");
        assert!(warnings[0].contains("config"), "{out}");
        assert!(!out.contains("FAIL ") && !out.contains("SKIP "), "{out}");
        return "doctor";
    }
    let step = match line.split_whitespace().nth(3) {
        Some("status") => "status",
        Some("customers") => "customers",
        Some("watch") => "watch",
        Some("keepalive") => "keepalive",
        _ => panic!("the walk does not know what to expect of {line:?}"),
    };
    let out = expect_code(line, &output, 0);
    if step == "status" {
        assert!(out.contains(CONTOSO_ADMIN), "{out}");
    }
    if step == "customers" {
        for name in ["Fabrikam", "Northwind Traders", "Tailspin Toys"] {
            assert!(out.contains(name), "{out}");
        }
    }
    step
}

#[tokio::test]
async fn the_cpv_walk_of_setup_azure_runs_as_written_for_two_partners() {
    let walk = Walk::start().await;
    let mut seen = Vec::new();
    for line in block("sh walk-cpv") {
        seen.push(cpv_step(&walk, &line).await);
    }
    assert_eq!(
        seen,
        [
            "cp", "setup", "consent", "partners", "doctor", "grant", "grant", "verify", "users",
            "users"
        ],
        "the doc's CPV walk lost or gained a step"
    );
}

async fn cpv_step(walk: &Walk, line: &str) -> &'static str {
    let file = walk.path("cpv.toml");
    if let Some(rest) = line.strip_prefix("cp ") {
        let (from, to) = rest.split_once(' ').unwrap();
        std::fs::copy(walk.path(from), walk.path(to.trim())).unwrap();
        return "cp";
    }
    if line.starts_with("partner-consent ") {
        let (running, url) = walk.serve(line).await;
        assert_eq!(url, walk.localize("http://localhost:8081/"));
        walk.consent(&url, CONTOSO_ADMIN, "Demo-Admin-Passw0rd!")
            .await;
        walk.consent(&url, FOURTH_ADMIN, "Demo-Fourth-Passw0rd!")
            .await;
        drop(running);
        return "consent";
    }
    let output = walk.run(line).await;
    // doctor: one warning, the emulator named as the cloud (as in the CSP walk).
    let out = expect_code(line, &output, if line.contains(" doctor") { 4 } else { 0 });
    let words: Vec<&str> = line.split_whitespace().collect();
    let command = words
        .iter()
        .skip(3)
        .find(|w| !w.starts_with('-') && !w.contains('=') && !w.ends_with(".enc"));
    match command.copied() {
        Some("setup") => {
            let written = std::fs::read_to_string(&file).unwrap();
            assert!(written.starts_with("mode = \"cpv\""), "{written}");
            assert!(
                written.contains(&format!("allowed_tenants = [\"{CONTOSO}\", \"{FOURTH}\"]")),
                "{written}"
            );
            "setup"
        }
        Some("partners") => {
            assert!(out.contains(CONTOSO) && out.contains(FOURTH), "{out}");
            "partners"
        }
        Some("doctor") => {
            for p in [CONTOSO, FOURTH] {
                assert!(
                    out.contains(&format!("partner {p}: the stored refresh token redeems")),
                    "{out}"
                );
            }
            "doctor"
        }
        Some("consent") if words.contains(&"grant") => {
            assert!(out.contains("granted"), "{out}");
            "grant"
        }
        Some("consent") if words.contains(&"verify") => {
            assert!(out.contains("verified"), "{out}");
            "verify"
        }
        Some("users") => {
            let expected: &[&str] = if line.contains(FOURTH) {
                &["admin@alpineskihouse-demo.onmicrosoft.com"]
            } else {
                &[
                    "admin@fabrikam-demo.onmicrosoft.com",
                    "finance@fabrikam-demo.onmicrosoft.com",
                ]
            };
            for upn in expected {
                assert!(out.contains(upn), "{out}");
            }
            "users"
        }
        _ => panic!("the walk does not know what to expect of {line:?}"),
    }
}
