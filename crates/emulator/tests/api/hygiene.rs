//! The emulator's own hygiene: the plain-HTTP sign-in listener serves nothing of Key Vault, the
//! standalone binary writes its CA (and the demo app's certificate) before it listens and prints
//! the managed-identity endpoint so it can be tried by hand.

use std::io::BufRead as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Key Vault's `/secrets/{login,mfa,consent}` look like the sign-in pages' `/{tenant}/login`,
/// `/mfa`, `/consent`: over plain HTTP, with a vault's Host, each is refused (no Key Vault answer
/// or challenge, whatever the method).
#[tokio::test]
async fn the_plain_http_listener_refuses_key_vault_whatever_the_path() {
    let emu = crate::helpers::spawn_with(emulator::EmulatorConfig {
        sign_in_port: Some(0),
        ..emulator::EmulatorConfig::default()
    })
    .await;
    let http = emu.handle.sign_in_host();
    let port: u16 = http.rsplit(':').next().unwrap().parse().unwrap();
    let vault = emu.handle.seed().vaults[0].name.clone();
    let host = format!("{vault}.vault.localhost");
    let client = reqwest::Client::builder()
        .resolve(&host, ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let https = emu.handle.authority_host();
    for name in ["login", "mfa", "consent"] {
        let url = format!("http://{host}:{port}/secrets/{name}?api-version=7.4");
        for request in [
            client.get(&url),
            client.put(&url).json(&serde_json::json!({"value": "x"})),
            client.post(&url).form(&[("flow", "x")]),
            client.patch(&url).json(&serde_json::json!({})),
            client.delete(&url),
        ] {
            let r = request.send().await.unwrap();
            let status = r.status();
            assert!(
                r.headers().get("www-authenticate").is_none(),
                "{name}: a Key Vault challenge over plain HTTP"
            );
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(status, 404, "{name}: {body}");
            let text = body["error_description"].as_str().unwrap();
            assert!(text.contains(&https), "{name}: {text}");
        }
    }
    // The same paths over TLS are Key Vault's (its 401 challenge without a token).
    let r = emu
        .client
        .get(format!(
            "{}secrets/login?api-version=7.4",
            emu.handle.vault_url(&vault)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The child process, killed when the test ends (pass or fail).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `port` accepts a connection; at that moment the CA and the app certificate must
/// already be on disk (the compose healthcheck relies on it).
fn files_exist_when_the_port_first_accepts(port: u16, files: &[&Path]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(Instant::now() < deadline, "the emulator never listened");
        let addr = ([127, 0, 0, 1], port).into();
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            for f in files {
                assert!(f.exists(), "listening before {} was written", f.display());
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The standalone emulator: the CA and the demo app's certificate exist as soon as its port
/// accepts a connection, and it prints `IDENTITY_ENDPOINT` / `IDENTITY_HEADER` with a ready
/// `export` line that gets a managed-identity token.
#[tokio::test]
async fn the_binary_writes_its_ca_before_listening_and_prints_the_managed_identity_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("emulator");
    let app_pem = dir.path().join("app.pem");
    let (port, sign_in) = (free_port(), free_port());
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_emulator"))
            .args(["--port", &port.to_string()])
            .args(["--sign-in-port", &sign_in.to_string()])
            .arg("--state-dir")
            .arg(&state)
            .arg(format!(
                "--app-certificate={}={}",
                emulator::seed::ids::CSP_APP,
                app_pem.display()
            ))
            .args(["--workers", "1"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let files = [state.join("ca.pem"), app_pem.clone()];
    tokio::task::spawn_blocking(move || {
        files_exist_when_the_port_first_accepts(port, &files.each_ref().map(|f| f.as_path()))
    })
    .await
    .unwrap();
    let stdout = child.0.stdout.take().unwrap();
    let export = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.trim_start().starts_with("export IDENTITY_ENDPOINT="))
    })
    .await
    .unwrap()
    .expect("an `export IDENTITY_ENDPOINT=… IDENTITY_HEADER=…` line");
    let value = |name: &str| {
        let start = export.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        export[start..].split('"').next().unwrap().to_owned()
    };
    let (endpoint, header) = (value("IDENTITY_ENDPOINT"), value("IDENTITY_HEADER"));
    assert_eq!(endpoint, format!("https://127.0.0.1:{port}/msi/token"));
    assert!(header.len() >= 16, "{header}");
    let client = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(
            &std::fs::read(state.join("ca.pem")).unwrap(),
        )
        .unwrap()])
        .build()
        .unwrap();
    let resource = format!("https://vault.localhost:{port}");
    // A connection refused or reset while the machine is loaded (a full suite on 2 cores; the
    // reset can come after the connection, while the request is sent) is retried, as Azure's
    // identity clients retry a managed-identity endpoint; any HTTP answer is final.
    let mut attempt = 0;
    let r = loop {
        attempt += 1;
        match client
            .get(&endpoint)
            .query(&[("api-version", "2019-08-01"), ("resource", &resource)])
            .header("X-IDENTITY-HEADER", &header)
            .send()
            .await
        {
            Ok(r) => break r,
            Err(e) if (e.is_connect() || e.is_request()) && attempt < 5 => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("managed-identity token request: {e}"),
        }
    };
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
}
