//! Real headless Chromium through ChromeDriver (Debian `chromium` + `chromium-driver`, installed
//! by `scripts/test`). Each test gets its own ChromeDriver process and a fresh profile.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};

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

/// Starts ChromeDriver on a free port (waiting for its "started successfully" line) and opens a
/// headless Chromium session as a stock browser: no certificate flag, no imported CA. The pages
/// it sees are partner-consent's and the emulator's sign-in pages, both plain HTTP on loopback.
pub async fn launch() -> Browser {
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

    /// Waits for an element; on timeout, fails with the page the browser is on. A lookup that
    /// a navigation in progress cuts short (ChromeDriver's "aborted by navigation", as a form
    /// posts or a page redirects) is asked again on the new page, within the same 15 s.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self
                .client
                .wait()
                .at_most(left)
                .for_element(Locator::Css(css))
                .await
            {
                Ok(el) => return el,
                Err(e) if e.to_string().contains("aborted by navigation") && !left.is_zero() => {}
                Err(e) => panic!(
                    "waiting for {css}: {e}\nat {}\n{}",
                    self.url().await,
                    self.source().await
                ),
            }
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
