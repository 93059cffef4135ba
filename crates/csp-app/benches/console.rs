//! Console benchmark: the overview and customers pages rendered from a last cycle of 1,000
//! partners with 100 customers each (100,000 GDAP relationships), as `csp-app watch` holds it.
//!
//! The snapshot ([`LastCycle`]) is built in this process in the shape a cycle produces it (the
//! stored grants' metadata, the refresh-token and keepalive findings per partner, the GDAP
//! relationships as Graph lists them, a finding per relationship, a full history), then each page
//! is rendered `--runs` times, as its handler does (rows, then the askama template). Prints
//! p50/p95/max per page and the process's peak resident set (`VmHWM`).
//!
//! `cargo bench -p csp-app --bench console [-- --partners N --customers N --runs N]`

use std::sync::Arc;
use std::time::Instant;

use askama::Template as _;
use common::tokens::GrantMetadata;
use csp_app::watch::console::pages::{Chrome, CustomersPage, MAX_PARTNERS, OverviewPage};
use csp_app::watch::console::view::{self, CustomerQuery};
use csp_app::watch::relationship::Relationship;
use csp_app::watch::snapshot::LastCycle;
use csp_app::watch::state::HistoryEntry;
use csp_app::watch::{Finding, State};

const NOW: i64 = 1_796_428_800;
const DAY: i64 = 86_400;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn snapshot(partners: usize, customers: usize) -> LastCycle {
    let mut last = LastCycle {
        at: Some(NOW),
        ..LastCycle::default()
    };
    let mut findings = Vec::new();
    let active: Arc<str> = "active".into();
    let roles: Arc<[Box<str>]> = Arc::new(["f2ef992c-3afb-46b9-b7cf-a126ee74c451".into()]);
    for p in 0..partners {
        let tenant = format!("10000000-0000-4000-8000-{p:012x}");
        let rotated = NOW - i64::try_from(p % 80).unwrap() * DAY;
        last.partners.push(GrantMetadata {
            tenant_id: tenant.clone(),
            user: Some(format!("admin@partner{p}.onmicrosoft.com")),
            consented_at: rotated - 30 * DAY,
            rotated_at: rotated,
            app_id: "40000000-0000-4000-8000-000000000001".into(),
            cloud: "global".into(),
            mfa: p % 7 != 0,
        });
        let left = rotated + 90 * DAY - NOW;
        let state = if left < 30 * DAY {
            State::Warning
        } else {
            State::Ok
        };
        findings.push(Finding {
            check: "refresh_token",
            subject: tenant.as_str().into(),
            state,
            message: format!("the refresh token expires in {} days", left / DAY),
            seconds_left: Some(left),
        });
        findings.push(Finding {
            check: "keepalive",
            subject: tenant.as_str().into(),
            state: State::Ok,
            message: "refresh token redeemed and rotated".into(),
            seconds_left: None,
        });
        for c in 0..customers {
            let customer = format!("20000000-{p:04x}-4000-8000-{c:012x}");
            let id = format!("{tenant}-{customer}");
            let days = i64::try_from((p * customers + c) % 700).unwrap() + 1;
            let auto = c % 3 == 0;
            let state = if !auto && days < 7 {
                State::Critical
            } else if !auto && days < 30 {
                State::Warning
            } else {
                State::Ok
            };
            last.relationships.push(Arc::new(Relationship {
                id: id.as_str().into(),
                display_name: format!("Partner {p} - customer {c}").into(),
                status: active.clone(),
                customer_id: customer.into(),
                customer_name: Some(format!("Customer {c} of partner {p}").into()),
                roles: roles.clone(),
                end: Some(NOW + days * DAY),
                last_modified: None,
                auto_extend_days: auto.then_some(180.0),
                state: Some(state),
            }));

            findings.push(Finding {
                check: "gdap",
                subject: id.into(),
                state,
                message: format!("ends in {days} days"),
                seconds_left: Some(days * DAY),
            });
        }
    }
    // As a cycle's snapshot keeps them: all but the GDAP findings that are ok.
    last.findings_total = findings.len();
    last.findings = findings
        .into_iter()
        .filter(|f| !(f.check == "gdap" && f.state == State::Ok))
        .collect();
    for i in 0..500 {
        last.history.push(HistoryEntry {
            at: NOW - i,
            check: "gdap".into(),
            subject: format!("relationship {i}"),
            from: Some(State::Ok),
            to: State::Warning,
            message: "ends in 29 days".into(),
            notified: true,
        });
    }
    last
}

fn chrome(active: &'static str) -> Chrome {
    Chrome {
        user: "operator@contoso-partner.onmicrosoft.com".into(),
        can_write: true,
        csrf: "0".repeat(64),
        active,
        cycle: Some(view::date_time(NOW)),
    }
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    (at(0.5), at(0.95), ms[ms.len() - 1])
}

fn main() {
    let partners = arg("--partners", 1_000);
    let customers = arg("--customers", 100);
    let runs = arg("--runs", 40);
    let rss_before = memory_kib("VmRSS:");
    let last = snapshot(partners, customers);
    println!(
        "console bench: {partners} partners x {customers} customers = {} relationships, {} findings; {runs} renders per page",
        last.relationships.len(),
        last.findings_total
    );
    let mut overview = Vec::new();
    let mut customers_ms = Vec::new();
    let mut bytes = (0, 0);
    for run in 0..runs {
        let t = Instant::now();
        let page = OverviewPage {
            chrome: chrome("overview"),
            view: view::overview(&last, MAX_PARTNERS),
            requested: false,
        };
        bytes.0 = page.render().expect("overview renders").len();
        overview.push(t.elapsed().as_secs_f64() * 1e3);

        let t = Instant::now();
        let query = CustomerQuery {
            q: if run % 2 == 0 {
                String::new()
            } else {
                "customer 4".into()
            },
            page: run % 5 + 1,
            ..CustomerQuery::default()
        };
        let view = view::customers(&last, &query);
        let page = CustomersPage {
            chrome: chrome("customers"),
            query,
            view,
        };
        bytes.1 = page.render().expect("customers renders").len();
        customers_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for (name, ms, size) in [
        ("overview", overview, bytes.0),
        ("customers", customers_ms, bytes.1),
    ] {
        let (p50, p95, max) = percentiles(ms);
        println!("{name:>10}: p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms ({size} bytes)");
    }
    let peak = memory_kib("VmHWM:");
    println!(
        "peak RSS {:.1} MiB (RSS before the snapshot {:.1} MiB)",
        peak as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
}
