//! Load benchmark of the consent app against the in-process emulator.
//!
//! The app runs as its own process (the real `partner-consent` binary, release build under
//! `cargo bench`), so its memory is measured alone; the emulator and this driver share the
//! bench process. Reports:
//! - `GET /`: requests/s, p50/p99 at a fixed concurrency;
//! - N complete consent round trips (start → sign-in → MFA → consent → callback, i.e. code
//!   redemption, ID-token validation, store write and one Partner Center refresh), sequential:
//!   round trips/s, p50/p99 of the whole round trip and of the app's callback alone;
//! - the app process's RSS before and after.
//!
//! Knobs: `SAM_BENCH_CONSENTS` (default 1000), `SAM_BENCH_LANDING` (default 20000),
//! `SAM_BENCH_CONCURRENCY` (default 16). Run with `crates/partner-consent/benches/run.sh`.

#[path = "../tests/support/mod.rs"]
pub mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use emulator::{Emulator, EmulatorConfig};
use support::{ADMIN, APP_ID, APP_SECRET, Decision, PARTNER_TENANT, Returned, Started};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let consents = env_usize("SAM_BENCH_CONSENTS", 1000);
    let landing = env_usize("SAM_BENCH_LANDING", 20000);
    let concurrency = env_usize("SAM_BENCH_CONCURRENCY", 16);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("http://127.0.0.1:{port}");
    let redirect = format!("{address}/callback");
    let mut config = EmulatorConfig::default();
    // One partner consenting a thousand times in a minute calls Partner Center more often than
    // its 500-per-minute limit on customer resources allows (each consent's check before it is
    // stored): the benchmark measures the app, not that limit.
    config.seed.partner_center.customers_rate_limit = u32::MAX;
    for app in &mut config.seed.apps {
        if app.app_id == APP_ID {
            app.redirect_uris.push(redirect.clone());
        }
    }
    let emulator = Emulator::start(config).await.expect("emulator");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), emulator.ca_pem()).unwrap();
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("bench.toml"),
        format!(
            r#"mode = "csp"
[app]
client_id = "{APP_ID}"
display_name = "Benchmark"
[partner]
tenant_id = "{PARTNER_TENANT}"
[cloud]
name = "custom"
authority_host = "{authority}"
graph_url = "{graph}"
partner_center_url = "{pc}"
key_vault_dns_suffix = "{kv}"
[consent]
listen = "127.0.0.1:{port}"
redirect_url = "{redirect}"
# One driver address makes every consent: the per-client limits (30 a minute by default, rightly)
# would answer 429 after the first ten. The bench measures the app, not the limiter.
rate_limit_per_minute = 1000000
rate_limit_burst = 100000
[store]
kind = "local"
[store.local]
path = "{dir}/tokens.enc"
key_file = "{dir}/store.key"
[http]
ca_bundle = "{dir}/ca.pem"
[log]
filter = "warn"
"#,
            authority = emulator.authority_host(),
            graph = emulator.graph_url(),
            pc = emulator.partner_center_url(),
            kv = emulator.key_vault_dns_suffix(),
            dir = dir.path().display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_partner-consent"))
        .args([
            "--config-dir",
            &config_dir.display().to_string(),
            "--profile",
            "bench",
        ])
        .env("SAM_APP__CLIENT_SECRET", APP_SECRET)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .spawn()
        .expect("partner-consent binary");
    let pid = child.id();

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_merge(
            reqwest::Certificate::from_pem_bundle(emulator.ca_pem().as_bytes()).unwrap(),
        )
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    // Readiness: the app answers /healthz (a bench may poll; tests never do).
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{address}/healthz"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the app did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_start = rss_kib(pid);

    // --- GET / under load -----------------------------------------------------------------
    let started = Instant::now();
    let per_task = landing / concurrency.max(1);
    let mut tasks = Vec::new();
    let url = Arc::new(format!("{address}/"));
    for _ in 0..concurrency {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let t = Instant::now();
                let r = client.get(url.as_str()).send().await.expect("GET /");
                assert_eq!(r.status(), 200);
                r.bytes().await.expect("body");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    lat.sort();
    println!(
        "GET /: {} requests, concurrency {concurrency}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0)),
    );

    // --- full consent round trips ---------------------------------------------------------
    let walker = support::Walker {
        client: client.clone(),
        address: address.clone(),
        emulator: &emulator,
    };
    let mut round = Vec::with_capacity(consents);
    let mut callback = Vec::with_capacity(consents);
    let started = Instant::now();
    for i in 0..consents {
        let t = Instant::now();
        let s: Started = walker.start().await;
        let returned: Returned = walker
            .sign_in(&s.authorize_url, ADMIN, Decision::Accept)
            .await;
        let c = Instant::now();
        let resp = walker.callback(&returned, Some(&s.cookie)).await;
        let status = resp.status();
        resp.bytes().await.unwrap();
        callback.push(c.elapsed());
        round.push(t.elapsed());
        assert_eq!(status, 200, "consent {i} failed");
    }
    let elapsed = started.elapsed();
    let rss_end = rss_kib(pid);
    round.sort();
    callback.sort();
    println!(
        "consent round trips: {consents} sequential: {:.0} round trips/s, full round trip p50 {:.2} ms p99 {:.2} ms; app callback (redeem + validate + store + Partner Center check) p50 {:.2} ms p99 {:.2} ms",
        consents as f64 / elapsed.as_secs_f64(),
        ms(percentile(&round, 50.0)),
        ms(percentile(&round, 99.0)),
        ms(percentile(&callback, 50.0)),
        ms(percentile(&callback, 99.0)),
    );
    println!(
        "app process RSS: {:.1} MB at start, {:.1} MB after {} landing requests and {consents} consents",
        rss_start as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        lat.len(),
    );
    drop(child.kill());
    drop(child.wait());
}
