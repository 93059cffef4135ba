//! `cpv-app`: Onboard and manage customer tenants for a Control Panel Vendor with the partners' consented refresh tokens (Secure Application Model).
//!
//! The binary is a thin `main.rs` over [`run`], so tests drive the same code in-process.
//!
//! How a command flows: configuration is loaded and validated ([`cli_kit::startup`]); an [`App`] holds
//! the token broker (one stored refresh token per partner), a Partner Center client per partner
//! and the Graph clients ([`admin::consent::app`]); the command works per partner and per
//! customer ([`admin::consent`], shared with `csp-app`, and [`partners`], [`users`]), so one
//! partner's or one customer's failure is reported on its own line while the others go on
//! ([`admin::consent::report`]); results are rendered as a table, JSON or NDJSON
//! ([`cli_kit::output`]).

pub mod partners;
pub mod users;

use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli_kit::{ConfigArgs, Run};

pub use admin::consent::cli::{
    ConsentCommand, CustomerSelection, FanOut, PARTNER_CENTER_CONSENT_RPS,
};
pub use admin::consent::{App, AppOptions};
pub use cli_kit::OutputFormat;

/// Command line of `cpv-app`.
#[derive(Debug, Parser)]
#[command(
    name = "cpv-app",
    version,
    about = "Onboard and manage customer tenants for a Control Panel Vendor with the partners' consented refresh tokens (Secure Application Model)."
)]
#[command(after_help = "\
Exit status:
  0  success
  1  failure
  2  configuration or usage error (the report names every problem)
  3  a partner must consent again (refresh token expired or revoked, or MFA missing); the output
     names the partner and its consent link
  4  partial failure: some customers or partners failed while the others succeeded (each failure
     is reported on its own line)")]
pub struct Cli {
    /// Configuration sources.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Partner tenant whose stored consent to use (repeatable). Default: every partner in
    /// partner.allowed_tenants.
    #[arg(long = "partner", value_name = "TENANT", global = true)]
    pub partners: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// `config`, `setup` and `doctor`, shared with the other CLI.
    #[command(flatten)]
    Shared(admin::setup::cli::SharedCommand),
    /// Partners whose consent is stored.
    #[command(subcommand)]
    Partners(PartnersCommand),
    /// Application consents in the partners' customer tenants (Partner Center).
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Users of a customer tenant (Graph, with the application's app-only token).
    #[command(subcommand)]
    Users(UsersCommand),
}

/// `partners` subcommands.
#[derive(Debug, Subcommand)]
pub enum PartnersCommand {
    /// Each partner's consent time, user and MFA, and whether its refresh token still works (one
    /// redemption each; a partner whose token expired is reported with its re-consent link).
    List,
    #[command(about = admin::grant::ABOUT)]
    /// Put back a partner's grant from before the stored one (one partner: --partner TENANT).
    Restore {
        /// Show which grant would come back; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List a customer's users (Graph /users with the application's app-only token).
    List {
        /// The customer tenant ID.
        #[arg(long, value_name = "ID")]
        customer: String,
    },
}

/// Runs a parsed command line, writing results to `out` and errors of commands whose output must
/// stay parseable (`users list`, usage errors) to `err`. Configuration reports always go to
/// standard error.
pub async fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let json = cli.output != OutputFormat::Table;
    let shared = match &cli.command {
        Command::Shared(shared) => Some(shared),
        _ => None,
    };
    let settings = match admin::setup::cli::start(
        &cli.config,
        admin::setup::cli::Caller {
            mode: common::config::AppMode::Cpv,
            partners: &cli.partners,
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
    let command = cli.command;
    let consent_rate = match &command {
        Command::Consent(c) => c.scope().1.consent_rate,
        _ => PARTNER_CENTER_CONSENT_RPS,
    };
    let options = AppOptions {
        consent_rate,
        tool: "cpv-app",
    };
    let app = match Run::open(settings)
        .await
        .and_then(|run| App::new(run, options))
    {
        Ok(app) => app,
        Err(failure) => return failure.report(err),
    };
    let partners = app.partners(&cli.partners).await;
    if partners.is_empty() {
        return admin::consent::cli::usage_error(
            err,
            "no partner: name one with --partner TENANT, or list them in partner.allowed_tenants",
        );
    }
    let code = run_command(&app, partners, command, cli.output, out, err).await;
    // Refresh tokens rotated during the command are stored before the process exits.
    app.broker().flush().await;
    code
}

/// Runs a command that works for `partners` (never empty).
async fn run_command(
    app: &App,
    partners: Vec<String>,
    command: Command,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    match command {
        // Handled by `run` before the app is built.
        Command::Shared(_) => ExitCode::SUCCESS,
        Command::Partners(PartnersCommand::List) => {
            partners::list(app, &partners, format, out).await
        }
        Command::Partners(PartnersCommand::Restore { dry_run }) => {
            if partners.len() != 1 {
                let e = format!(
                    "partners restore works on one partner, and {} are selected: name it with --partner TENANT",
                    partners.len()
                );
                return admin::consent::cli::usage_error(err, &e);
            }
            match admin::grant::restore(app.broker(), &partners[0], dry_run, format, out).await {
                Ok(code) => code,
                Err(failure) => failure.report(err),
            }
        }
        Command::Consent(command) => {
            admin::consent::cli::run(app, partners, command, format, out, err).await
        }
        Command::Users(UsersCommand::List { customer }) => {
            if let Err(e) =
                admin::consent::cli::single_partner(&partners, std::slice::from_ref(&customer))
            {
                return admin::consent::cli::usage_error(err, &e);
            }
            users::list(
                app,
                &partners[0],
                &customer.to_ascii_lowercase(),
                format,
                out,
                err,
            )
            .await
        }
    }
}
