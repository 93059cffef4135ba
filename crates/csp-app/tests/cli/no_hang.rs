//! The fan-out's failure paths, run many times in a row, each under a time limit: none hangs.
//!
//! Issue 25 §6: `users list --all-customers` hung in about one run in ten when Partner Center
//! refused the customer list (an abandoned token redemption kept the partner's writer lock, and
//! the run's last step, `flush`, waited for it). The race needs many runs to show, so this test
//! repeats each failure path: `SAM_STRESS_RUNS` runs in all (default 50; the bar is 500:
//! `SAM_STRESS_RUNS=500 cargo nextest run -p csp-app no_hang`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use emulator::{Fault, Service};

use crate::helpers::{FABRIKAM, spawn};

/// A run that takes longer than this is taken for a hang (a run takes well under a second).
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// A failure path of the fan-out: the faults that make it, and the exit status it ends with.
struct Path {
    name: &'static str,
    faults: fn() -> Vec<Fault>,
    exit: csp_app::Exit,
}

const PATHS: &[Path] = &[
    // The customer discovery fails while the GDAP list's token is being redeemed and rotated.
    Path {
        name: "Partner Center refuses the customer list",
        faults: || vec![Fault::status(Service::PartnerCenter, 403).on_route("/v1/customers")],
        exit: csp_app::Exit::Failure,
    },
    // The same, Partner Center answering late: the GDAP list's redemption is further along.
    Path {
        name: "Partner Center refuses the customer list late",
        faults: || {
            vec![Fault {
                latency_ms: Some(40),
                ..Fault::status(Service::PartnerCenter, 403).on_route("/v1/customers")
            }]
        },
        exit: csp_app::Exit::Failure,
    },
    // A customer's token needs a new consent: the fan-out stops at once, abandoning the tokens
    // being redeemed ahead of the other customers and the pages being fetched.
    Path {
        name: "a customer's token needs a new consent",
        faults: || vec![Fault::entra_error(70043).for_tenant(FABRIKAM)],
        exit: csp_app::Exit::Reconsent,
    },
    // Every customer fails on Graph: the fan-out runs to its end through failures only.
    Path {
        name: "Graph refuses every customer's users",
        faults: || vec![Fault::status(Service::Graph, 403).on_route("/users")],
        exit: csp_app::Exit::Failure,
    },
];

fn runs() -> usize {
    std::env::var("SAM_STRESS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fan_out_failure_paths_end_every_time() {
    let app = spawn().await;
    let runs = runs();
    let started = Instant::now();
    for run in 0..runs {
        let path = &PATHS[run % PATHS.len()];
        app.emu.clear_faults();
        for fault in (path.faults)() {
            app.emu.inject_fault(fault);
        }
        let out = tokio::time::timeout(
            RUN_LIMIT,
            app.run(&["-o", "ndjson", "users", "list", "--all-customers"]),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "run {run} of {runs} ({}) did not end within {RUN_LIMIT:?}",
                path.name
            )
        });
        assert_eq!(
            out.code,
            ExitCode::from(path.exit),
            "run {run} ({}): {out:?}",
            path.name
        );
    }
    app.emu.clear_faults();
    // The grant survived every run: the partner's token still redeems.
    let ok = tokio::time::timeout(RUN_LIMIT, app.run(&["-o", "json", "customers", "list"]))
        .await
        .expect("a last run ends");
    ok.assert_code(0);
    eprintln!("{runs} failing fan-outs ended in {:?}", started.elapsed());
}
