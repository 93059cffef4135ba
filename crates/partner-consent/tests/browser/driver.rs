//! Real headless Chromium through ChromeDriver (Debian `chromium` + `chromium-driver`, installed
//! by `scripts/test`). Each test gets its own ChromeDriver process and a fresh profile.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use base64::Engine;
use fantoccini::{Client, ClientBuilder, Locator};
use sha2::{Digest, Sha256};

/// A browser session; ChromeDriver (and Chromium with it) is killed on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").finish_non_exhaustive()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        drop(self.driver.kill());
        drop(self.driver.wait());
    }
}

fn chromedriver() -> PathBuf {
    if let Some(p) = std::env::var_os("SAM_TEST_CHROMEDRIVER") {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromedriver was not found (set SAM_TEST_CHROMEDRIVER or put it on PATH). \
                 Run scripts/test, which installs Debian's chromium and chromium-driver, \
                 or: apt-get install chromium chromium-driver"
            )
        })
}

fn chromium_binary() -> Option<String> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .map(str::to_owned)
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of the certificate a TLS server at `port` presents
/// (verified against `ca_pem`): what Chromium's `--ignore-certificate-errors-spki-list` takes.
/// Chromium matches it against the server's own certificate, so the emulator's leaf is fetched.
pub fn server_spki_hash(port: u16, ca_pem: &str) -> String {
    use rustls_pki_types::pem::PemObject;
    use std::io::Write;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(b"HEAD / HTTP/1.0\r\n\r\n")
        .expect("handshake");
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("server certificate")
        .clone();
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).expect("certificate");
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(cert.public_key().raw))
}

/// Starts ChromeDriver on a free port (waiting for its "started successfully" line) and opens a
/// headless Chromium session that trusts the emulator's certificate by its key.
pub async fn launch(emulator_port: u16, ca_pem: &str) -> Browser {
    // Blocking I/O: off the test's runtime thread, which also drives the in-process servers.
    let ca = ca_pem.to_owned();
    let spki = tokio::task::spawn_blocking(move || server_spki_hash(emulator_port, &ca))
        .await
        .expect("SPKI of the emulator's certificate");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut driver = Command::new(chromedriver())
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts (run scripts/test to install it)");
    let stdout = driver.stdout.take().expect("stdout");
    let ready = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let ok = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("started successfully"));
        // Keep draining so ChromeDriver never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ok
    })
    .await
    .expect("reader");
    assert!(ready, "chromedriver exited before it was ready");
    let profile = tempfile::tempdir().expect("profile dir");
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        format!("--user-data-dir={}", profile.path().display()),
        format!("--ignore-certificate-errors-spki-list={spki}"),
    ];
    args.push("--window-size=1024,900".into());
    let mut options = serde_json::json!({ "args": args });
    if let Some(bin) = chromium_binary() {
        options["binary"] = serde_json::Value::String(bin);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let client = ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    Browser {
        client,
        driver,
        _profile: profile,
    }
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Waits for an element; on timeout, fails with the page the browser is on.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(std::time::Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(el) => el,
            Err(e) => panic!(
                "waiting for {css}: {e}\nat {}\n{}",
                self.url().await,
                self.source().await
            ),
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        self.find(css).await.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("url").to_string()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.expect("source")
    }

    pub async fn close(self) {
        drop(self.client.clone().close().await);
    }
}
