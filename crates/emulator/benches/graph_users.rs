//! Microsoft Graph `GET /v1.0/users` requests per second and latency percentiles on a
//! 1,000-customer seed (50 users each, 50,003 users in all).
//! `cargo bench -p emulator --bench graph_users` (release). Bounded: 10 s, loopback only.
//!
//! Each request reads one full page (`$top=50`) of one customer tenant with the CPV app's
//! app-only token for that tenant (application permission `User.Read.All`), cycling over 50
//! customers, so every request validates a token and scans the directory.

use emulator::partner_data::generate::generated_tenant_id;
use emulator::seed::{PermissionSeed, ServicePrincipalSeed, ids};
use emulator::{Emulator, EmulatorConfig};
use std::time::{Duration, Instant};

const CUSTOMERS: u32 = 1000;
const USERS_PER_CUSTOMER: u32 = 50;
const TENANTS_USED: u32 = 50;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut config = EmulatorConfig {
        workers: 2,
        ..EmulatorConfig::default()
    }
    .with_generated_customers(CUSTOMERS, USERS_PER_CUSTOMER)
    .expect("a valid generated seed");
    for i in 1..=TENANTS_USED {
        config = config.with_service_principal(ServicePrincipalSeed {
            tenant: generated_tenant_id(i),
            app_id: ids::CPV_APP.into(),
            object_id: format!("5b{i:06x}-0000-4000-a000-000000000002"),
            app_roles: vec![PermissionSeed {
                resource: "00000003-0000-0000-c000-000000000000".into(),
                scopes: vec!["User.Read.All".into()],
            }],
        });
    }
    let started = Instant::now();
    let handle = Emulator::start(config).await.expect("the emulator starts");
    println!(
        "started with {} users in {:.1} s",
        handle.seed().users.len(),
        started.elapsed().as_secs_f64()
    );
    let client = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(handle.ca_pem().as_bytes()).unwrap()])
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let secret = handle
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::CPV_APP)
        .unwrap()
        .secrets[0]
        .clone();
    let mut tokens = Vec::new();
    for i in 1..=TENANTS_USED {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            handle.authority_host(),
            generated_tenant_id(i)
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", ids::CPV_APP),
            ("client_secret", secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        let body: serde_json::Value = client
            .post(&url)
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(
            body["access_token"]
                .as_str()
                .expect("an access token")
                .to_string(),
        );
    }
    let url = format!("{}/v1.0/users?$top=50", handle.graph_url());
    let concurrency = 32;
    let duration = Duration::from_secs(10);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, url, tokens) = (client.clone(), url.clone(), tokens.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = worker;
            while start.elapsed() < duration {
                let token = &tokens[n % tokens.len()];
                n += 1;
                let t = Instant::now();
                let r = client.get(&url).bearer_auth(token).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let body: serde_json::Value = r.json().await.unwrap();
                assert_eq!(body["value"].as_array().map(Vec::len), Some(50));
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
        "graph /users ($top=50) on {CUSTOMERS} customers x {USERS_PER_CUSTOMER} users: {} requests in {elapsed:.1} s = {:.0} requests/s (concurrency {concurrency}, client and server share 2 cores)",
        all.len(),
        all.len() as f64 / elapsed
    );
    println!(
        "latency p50 {:?}, p99 {:?}, max {:?}",
        p(0.50),
        p(0.99),
        all[all.len() - 1]
    );
}
