//! `csp-app`: act for a CSP partner in Partner Center and Microsoft Graph with the consented
//! refresh token (Secure Application Model).
//!
//! How a command flows: [`run`] loads and validates configuration (exit 2 on any problem), opens
//! the run's HTTP client and token broker ([`cli_kit::Run`], as `cpv-app` does) and builds the
//! clients of [`context::Context`] on it; then the handler of the command in [`commands`] (one
//! file per command; the clap types are all in [`cli`]) calls the `common` Partner Center and
//! Graph clients and renders through [`cli_kit::output`]. `users list --all-customers` fans out
//! ([`fanout`]) over the customer list of [`customers`]. `watch` ([`watch`]) is the long-running
//! mode: checks on a schedule, Prometheus metrics, webhook notifications. Failures become an exit
//! code and a message naming the remedy ([`cli_kit::Failure`]). Start-up (configuration,
//! telemetry, `config check`/`show`) is [`cli_kit::startup`], shared with `cpv-app`.
//!
//! The binary is a thin `main.rs` over [`run`], so tests drive the same code in-process.

pub mod access;
pub mod cli;
pub mod commands;
pub mod context;
pub mod customers;
pub mod fanout;
pub mod gdap_wait;
pub mod onboard;
pub mod watch;

use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;

use cli_kit::Run;

pub use cli::{
    Cli, Command, CustomersCommand, GdapCommand, GraphCommand, PartnerCenterCommand,
    TemplatesCommand, TokenArgs, UsersCommand, UsersListArgs,
};
pub use cli_kit::{Exit, OutputFormat};

/// Runs a parsed command line, writing results to `out` and messages (errors, remedies, the
/// fan-out summary) to `err`.
pub async fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let json = cli.output != OutputFormat::Table;
    let shared = match &cli.command {
        Command::Shared(shared) => Some(shared),
        _ => None,
    };
    let settings = match admin::setup::cli::start(
        &cli.config,
        admin::setup::cli::Caller {
            mode: common::config::AppMode::Csp,
            partners: &[],
        },
        shared,
        json,
        out,
    )
    .await
    {
        ControlFlow::Continue(settings) => settings,
        ControlFlow::Break(code) => return code,
    };
    // Templates need no token: answered from the validated configuration alone.
    if let Command::Templates(command) = cli.command {
        return match commands::templates::run(&settings, command, cli.output, out) {
            Ok(code) => code,
            Err(failure) => failure.report(err),
        };
    }
    let run = match Run::open(settings).await {
        Ok(run) => run,
        Err(failure) => return failure.report(err),
    };
    let code = match cli.command {
        Command::Consent(command) => {
            commands::consent::run(run.clone(), command, cli.output, out, err).await
        }
        command => match context::Context::open(run.clone()) {
            Ok(ctx) => commands::dispatch(&ctx, command, cli.output, out, err).await,
            Err(failure) => failure.report(err),
        },
    };
    // Refresh tokens rotated during the command are stored before the process exits.
    run.flush().await;
    code
}
