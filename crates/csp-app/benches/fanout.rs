//! Fan-out benchmark: `users list --all-customers` on the emulator's generated seed
//! (1,000 customers × 50 users), with 20 ms added to every Graph call and one Graph call in
//! twenty (5 %) answered 429 with `Retry-After: 1`, in two patterns ([`Throttle`]): per
//! customer (every 20th customer's first call; its retry passes) and per call (every 20th call
//! across tenants, retries included).
//!
//! `cargo bench -p csp-app --bench fanout [-- --customers N --users N --concurrency N
//! --throttle customers|calls|both]` (both by default, one after the other)
//!
//! The parent process runs the emulator, stores a consent and writes the configuration; the
//! fan-out runs in a child process (this same executable), so the peak memory reported is the
//! CLI's alone. The lower bound is what `concurrency` slots need if they are never idle — a
//! customer waiting on `Retry-After` holds no slot — plus one wait at the end (a customer
//! throttled on the last calls still has to wait it out): Graph calls × latency / concurrency
//! (+ Retry-After when any call was throttled).
//!
//! It prints the elapsed time, the lower bound and their ratio, the failed customers and the
//! peak memory, and exits non-zero when a customer failed or the run did not finish.
//!
//! With the per-call pattern a retry in the last second (when only retries are left) can itself
//! be the twentieth call and wait once more: no schedule reaches the lower bound. The bench
//! prints the best schedule for each fault pattern
//! ([`best_schedule_us`]: every slot busy whenever a call is ready, no cost but the latency) over
//! the run's own calls, at exactly 20 ms a call and at the median time a bare call takes on this
//! machine ([`bare_call_us`], measured before the run).

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::config::LoadOptions;
use common::entra::AuthorizeOptions;
use common::secret::AuthCode;
use common::tokens::TokenBroker;
use emulator::seed::ids;
use emulator::{Emulator, EmulatorConfig, Fault, Service};

const LATENCY: Duration = Duration::from_millis(20);
const RETRY_AFTER_SECS: u64 = 1;
const THROTTLE_EVERY: u32 = 20;

fn arg(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(i) = std::env::args().position(|a| a == "--child") {
        let config = std::env::args().nth(i + 1).expect("config file");
        runtime.block_on(child(config.into(), arg("--concurrency", 16)));
    } else {
        runtime.block_on(parent());
    }
}

/// Peak resident memory of this process (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn child(config_file: std::path::PathBuf, concurrency: u32) {
    let args = LoadOptions {
        config_dir: config_file.parent().unwrap().to_path_buf(),
        config_file: Some(config_file),
        ..LoadOptions::default()
    };
    let settings = common::config::load_settings(&args).expect("configuration");
    let ctx = csp_app::context::Context::build(&settings)
        .await
        .expect("context");
    let list = csp_app::UsersListArgs {
        selection: cli_kit::SelectionArgs {
            all_customers: true,
            ..Default::default()
        },
        concurrency: u16::try_from(concurrency).unwrap_or(16),
        page_size: 999,
        select: Vec::new(),
    };
    let query = common::graph::UsersQuery {
        top: Some(999),
        ..Default::default()
    };
    let mut err = Vec::new();
    let started = Instant::now();
    let mut out = CountingSink::new(started);
    let code = csp_app::fanout::users_of_all_customers(
        &ctx,
        &list,
        &query,
        csp_app::OutputFormat::Ndjson,
        &mut out,
        &mut err,
    )
    .await
    .map_err(|f| f.message);
    // As `csp-app` does before it exits.
    ctx.broker.flush().await;
    let wall = started.elapsed();
    let stats = ctx.graph.stats();
    let summary = String::from_utf8_lossy(&err);
    let failed_lines: Vec<&str> = summary
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .collect();
    let no_gdap = summary.matches("no active GDAP relationship").count();
    println!(
        "{}",
        serde_json::json!({
            "ok": code.is_ok(),
            "error": code.err(),
            "wall_ms": wall.as_millis() as u64,
            "lines": out.lines,
            "first_user_ms": out.first.map(|t| t.as_millis() as u64),
            "bytes": out.bytes,
            "graph_requests": stats.requests,
            "graph_retries": stats.retries,
            "graph_throttled": stats.throttled,
            "waited_ms": stats.waited_ms,
            "failed_customers": failed_lines.len(),
            "failed_without_gdap": no_gdap,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
}

struct CountingSink {
    started: Instant,
    /// When the first user was written, after `started`.
    first: Option<Duration>,
    lines: u64,
    bytes: u64,
}

impl CountingSink {
    fn new(started: Instant) -> Self {
        Self {
            started,
            first: None,
            lines: 0,
            bytes: 0,
        }
    }
}

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.first.get_or_insert_with(|| self.started.elapsed());
        self.bytes += buf.len() as u64;
        self.lines += buf.iter().filter(|b| **b == b'\n').count() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn parent() {
    let customers = arg("--customers", 1000);
    let users = arg("--users", 50);
    let concurrency = arg("--concurrency", 16);
    let throttles: Vec<Throttle> = match std::env::args()
        .position(|a| a == "--throttle")
        .and_then(|i| std::env::args().nth(i + 1))
        .as_deref()
    {
        None | Some("both") => vec![Throttle::Customers, Throttle::Calls],
        Some("customers") => vec![Throttle::Customers],
        Some("calls") => vec![Throttle::Calls],
        Some(other) => {
            eprintln!("--throttle {other}: expected customers, calls or both");
            std::process::exit(2);
        }
    };
    // A fleet where every customer is reachable through GDAP (the target is zero failed
    // customers): the default seed's Tailspin, deliberately without GDAP, is left out, and
    // every generated customer gets a relationship. Tests cover the no-GDAP path.
    let mut seed = emulator::Seed::default();
    let tailspin = emulator::seed::ids::CUSTOMER_TAILSPIN;
    seed.tenants.retain(|t| t.id != tailspin);
    seed.users.retain(|u| u.tenant != tailspin);
    seed.customers.retain(|c| c.tenant != tailspin);
    let seed = seed
        .with_generated_customers_gdap(customers, users, None)
        .expect("seed");
    let emu = Emulator::start(EmulatorConfig {
        seed,
        workers: 2,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator");
    let dir = tempfile::tempdir().unwrap();
    let config_file = write_config(&emu, dir.path());
    let http = common::http::build_client(&common::config::HttpSettings {
        ca_bundle: Some(dir.path().join("ca.pem")),
        ..Default::default()
    })
    .unwrap();
    consent(&emu, &http, &config_file).await;

    let bare_us = bare_call_us(&emu, &http, concurrency).await;
    let mut ok = true;
    for throttle in throttles {
        ok &= run(&emu, &config_file, throttle, concurrency, bare_us);
    }
    if !ok {
        std::process::exit(1);
    }
}

/// Which Graph calls are answered 429 (`Retry-After: 1`, after the same 20 ms), one in
/// [`THROTTLE_EVERY`] either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Throttle {
    /// Every twentieth customer's first call (counted back from the last customer, so the last
    /// customer waits at the end); its retry, after the wait, passes. Graph throttles per app
    /// per tenant, and a client that waited `Retry-After` is let through: the workload of the
    /// issue's estimate (each throttled customer waits once, "plus one final 1 s wait").
    Customers,
    /// Every twentieth Graph call counted across tenants, retries included, so a retry can be
    /// throttled again: the pattern the original 5.85 s were measured with. Which calls chain
    /// two or three waits depends on how many calls came before, so no schedule reaches the
    /// lower bound and the best one moves by up to a second with one call more or less
    /// ([`best_schedule_us`]).
    Calls,
}

impl Throttle {
    /// The benchmark's name for the run.
    fn name(self) -> &'static str {
        match self {
            Throttle::Customers => "throttle_customers",
            Throttle::Calls => "throttle_calls",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Throttle::Customers => "every 20th customer's first Graph call (per tenant)",
            Throttle::Calls => "every 20th Graph call across tenants, retries included",
        }
    }

    /// Injects the faults: faults apply in order, each for `times` requests, then the plain
    /// latency forever.
    fn inject(self, emu: &emulator::EmulatorHandle, customers: &[String]) {
        emu.clear_faults();
        match self {
            Throttle::Customers => {
                let n = customers.len();
                for (i, tenant) in customers.iter().enumerate() {
                    if (n - 1 - i).is_multiple_of(THROTTLE_EVERY as usize) {
                        emu.inject_fault(throttled().for_tenant(tenant.clone()));
                    }
                }
            }
            Throttle::Calls => {
                for _ in 0..(customers.len() * 2 / THROTTLE_EVERY as usize + 10) {
                    emu.inject_fault(Fault {
                        times: Some(THROTTLE_EVERY - 1),
                        ..Fault::latency(Service::Graph, LATENCY)
                    });
                    emu.inject_fault(throttled());
                }
            }
        }
        emu.inject_fault(Fault::latency(Service::Graph, LATENCY));
    }
}

/// One Graph call answered 429 `Retry-After: 1` after the bench's latency.
fn throttled() -> Fault {
    Fault {
        latency_ms: Some(LATENCY.as_millis() as u64),
        ..Fault::status(Service::Graph, 429)
            .retry_after(RETRY_AFTER_SECS)
            .times(1)
    }
}

/// Runs the fan-out once in a child process under `throttle` and prints its figures; `false`
/// when a customer failed or the run did not finish.
fn run(
    emu: &emulator::EmulatorHandle,
    config_file: &std::path::Path,
    throttle: Throttle,
    concurrency: u32,
    bare_us: u64,
) -> bool {
    // The partner's customers in the order Partner Center lists them, which is the order the
    // fan-out starts them in.
    let customers: Vec<String> = emu
        .seed()
        .customers
        .iter()
        .filter(|c| {
            c.partner
                .as_deref()
                .is_none_or(|p| p.eq_ignore_ascii_case(ids::PARTNER_TENANT))
        })
        .map(|c| c.tenant.clone())
        .collect();
    throttle.inject(emu, &customers);
    let tokens_before = emu.counter("entra.token.refresh_token");
    eprintln!(
        "fan-out over {} customers, concurrency {concurrency}, +{LATENCY:?} per Graph call, 429 Retry-After: {RETRY_AFTER_SECS} on {}",
        customers.len(),
        throttle.describe()
    );
    let started = Instant::now();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--child",
            &config_file.display().to_string(),
            "--concurrency",
            &concurrency.to_string(),
        ])
        .output()
        .expect("child runs");
    let total = started.elapsed();
    emu.clear_faults();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let r: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| {
            panic!(
                "child output ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let requests = r["graph_requests"].as_u64().unwrap_or(0);
    let retries = r["graph_retries"].as_u64().unwrap_or(0);
    let throttled = r["graph_throttled"].as_u64().unwrap_or(0);
    let final_wait_ms = if throttled > 0 {
        RETRY_AFTER_SECS as f64 * 1000.0
    } else {
        0.0
    };
    let lower_bound_ms =
        requests as f64 * LATENCY.as_millis() as f64 / f64::from(concurrency) + final_wait_ms;
    let wall_ms = r["wall_ms"].as_u64().unwrap_or(0) as f64;
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "fanout/users_all_customers/{}", throttle.name());
    let _ = writeln!(stdout, "  429s on                {}", throttle.describe());
    let _ = writeln!(
        stdout,
        "  customers              {} (all reachable through GDAP)",
        customers.len()
    );
    let _ = writeln!(
        stdout,
        "  users written          {} (the first after {} ms: the customer lists and the first tokens)",
        r["lines"], r["first_user_ms"]
    );
    let _ = writeln!(
        stdout,
        "  elapsed                {:.2} s   (lower bound {:.2} s, ratio {:.2}; child process {:.2} s)",
        wall_ms / 1000.0,
        lower_bound_ms / 1000.0,
        wall_ms / lower_bound_ms,
        total.as_secs_f64()
    );
    let _ = writeln!(
        stdout,
        "  lower bound            {requests} Graph calls x {} ms / {concurrency} + {:.0} ms final Retry-After",
        LATENCY.as_millis(),
        final_wait_ms
    );
    // The calls made once each: every customer's page and the customer list's pages.
    let first_calls = requests.saturating_sub(retries);
    let list_calls = first_calls.saturating_sub(customers.len() as u64);
    let best = |latency_us| {
        best_schedule_us(
            list_calls,
            customers.len() as u64,
            concurrency,
            latency_us,
            throttle,
        ) as f64
            / 1000.0
    };
    let best_ms = best(LATENCY.as_micros() as u64);
    let _ = writeln!(
        stdout,
        "  best schedule          {:.2} s   (these faults, {first_calls} calls of exactly {} ms, nothing else; ratio {:.2})",
        best_ms / 1000.0,
        LATENCY.as_millis(),
        wall_ms / best_ms
    );
    let here_ms = best(bare_us);
    let _ = writeln!(
        stdout,
        "  best here              {:.2} s   (the same at {:.2} ms, a bare call's median here; ratio {:.2})",
        here_ms / 1000.0,
        bare_us as f64 / 1000.0,
        wall_ms / here_ms
    );
    let _ = writeln!(
        stdout,
        "  Graph calls            {requests} (retries {retries}, 429s {throttled}, waited {} ms in total)",
        r["waited_ms"]
    );
    let _ = writeln!(
        stdout,
        "  Entra token requests   {}",
        emu.counter("entra.token.refresh_token") - tokens_before
    );
    let _ = writeln!(
        stdout,
        "  failed customers       {} (of which without GDAP {})",
        r["failed_customers"], r["failed_without_gdap"]
    );
    let _ = writeln!(
        stdout,
        "  peak memory (CLI)      {:.1} MiB",
        r["peak_rss_mib"].as_f64().unwrap_or(f64::NAN)
    );
    if r["ok"] != true {
        let _ = writeln!(stdout, "  error                  {}", r["error"]);
    }
    let failed = r["failed_customers"].as_u64();
    if r["ok"] != true || failed != Some(0) {
        let _ = writeln!(stdout, "FAILED: every customer must be listed");
        return false;
    }
    true
}

/// Simulates the best any scheduler can do on the bench's faults: `list_calls` calls for the
/// customer lists, then one page per customer, `concurrency` slots, each call taking
/// `latency_us` and nothing else, a call whose wait is over going first. Which calls are answered
/// 429 (and ready again [`RETRY_AFTER_SECS`] after it) follows `throttle`. In microseconds.
///
/// With [`Throttle::Calls`] the result depends on where the count of calls stands when the
/// last retries run: 1,006 first calls (1,002 customers, 4 list pages) give 2.90 s at 20 ms;
/// with two more calls before them it is 3.86 s (one customer throttled three times in a row).
fn best_schedule_us(
    list_calls: u64,
    customers: u64,
    concurrency: u32,
    latency: u64,
    throttle: Throttle,
) -> u64 {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let wait = RETRY_AFTER_SECS * 1_000_000;
    let every = u64::from(THROTTLE_EVERY);
    let total = list_calls + customers;
    let mut slots: BinaryHeap<Reverse<u64>> = (0..concurrency.max(1)).map(|_| Reverse(0)).collect();
    let mut waiting: BinaryHeap<Reverse<u64>> = BinaryHeap::new();
    let (mut started, mut done, mut calls, mut end) = (0, 0, 0u64, 0);
    while done < total {
        let Some(Reverse(free)) = slots.pop() else {
            break;
        };
        let (start, first) = match waiting.peek() {
            Some(&Reverse(ready)) if ready <= free || started == total => {
                waiting.pop();
                (free.max(ready), None)
            }
            _ if started < total => {
                started += 1;
                (free, Some(started - 1))
            }
            _ => break,
        };
        calls += 1;
        let finish = start + latency;
        let is_throttled = match throttle {
            Throttle::Calls => calls.is_multiple_of(every),
            // The customer's first call, counted back from the last customer.
            Throttle::Customers => first
                .and_then(|call| call.checked_sub(list_calls))
                .is_some_and(|customer| (customers - 1 - customer).is_multiple_of(every)),
        };
        if is_throttled {
            waiting.push(Reverse(finish + wait));
        } else {
            done += 1;
            end = end.max(finish);
        }
        slots.push(Reverse(finish));
    }
    end
}

/// The median time a bare Graph call takes from this machine's client with the bench's latency
/// added (no token, so the emulator answers 401 without a body to speak of), `concurrency` at a
/// time: what TLS, HTTP/2 and the two processes add to the 20 ms here.
async fn bare_call_us(
    emu: &emulator::EmulatorHandle,
    http: &reqwest::Client,
    concurrency: u32,
) -> u64 {
    emu.inject_fault(Fault::latency(Service::Graph, LATENCY));
    let url = format!("{}/v1.0/users", emu.graph_url());
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1) as usize));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) * 20 {
        let slot = slots.clone().acquire_owned().await.expect("semaphore open");
        let (http, url) = (http.clone(), url.clone());
        calls.spawn(async move {
            let started = Instant::now();
            let response = http.get(&url).send().await.expect("the emulator answers");
            let _ = response.bytes().await;
            drop(slot);
            started.elapsed().as_micros() as u64
        });
    }
    let mut times = calls.join_all().await;
    emu.clear_faults();
    times.sort_unstable();
    times[times.len() / 2]
}

fn write_config(emu: &emulator::EmulatorHandle, dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::write(dir.join("ca.pem"), emu.ca_pem()).unwrap();
    let secret = emu
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::CSP_APP)
        .unwrap()
        .secrets[0]
        .clone();
    let p = |n: &str| dir.join(n).display().to_string();
    let config = format!(
        "mode = \"csp\"\n[app]\nclient_id = \"{}\"\nclient_secret = \"{secret}\"\n[partner]\ntenant_id = \"{}\"\n[cloud]\nname = \"custom\"\nauthority_host = \"{}\"\ngraph_url = \"{}\"\npartner_center_url = \"{}\"\nkey_vault_dns_suffix = \"{}\"\n[consent]\nredirect_url = \"http://127.0.0.1:8080/callback\"\n[store]\nkind = \"local\"\n[store.local]\npath = \"{}\"\nkey_file = \"{}\"\n[http]\nca_bundle = \"{}\"\n[log]\nfilter = \"error\"\n",
        ids::CSP_APP,
        ids::PARTNER_TENANT,
        emu.authority_host(),
        emu.graph_url(),
        emu.partner_center_url(),
        emu.key_vault_dns_suffix(),
        p("tokens.enc"),
        p("store.key"),
        p("ca.pem"),
    );
    let file = dir.join("csp.toml");
    std::fs::write(&file, config).unwrap();
    file
}

async fn consent(
    emu: &emulator::EmulatorHandle,
    http: &reqwest::Client,
    config_file: &std::path::Path,
) {
    let args = LoadOptions {
        config_dir: config_file.parent().unwrap().to_path_buf(),
        config_file: Some(config_file.to_path_buf()),
        ..LoadOptions::default()
    };
    let settings = common::config::load_settings(&args).unwrap();
    let broker = TokenBroker::from_settings(&settings, http.clone())
        .await
        .unwrap();
    let pending = broker.consent_url(AuthorizeOptions {
        prompt: Some("consent".into()),
        ..AuthorizeOptions::default()
    });
    let code = emu
        .authorization_code(http, &pending.url, "admin@contoso-partner.onmicrosoft.com")
        .await
        .expect("the demo admin consents");
    broker
        .store_consent(AuthCode::new(code), &pending)
        .await
        .expect("consent stored");
}
