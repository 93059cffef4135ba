//! `watch`: one cycle with `--once`, else the service (cycles, endpoints, signals) of
//! [`crate::watch`].

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use cli_kit::Failure;
use cli_kit::output::{ListWriter, OutputFormat, to_value};

use crate::cli::WatchArgs;
use crate::context::Context;
use crate::watch::access_check::CustomerWatch;
use crate::watch::console::Console;
use crate::watch::{
    SystemClock, Thresholds, WatchOptions, Watcher, daemon, notify, run_loop, server,
};

/// `csp-app watch`: one cycle with `--once`, else cycles every `--interval` until Ctrl-C or
/// SIGTERM, one summary line per cycle on `out`, the address of the endpoints on `err`.
pub async fn run(
    ctx: &Context,
    args: WatchArgs,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    if args.critical_within.0 > args.warn_within.0 {
        return Err(Failure::config(
            "--critical-within must not be longer than --warn-within",
        ));
    }
    let options = WatchOptions {
        thresholds: Thresholds {
            warn: args.warn_within.0,
            critical: args.critical_within.0,
            gdap_stuck: args.gdap_stuck_after.0,
        },
        state_file: args
            .state_file
            .clone()
            .unwrap_or_else(|| notify::default_state_file(&ctx.settings)),
        webhook: args.webhook_url.clone().map(|u| (u, args.webhook_format)),
    };
    let selection = args.customers.resolve(&ctx.settings.customers)?;
    let customers = CustomerWatch {
        selection,
        access_every: args.access_check_every.0.map(|s| s.0),
        concurrency: usize::from(args.access_check_concurrency),
        journal: crate::onboard::journal_path(&ctx.settings, args.onboard_journal.as_ref()),
    };
    let every = match customers.access_every {
        Some(seconds) => format!("every {}", span_text(seconds)),
        None => "off".to_owned(),
    };
    writeln!(
        err,
        "watch: {}; access check {every}",
        customers.selection.describe()
    )?;
    let watcher = Watcher::new(ctx, options, Arc::new(SystemClock))?
        .with_customers(customers)
        .with_concurrency(usize::from(args.concurrency));
    if args.once {
        let report = watcher.cycle().await;
        if format == OutputFormat::Table {
            crate::watch::table::write(out, &report.findings)?;
            return Ok(report.exit());
        }
        let mut writer = ListWriter::new(format, out, &[]);
        for f in report.findings.iter() {
            writer.item(&to_value(f)?)?;
        }
        writer.finish()?;
        return Ok(report.exit());
    }
    // Listen for the signals before the first cycle: one sent during it is not lost.
    let shutdown = daemon::shutdown_signal()
        .map_err(|e| Failure::config(format!("cannot listen for signals: {e}")))?;
    let handle = match args.listen.0 {
        Some(addr) => {
            let listener = std::net::TcpListener::bind(addr)
                .map_err(|e| Failure::config(format!("cannot listen on {addr}: {e}")))?;
            let console =
                Console::from_settings(&ctx.settings, &ctx.http, ctx.broker.entra(), &ctx.partner);
            let (bound, server) =
                server::start_with_console(listener, watcher.shared(), console)
                    .map_err(|e| Failure::config(format!("cannot serve on {addr}: {e}")))?;
            tracing::info!(address = %bound, "watch serves /metrics and /healthz");
            writeln!(err, "{}", daemon::address_line(bound))?;
            let redirect = ctx.settings.watch.console.as_ref().map(|c| &c.redirect_url);
            writeln!(err, "{}", daemon::console_line(redirect))?;
            err.flush()?;
            let handle = server.handle();
            tokio::spawn(server);
            Some(handle)
        }
        None => None,
    };
    let interval = Duration::from_secs(args.interval.0.unsigned_abs());
    let result = run_loop(&watcher, interval, format, out, shutdown).await;
    if let Some(handle) = handle {
        handle.stop(true).await;
    }
    result.map(|_| ExitCode::SUCCESS)
}

/// `24h`, `30m`, `7d`, `90s`: a span as the command line takes it.
fn span_text(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
