//! Grants the CPV application's consent to 1,000 customers of one partner (the emulator's
//! deterministic generator) and reports wall time, Partner Center calls, 429s waited out and
//! memory. Run with `cargo bench -p cpv-app --bench grant_1000`.
//!
//! The emulator runs in the same process (port 0, real HTTPS), so the peak resident set includes
//! it; the growth during the run is printed beside it. The lower bound of the wall time is set
//! by the client-side rate (`customers / rate`).

#[expect(
    dead_code,
    reason = "the end-to-end test helpers are shared; the benchmark uses a few of them"
)]
#[path = "../tests/cli/helpers.rs"]
mod helpers;

use std::time::Instant;

use emulator::EmulatorConfig;

const CUSTOMERS: u32 = 1_000;

fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn run_once(rate: u32) {
    let config = EmulatorConfig {
        workers: 2,
        ..EmulatorConfig::default()
    }
    .with_generated_customers(CUSTOMERS, 1)
    .expect("generated seed");
    let app = helpers::spawn_with(config).await;
    app.consent(helpers::CONTOSO_ADMIN).await;
    let rss_before = memory_kib("VmRSS:");
    let rate_arg = rate.to_string();
    let started = Instant::now();
    let out = app
        .run(&[
            "consent",
            "grant",
            "--partner",
            helpers::CONTOSO,
            "--all-customers",
            "--grant",
            "graph:User.Read.All,Directory.Read.All",
            "--consent-rate",
            &rate_arg,
            "--concurrency",
            "32",
            "--output",
            "json",
        ])
        .await;
    let wall = started.elapsed();
    let peak = memory_kib("VmHWM:");
    let doc = out.json();
    let summary = &doc["summary"];
    let granted = summary["outcomes"]["granted"].as_u64().unwrap_or(0);
    let failed = summary["outcomes"]["failed"].as_u64().unwrap_or(0);
    let lower_bound = f64::from(CUSTOMERS + 3) / f64::from(rate);
    println!(
        "grant_1000 rate={rate}/s concurrency=32: {granted} granted, {failed} failed, wall {:.2} s (lower bound {lower_bound:.2} s = {} customers / {rate} per s, ratio {:.2}), \
{} Partner Center requests, {} Graph requests, {} throttled (429, Retry-After honoured), emulator create calls {}, \
peak RSS {:.1} MiB (process incl. emulator), growth during the run {:.1} MiB",
        wall.as_secs_f64(),
        CUSTOMERS + 3,
        wall.as_secs_f64() / lower_bound,
        summary["partner_center_calls"],
        summary["graph_calls"],
        summary["throttled"],
        app.emu.counter("partnercenter.applicationconsents.create"),
        peak as f64 / 1024.0,
        peak.saturating_sub(rss_before) as f64 / 1024.0,
    );
    assert_eq!(failed, 0, "{}", out.stdout);
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("grant_1000: run with `cargo bench -p cpv-app --bench grant_1000`");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // The default (48: 4 % under the limit), and the limit itself.
        run_once(48).await;
        run_once(50).await;
    });
}
