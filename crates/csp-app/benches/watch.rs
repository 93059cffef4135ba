//! Watch benchmark: watch cycles over 1,000 partners with 100 customers each, through the
//! emulator, then the console's overview and customers pages over HTTP with a signed-in
//! operator session.
//!
//! `cargo bench -p csp-app --bench watch [-- --partners N --customers N --concurrency N --runs N
//! --cycles N --fault response-time|latency]`
//!
//! The parent process runs the emulator (the default seed plus
//! `Seed::with_generated_partners`: partner tenants, each with one admin agent and its
//! customers, every customer with an active GDAP relationship), stores each partner's consent
//! in the local store the way partner-consent does (the admin agent walks the emulator's
//! sign-in, MFA and consent pages; the token broker checks and stores the grant), and writes
//! the configuration (the demo partner Contoso is the configured one; the console on). The
//! watch runs in a child process (this same executable with `--child`), so the peak memory
//! reported is the watch's alone, not the emulator's: it serves the console, runs `--cycles`
//! cycles (default 3) one after another (`Watcher::cycle`; from the second on, the console
//! holds the previous cycle's snapshot meanwhile, as in a running service) and reports them,
//! then serves until the parent closes its stdin.
//!
//! During the cycles every Entra and Graph request takes 20 ms: the emulator answers each 20 ms
//! after it arrived (`Fault::response_time`: its own work, an RSA signature or a page's
//! serialization, counts within the 20 ms, as Microsoft's processing counts within its response
//! time; `--fault latency` waits 20 ms before the handler instead, the emulator's work on top,
//! which is how this benchmark measured before). The bound of a cycle is its requests at 20 ms
//! each, `concurrency` at a time: (refresh-token redemptions + Graph calls, counted with the
//! emulator's counters) × 20 ms / concurrency. The parent then signs an operator in (the
//! console's `/auth/signin`, the emulator's sign-in pages, the callback) and fetches `/` and
//! `/customers` (searched and paged) `--runs` times each.
//!
//! Prints the first cycle's wall time, its bound and ratio, the later cycles' times, the
//! failures of every cycle (checks that could not run, `unknown` findings, partners not kept
//! alive), p50/p95/max per page and the watch's peak RSS over all of it (`VmHWM` of the child);
//! exits non-zero when a failure or a page error occurred.

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::config::LoadOptions;
use common::entra::AuthorizeOptions;
use common::secret::AuthCode;
use common::tokens::TokenBroker;
use csp_app::watch::console::Console;
use csp_app::watch::{State, SystemClock, Thresholds, WatchOptions, Watcher, server};
use emulator::browser::ConsentAnswer;
use emulator::partner_data::generate_partners::{generated_partner_admin, generated_partner_id};
use emulator::seed::ids;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle, Fault, Service};
use futures::StreamExt as _;

const LATENCY: Duration = Duration::from_millis(20);
/// The demo console app of the emulator's seed and its demo secret.
const CONSOLE_APP: &str = "40000000-0000-4000-8000-000000000005";
const CONSOLE_SECRET: &str = "console-demo-secret-NOT-A-REAL-SECRET";
const OPERATOR: &str = "operator@contoso-partner.onmicrosoft.com";
const CONTOSO_ADMIN: &str = "admin@contoso-partner.onmicrosoft.com";

fn arg(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The csp-app binary's allocator (`src/main.rs` says why), so the watch's memory measured
/// here is the service's.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(config) = text_arg("--child") {
        let listen = text_arg("--listen").expect("--listen");
        runtime.block_on(child(
            config.into(),
            &listen,
            arg("--concurrency", 16),
            arg("--cycles", 3),
        ));
    } else {
        runtime.block_on(parent());
    }
}

/// `VmHWM` (peak) or `VmRSS` of a process, in MiB.
fn memory_mib(pid: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The watch: serves the console, runs `cycles` cycles one after another (as the service does,
/// each while the console holds the last one's snapshot), reports them (one JSON line), serves
/// until stdin closes.
async fn child(config_file: PathBuf, listen: &str, concurrency: u32, cycles: u32) {
    let args = LoadOptions {
        config_dir: config_file.parent().unwrap().to_path_buf(),
        config_file: Some(config_file.clone()),
        ..LoadOptions::default()
    };
    let settings = common::config::load_settings(&args).expect("configuration");
    let ctx = csp_app::context::Context::build(&settings)
        .await
        .expect("context");
    let options = WatchOptions {
        thresholds: Thresholds {
            warn: 30 * 86_400,
            critical: 7 * 86_400,
            gdap_stuck: 3_600,
        },
        state_file: config_file.with_file_name("watch-state.json"),
        webhook: None,
    };
    let watcher = Watcher::new(&ctx, options, Arc::new(SystemClock))
        .expect("watcher")
        .with_concurrency(concurrency as usize);
    let listener = std::net::TcpListener::bind(listen).expect("listen");
    let console =
        Console::from_settings(&ctx.settings, &ctx.http, ctx.broker.entra(), &ctx.partner);
    assert!(console.is_some(), "the console is configured");
    let (_, serve) = server::start_with_console(listener, watcher.shared(), console).unwrap();
    tokio::spawn(serve);
    let before = memory_mib("self", "VmRSS:");
    let mut walls = Vec::new();
    let mut rss_after = Vec::new();
    let mut failures = serde_json::Map::new();
    let mut peak_after_first = f64::NAN;
    let mut line = serde_json::Value::Null;
    for n in 0..cycles.max(1) {
        let started = Instant::now();
        let report = watcher.cycle().await;
        walls.push(started.elapsed().as_secs_f64() * 1e3);
        rss_after.push(memory_mib("self", "VmRSS:"));
        if n == 0 {
            peak_after_first = memory_mib("self", "VmHWM:");
        }
        let last = watcher.shared().last();
        let count = |check: &str, ok: bool| {
            report
                .findings
                .iter()
                .filter(|f| f.check == check && (f.state == State::Ok) == ok)
                .count()
        };
        // The failures of every cycle add up.
        let unknown = report
            .findings
            .iter()
            .filter(|f| f.state == State::Unknown)
            .count();
        for (key, value) in [
            ("unknown", unknown),
            ("keepalive_not_ok", count("keepalive", false)),
        ] {
            let total = failures
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            failures.insert(key.into(), (total + value as u64).into());
        }
        let mut errors: Vec<&str> = failures
            .get("errors")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        errors.extend(report.errors.iter().copied());
        let errors = serde_json::json!(errors);
        failures.insert("errors".into(), errors);
        line = serde_json::json!({
            "findings": report.findings.len(),
            "needs_consent": report.needs_consent,
            "partners": last.partners.len(),
            "kept_alive": count("keepalive", true),
            "relationships": last.relationships.len(),
        });
    }
    ctx.broker.flush().await;
    let fields = line.as_object_mut().expect("a cycle ran");
    fields.extend(failures);
    fields.insert("cycles_ms".into(), serde_json::json!(walls));
    fields.insert("rss_after_cycles_mib".into(), serde_json::json!(rss_after));
    fields.insert("rss_before_mib".into(), before.into());
    fields.insert("peak_after_first_mib".into(), peak_after_first.into());
    fields.insert(
        "peak_after_cycles_mib".into(),
        memory_mib("self", "VmHWM:").into(),
    );
    println!("{line}");
    std::io::stdout().flush().unwrap();
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)
    })
    .await;
}

async fn parent() {
    let partners = arg("--partners", 1000);
    let customers = arg("--customers", 100);
    let concurrency = arg("--concurrency", 16);
    let runs = arg("--runs", 40) as usize;
    let cycles = arg("--cycles", 3).max(1);
    let started = Instant::now();
    let seed = emulator::Seed::default()
        .with_generated_partners(partners, customers)
        .expect("seed");
    let emu = Emulator::start(EmulatorConfig {
        seed,
        workers: 2,
        sign_in_port: Some(0),
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator");
    eprintln!(
        "emulator with {partners} generated partners x {customers} customers up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = format!("http://127.0.0.1:{port}");
    emu.add_redirect_uri(CONSOLE_APP, &format!("{origin}/auth/callback"))
        .unwrap();
    let config_file = write_config(&emu, dir.path(), &origin);
    let http = common::http::build_client(&common::config::HttpSettings {
        ca_bundle: Some(dir.path().join("ca.pem")),
        ..Default::default()
    })
    .unwrap();
    let started = Instant::now();
    consent_all(&emu, &http, &config_file, partners).await;
    eprintln!(
        "{} consents stored in {:.1} s",
        partners + 1,
        started.elapsed().as_secs_f64()
    );

    // Microsoft's time per request: a response time by default (the emulator's own work counts
    // within it, as Microsoft's processing counts within its response time); with
    // `--fault latency`, a latency before the handler, the emulator's work on top.
    let (fault, fault_name): (fn(Service, Duration) -> Fault, _) =
        match text_arg("--fault").as_deref() {
            Some("latency") => (Fault::latency, "latency before the handler"),
            None | Some("response-time") => (Fault::response_time, "response time"),
            Some(other) => panic!("--fault {other}: expected response-time or latency"),
        };
    emu.inject_fault(fault(Service::Entra, LATENCY));
    emu.inject_fault(fault(Service::Graph, LATENCY));
    let before = emu.counters();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--child",
            &config_file.display().to_string(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--concurrency",
            &concurrency.to_string(),
            "--cycles",
            &cycles.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("child runs");
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        line
    })
    .await
    .unwrap();
    emu.clear_faults();
    let after = emu.counters();
    let r: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("child output ({e}): {line}"));
    let delta = |prefix: &str| -> u64 {
        after
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| v - before.get(k).copied().unwrap_or(0))
            .sum()
    };
    // Per cycle: every cycle makes the same requests.
    let per_cycle = |prefix: &str| delta(prefix) / u64::from(cycles);
    let redemptions = per_cycle("entra.token.refresh_token");
    let graph = per_cycle("graph.");
    let gdap_lists = per_cycle("graph.gdap.list");

    let session = sign_in(&emu, &http, &origin).await;
    let pages = fetch_pages(&http, &origin, &session, runs).await;
    let pid = child.id().to_string();
    let peak = memory_mib(&pid, "VmHWM:");
    drop(child.stdin.take());
    let _ = child.wait();

    let run = Run {
        partners,
        customers,
        concurrency,
        redemptions,
        graph,
        gdap_lists,
        peak,
        fault: fault_name,
    };
    if !report(&run, &r, pages) {
        std::process::exit(1);
    }
}

/// What the parent counted around the cycles (requests per cycle).
struct Run {
    partners: u32,
    customers: u32,
    concurrency: u32,
    redemptions: u64,
    graph: u64,
    gdap_lists: u64,
    /// Peak RSS of the watch, MiB.
    peak: f64,
    /// How the 20 ms are injected.
    fault: &'static str,
}

/// Prints the figures; `false` on a failure or a page error.
fn report(run: &Run, r: &serde_json::Value, pages: Vec<(&'static str, PageTimes)>) -> bool {
    let Run {
        partners,
        customers,
        concurrency,
        redemptions,
        graph,
        gdap_lists,
        peak,
        fault,
    } = *run;
    let cycles_ms: Vec<f64> = r["cycles_ms"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    let cycle_ms = cycles_ms.first().copied().unwrap_or(f64::NAN);
    let bound_ms =
        (redemptions + graph) as f64 * LATENCY.as_secs_f64() * 1e3 / f64::from(concurrency);
    let failures = r["errors"].as_array().map_or(1, Vec::len) as u64
        + r["unknown"].as_u64().unwrap_or(1)
        + r["keepalive_not_ok"].as_u64().unwrap_or(1);
    let mut out = std::io::stdout();
    let _ = writeln!(out, "watch/cycle/{partners}x{customers}");
    let _ = writeln!(
        out,
        "  partners stored        {} ({partners} generated + the configured one), kept alive {}",
        r["partners"], r["kept_alive"]
    );
    let _ = writeln!(
        out,
        "  relationships          {} listed, {} findings",
        r["relationships"], r["findings"]
    );
    let _ = writeln!(
        out,
        "  cycle                  {:.2} s   (bound {:.2} s, ratio {:.2})",
        cycle_ms / 1e3,
        bound_ms / 1e3,
        cycle_ms / bound_ms
    );
    if let Some(worst) = cycles_ms.iter().skip(1).copied().reduce(f64::max) {
        let later: Vec<String> = cycles_ms[1..]
            .iter()
            .map(|ms| format!("{:.2}", ms / 1e3))
            .collect();
        let _ = writeln!(
            out,
            "  later cycles           {} s   (worst ratio {:.2}; the console holds the previous snapshot meanwhile)",
            later.join(", "),
            worst / bound_ms
        );
    }
    let _ = writeln!(
        out,
        "  bound                  ({redemptions} token redemptions + {graph} Graph calls, of which {gdap_lists} GDAP listings) x {} ms ({fault}) / {concurrency}",
        LATENCY.as_millis()
    );
    let _ = writeln!(
        out,
        "  failures               {failures} (checks not run {}, unknown findings {}, partners not kept alive {})",
        r["errors"], r["unknown"], r["keepalive_not_ok"]
    );
    let mut ok = failures == 0;
    for (name, result) in pages {
        match result {
            Ok((mut ms, bytes)) => {
                ms.sort_by(f64::total_cmp);
                let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).saturating_sub(1)];
                let _ = writeln!(
                    out,
                    "  {name:<22} p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({bytes} bytes, {} requests)",
                    at(0.5),
                    at(0.95),
                    ms[ms.len() - 1],
                    ms.len()
                );
            }
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "  {name:<22} FAILED: {e}");
            }
        }
    }
    let _ = writeln!(
        out,
        "  peak RSS (watch)       {peak:.1} MiB over {} cycles and the page views (after the first cycle {:.1} MiB; at start {:.1} MiB; the emulator runs in the parent and is not counted)",
        cycles_ms.len(),
        r["peak_after_first_mib"].as_f64().unwrap_or(f64::NAN),
        r["rss_before_mib"].as_f64().unwrap_or(f64::NAN)
    );
    if let Some(rss) = r["rss_after_cycles_mib"].as_array() {
        let rss: Vec<String> = rss
            .iter()
            .filter_map(serde_json::Value::as_f64)
            .map(|m| format!("{m:.0}"))
            .collect();
        let _ = writeln!(out, "  RSS after each cycle   {} MiB", rss.join(", "));
    }
    if !ok {
        let _ = writeln!(out, "FAILED");
    }
    ok
}

/// Consents of the configured partner and of every generated one, 8 at a time, each through
/// a broker configured for its partner (the tenant rule: a CSP broker stores its own partner's
/// consent only), all into the one local store.
async fn consent_all(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    config_file: &Path,
    partners: u32,
) {
    let args = LoadOptions {
        config_dir: config_file.parent().unwrap().to_path_buf(),
        config_file: Some(config_file.to_path_buf()),
        ..LoadOptions::default()
    };
    let settings = common::config::load_settings(&args).unwrap();
    let mut all = vec![(ids::PARTNER_TENANT.to_owned(), CONTOSO_ADMIN.to_owned())];
    all.extend((1..=partners).map(|p| (generated_partner_id(p), generated_partner_admin(p))));
    let results: Vec<()> = futures::stream::iter(all)
        .map(|(tenant, upn)| {
            let mut settings = settings.clone();
            settings.partner.tenant_id = Some(tenant);
            async move {
                let broker = TokenBroker::from_settings(&settings, http.clone())
                    .await
                    .unwrap();
                let pending = broker.consent_url(AuthorizeOptions {
                    prompt: Some("consent".into()),
                    ..AuthorizeOptions::default()
                });
                let code = emu
                    .authorization_code(http, &pending.url, &upn)
                    .await
                    .unwrap_or_else(|e| panic!("{upn} consents: {e}"));
                broker
                    .store_consent(AuthCode::new(code), &pending)
                    .await
                    .unwrap_or_else(|e| panic!("consent of {upn} stored: {e}"));
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(results.len(), partners as usize + 1);
}

/// The `name=value` of each cookie a response sets (cleared ones left out).
fn cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|pair| {
            pair.split_once('=')
                .is_some_and(|(_, value)| !value.is_empty())
        })
        .map(str::to_owned)
        .collect()
}

/// Signs the operator in to the console; the session's `Cookie` header.
async fn sign_in(emu: &EmulatorHandle, http: &reqwest::Client, origin: &str) -> String {
    let start = http
        .get(format!("{origin}/auth/signin"))
        .send()
        .await
        .expect("the console answers");
    let authorize: url::Url = start
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.parse().ok())
        .expect("sign-in redirects to Entra");
    let sign_in_cookie = cookies(&start).join("; ");
    let callback = emu
        .sign_in(http, &authorize, OPERATOR, ConsentAnswer::Accept)
        .await
        .expect("the operator signs in");
    let done = http
        .get(callback)
        .header(reqwest::header::COOKIE, sign_in_cookie)
        .send()
        .await
        .expect("callback");
    let session = cookies(&done).join("; ");
    assert!(!session.is_empty(), "a session cookie ({})", done.status());
    session
}

type PageTimes = Result<(Vec<f64>, usize), String>;

/// Fetches the overview and the customers page (searched and paged as an operator would)
/// `runs` times each.
async fn fetch_pages(
    http: &reqwest::Client,
    origin: &str,
    session: &str,
    runs: usize,
) -> Vec<(&'static str, PageTimes)> {
    let mut results = Vec::new();
    for (name, paths) in [
        ("overview", vec!["/".to_owned()]),
        (
            "customers",
            vec![
                "/customers".to_owned(),
                "/customers?page=7".to_owned(),
                "/customers?q=Partner%2000500".to_owned(),
                "/customers?q=customer%2000042&page=3".to_owned(),
            ],
        ),
    ] {
        let mut times = Vec::new();
        let mut bytes = 0;
        let mut failed = None;
        for run in 0..runs {
            let path = &paths[run % paths.len()];
            let t = Instant::now();
            let response = http
                .get(format!("{origin}{path}"))
                .header(reqwest::header::COOKIE, session)
                .send()
                .await;
            let result = match response {
                Ok(r) if r.status().is_success() => r.bytes().await.map_err(|e| e.to_string()),
                Ok(r) => Err(format!("{path}: HTTP {}", r.status())),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(body) => {
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                    bytes = body.len();
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        results.push((name, failed.map_or(Ok((times, bytes)), Err)));
    }
    results
}

fn write_config(emu: &EmulatorHandle, dir: &Path, origin: &str) -> PathBuf {
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
        "mode = \"csp\"\n[app]\nclient_id = \"{}\"\nclient_secret = \"{secret}\"\n[partner]\ntenant_id = \"{}\"\n[cloud]\nname = \"custom\"\nauthority_host = \"{}\"\ngraph_url = \"{}\"\npartner_center_url = \"{}\"\nkey_vault_dns_suffix = \"{}\"\n[entra]\nsign_in_host = \"{}\"\n[consent]\nredirect_url = \"http://127.0.0.1:8080/callback\"\n[store]\nkind = \"local\"\n[store.local]\npath = \"{}\"\nkey_file = \"{}\"\n[http]\nca_bundle = \"{}\"\n[log]\nfilter = \"error\"\n[watch.console]\nredirect_url = \"{origin}/auth/callback\"\nclient_id = \"{CONSOLE_APP}\"\nclient_secret = \"{CONSOLE_SECRET}\"\nread_access = \"Console.Read\"\nwrite_access = \"Console.Operate\"\n",
        ids::CSP_APP,
        ids::PARTNER_TENANT,
        emu.authority_host(),
        emu.graph_url(),
        emu.partner_center_url(),
        emu.key_vault_dns_suffix(),
        emu.sign_in_host(),
        p("tokens.enc"),
        p("store.key"),
        p("ca.pem"),
    );
    let file = dir.join("csp.toml");
    std::fs::write(&file, config).unwrap();
    file
}
