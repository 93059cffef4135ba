//! Grants the CPV application's consent to 1,000 customers of one partner (the emulator's
//! deterministic generator) and reports wall time, Partner Center calls, 429s waited out and
//! memory. Run with `cargo bench -p cpv-app --bench grant_1000`.
//!
//! Four runs: delegated permissions only at 48/s (the default) and at 50/s (Partner Center's
//! limit); then delegated plus application permissions (`--application graph:User.Read.All`)
//! with Microsoft's replication delay after each consent, 1 to 10 s at random
//! (docs/microsoft-behaviour.md §6.6): the client waits for each customer's service principal
//! before its Graph step, holding no fan-out slot while it waits; and the same under Graph's
//! per-application, per-tenant request budget (§0b) set tight — 3 requests per 10 s, so every
//! customer's fourth Graph request is answered 429 with `Retry-After` and waited out.
//!
//! The emulator runs in the same process (port 0, real HTTPS), so the peak resident set includes
//! it; the growth during the run is printed beside it. The bounds: `customers / rate` without
//! replication; Partner Center's 50/s time plus the longest replication delay with it; plus one
//! budget window (10 s) under the tight Graph budget.

#[expect(
    dead_code,
    reason = "the end-to-end test helpers are shared; the benchmark uses a few of them"
)]
#[path = "../tests/cli/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use emulator::partner_data::ids as pids;
use emulator::partner_data::seed::{AccessAssignmentSeed, GdapSeed};
use emulator::seed::ids;
use emulator::{EmulatorConfig, GraphThrottleSettings, ReplicationSettings};

const CUSTOMERS: u32 = 1_000;
/// Partner Center's limit on application consents per application.
const PC_RATE: u32 = 50;
const LONGEST_DELAY: Duration = Duration::from_secs(10);
const BUDGET_WINDOW_SECS: u64 = 10;
/// Cloud Application Administrator (may assign app roles) and Directory Readers.
const CLOUD_APP_ADMIN: &str = "158c047a-c907-4556-b7ef-446551a6b5f7";
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";
/// The delegated permissions that let `consent grant` add application permissions.
const ASSIGNER: &str = "graph:User.Read.All,AppRoleAssignment.ReadWrite.All,Application.Read.All";

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

/// One run's settings.
#[derive(Clone, Copy)]
struct Scenario {
    rate: u32,
    /// Application permissions too, with a 1–10 s replication delay after each consent.
    replicated: bool,
    /// Graph's budget per application and tenant (requests per 10 s), when tight.
    graph_budget: Option<u32>,
}

impl Scenario {
    fn name(self) -> String {
        match (self.replicated, self.graph_budget) {
            (false, _) => format!("delegated only, rate={}/s", self.rate),
            (true, None) => format!(
                "delegated + application, replication 1-10 s, rate={}/s",
                self.rate
            ),
            (true, Some(b)) => format!(
                "delegated + application, replication 1-10 s, Graph budget {b} per {BUDGET_WINDOW_SECS} s per tenant, rate={}/s",
                self.rate
            ),
        }
    }

    /// The least time the run can take, in seconds, and how it is made up.
    fn bound(self) -> (f64, String) {
        let customers = f64::from(CUSTOMERS + 3);
        if !self.replicated {
            let b = customers / f64::from(self.rate);
            return (
                b,
                format!("{} customers / {} per s", CUSTOMERS + 3, self.rate),
            );
        }
        let pc = customers / f64::from(PC_RATE);
        let delay = LONGEST_DELAY.as_secs_f64();
        match self.graph_budget {
            None => (
                pc + delay,
                format!("{pc:.2} s at 50/s + {delay:.0} s longest delay"),
            ),
            Some(_) => {
                let window = BUDGET_WINDOW_SECS as f64;
                (
                    pc + delay + window,
                    format!(
                        "{pc:.2} s at 50/s + {delay:.0} s longest delay + {window:.0} s budget window"
                    ),
                )
            }
        }
    }

    fn config(self) -> EmulatorConfig {
        let mut config = EmulatorConfig {
            workers: 2,
            ..EmulatorConfig::default()
        };
        config.seed = config
            .seed
            .with_generated_customers_gdap(
                CUSTOMERS,
                1,
                if self.replicated { None } else { Some(10) },
            )
            .expect("generated seed");
        if self.replicated {
            config = config.with_replication(ReplicationSettings::range(
                Duration::from_secs(1),
                LONGEST_DELAY,
            ));
            let_admin_agents_assign_app_roles(&mut config);
        }
        if let Some(budget) = self.graph_budget {
            config = config.with_graph_throttling(GraphThrottleSettings {
                requests_per_window: budget,
                window_secs: BUDGET_WINDOW_SECS,
            });
        }
        config
    }
}

/// Every customer reachable through GDAP with a role that may assign app roles (the default
/// seed's Tailspin gets a relationship; every relationship gets Cloud Application Administrator).
fn let_admin_agents_assign_app_roles(config: &mut EmulatorConfig) {
    let seed = &mut config.seed;
    seed.gdap_relationships.push(GdapSeed {
        id: format!(
            "6c000001-0000-4000-a000-000000000000-{}",
            ids::CUSTOMER_TAILSPIN
        ),
        partner: None,
        customer: ids::CUSTOMER_TAILSPIN.into(),
        display_name: "Bench - Tailspin".into(),
        status: "active".into(),
        duration: "P730D".into(),
        auto_extend_duration: "P180D".into(),
        roles: vec![DIRECTORY_READERS.into()],
        access_assignments: vec![AccessAssignmentSeed {
            id: "6c000001-0000-4000-a000-000000000001".into(),
            group: pids::ADMIN_AGENTS_GROUP.into(),
            roles: vec![DIRECTORY_READERS.into()],
        }],
    });
    for rel in &mut seed.gdap_relationships {
        rel.roles.push(CLOUD_APP_ADMIN.into());
        for a in &mut rel.access_assignments {
            if a.group == pids::ADMIN_AGENTS_GROUP {
                a.roles.push(CLOUD_APP_ADMIN.into());
            }
        }
    }
}

async fn run_once(scenario: Scenario) {
    let app = helpers::spawn_with(scenario.config()).await;
    app.consent(helpers::CONTOSO_ADMIN).await;
    let rss_before = memory_kib("VmRSS:");
    let rate_arg = scenario.rate.to_string();
    let mut args = vec![
        "consent",
        "grant",
        "--partner",
        helpers::CONTOSO,
        "--all-customers",
        "--consent-rate",
        &rate_arg,
        "--concurrency",
        "32",
        "--output",
        "json",
    ];
    if scenario.replicated {
        args.extend([
            "--delegated",
            ASSIGNER,
            "--application",
            "graph:User.Read.All",
        ]);
    } else {
        args.extend(["--grant", "graph:User.Read.All,Directory.Read.All"]);
    }
    let started = Instant::now();
    let out = app.run(&args).await;
    let wall = started.elapsed();
    let peak = memory_kib("VmHWM:");
    let doc = out.json();
    let summary = &doc["summary"];
    let granted = summary["outcomes"]["granted"].as_u64().unwrap_or(0);
    let failed = summary["outcomes"]["failed"].as_u64().unwrap_or(0);
    let (bound, made_of) = scenario.bound();
    let waits = out
        .stderr
        .matches("waiting for the service principal")
        .count();
    println!(
        "grant_1000 [{}] concurrency=32: {granted} granted, {failed} failed, wall {:.2} s (bound {bound:.2} s = {made_of}, ratio {:.2}), \
{} Partner Center requests, {} Graph requests, {} throttled (429, Retry-After honoured; Graph 429s answered by the emulator: {}), \
{waits} customers waited for replication, emulator create calls {}, peak RSS {:.1} MiB (process incl. emulator), growth during the run {:.1} MiB",
        scenario.name(),
        wall.as_secs_f64(),
        wall.as_secs_f64() / bound,
        summary["partner_center_calls"],
        summary["graph_calls"],
        summary["throttled"],
        app.emu.counter("graph.throttled"),
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
    let only = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let scenarios = [
        // The default (48: 4 % under the limit), and the limit itself.
        (
            "48",
            Scenario {
                rate: 48,
                replicated: false,
                graph_budget: None,
            },
        ),
        (
            "50",
            Scenario {
                rate: 50,
                replicated: false,
                graph_budget: None,
            },
        ),
        (
            "replication",
            Scenario {
                rate: 48,
                replicated: true,
                graph_budget: None,
            },
        ),
        (
            "throttled",
            Scenario {
                rate: 48,
                replicated: true,
                graph_budget: Some(3),
            },
        ),
    ];
    runtime.block_on(async {
        for (name, scenario) in scenarios {
            if only.is_empty() || only == name {
                run_once(scenario).await;
            }
        }
    });
}
