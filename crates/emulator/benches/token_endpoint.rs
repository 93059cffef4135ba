//! Client-credential grants per second, p99 latency and RSS of the emulator.
//! `cargo bench -p emulator --bench token_endpoint` (release). Bounded: 10 s, loopback only.

use emulator::seed::ids;
use emulator::{Emulator, EmulatorConfig};
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let handle = Emulator::start(EmulatorConfig {
        workers: 2,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(handle.ca_pem().as_bytes()).unwrap()])
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        handle.authority_host(),
        ids::PARTNER_TENANT
    );
    let secret = handle
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::KEYVAULT_APP)
        .unwrap()
        .secrets[0]
        .clone();
    let form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", ids::KEYVAULT_APP.to_string()),
        ("client_secret", secret),
        ("scope", "https://vault.azure.net/.default".to_string()),
    ];
    let rss_before = rss_kib();
    let concurrency = 32;
    let duration = Duration::from_secs(10);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, form) = (client.clone(), url.clone(), form.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while start.elapsed() < duration {
                let t = Instant::now();
                let r = client.post(&url).form(&form).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    println!(
        "client-credential grants: {} in {elapsed:.1} s = {:.0} grants/s (concurrency {concurrency}, client and server share 2 cores)",
        all.len(),
        all.len() as f64 / elapsed
    );
    println!("latency p50 {:?}  p99 {:?}", p(0.50), p(0.99));
    println!(
        "RSS (emulator + load generator in one process): before {} MiB, after {} MiB",
        rss_before / 1024,
        rss_kib() / 1024
    );
    println!(
        "counter entra.token.client_credentials = {}",
        handle.counter("entra.token.client_credentials")
    );
}
