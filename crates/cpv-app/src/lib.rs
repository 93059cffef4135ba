//! `cpv-app`: Onboard and manage customer tenants for a Control Panel Vendor with the partners' consented refresh tokens (Secure Application Model).
//!
//! The binary is a thin `main.rs` over [`run`], so tests drive the same code in-process.
//!
//! How a command flows: configuration is loaded and validated ([`cli_kit::startup`]); an [`App`] holds
//! the token broker (one stored refresh token per partner), a Partner Center client per partner
//! and the Graph client with the application's app-only tokens ([`context`]); the command works
//! per partner and per customer ([`consent`], [`partners`], [`users`]), so one partner's or one
//! customer's failure is reported on its own line while the others go on ([`report`]); results are
//! rendered as a table, JSON or NDJSON ([`cli_kit::output`]).

pub mod consent;
pub mod context;
pub mod grants;
pub mod limiter;
pub mod partners;
pub mod report;
pub mod users;

use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use cli_kit::{ConfigArgs, Exit};

pub use cli_kit::OutputFormat;
pub use context::{App, AppOptions};
use grants::{Grant, Grants};

/// Partner Center's documented limit on application consents, per application ID.
pub const PARTNER_CENTER_CONSENT_RPS: u32 = 50;

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
}

/// Which customers of the partner(s).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct CustomerSelection {
    /// A customer tenant ID (repeatable); needs exactly one partner.
    #[arg(long = "customer", value_name = "ID")]
    pub customers: Vec<String>,
    /// Every customer of each partner (Partner Center customer list).
    #[arg(long)]
    pub all_customers: bool,
}

/// How many customers at once.
#[derive(Debug, Args)]
pub struct FanOut {
    /// Customers worked on at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Application-consent requests per second, all partners together. Partner Center allows
    /// 50 per application; the default, 48, leaves 4 % for network jitter (measured: 1,003
    /// consents in 1.04× the time 50/s allows, no 429; at 50/s jitter draws 429s and their waits).
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub consent_rate: u32,
}

/// `consent` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Consent the application in customer tenants (POST /v1/customers/{id}/applicationconsents).
    /// Idempotent: a consent with the same grants is success; one with other grants is an
    /// error unless --reset, which deletes and re-creates it.
    Grant {
        /// Which customers.
        #[command(flatten)]
        customers: CustomerSelection,
        /// RESOURCE:SCOPES, e.g. graph:User.Read.All,Directory.Read.All (repeatable). RESOURCE is
        /// `graph` or the resource application's ID.
        #[arg(long = "grant", value_name = "RESOURCE:SCOPES", required = true)]
        grants: Vec<Grant>,
        /// Replace an existing consent: delete it, then grant again.
        #[arg(long)]
        reset: bool,
        /// Concurrency and rate.
        #[command(flatten)]
        fan_out: FanOut,
    },
    /// Remove the application's consent from customer tenants
    /// (DELETE /v1/customers/{id}/applicationconsents/{appId}).
    Remove {
        /// Which customers.
        #[command(flatten)]
        customers: CustomerSelection,
        /// Concurrency and rate.
        #[command(flatten)]
        fan_out: FanOut,
    },
    /// Prove the consent works: an app-only token in each customer tenant (client credentials,
    /// certificate) and one Graph read with it.
    Verify {
        /// Which customers.
        #[command(flatten)]
        customers: CustomerSelection,
        /// Concurrency and rate.
        #[command(flatten)]
        fan_out: FanOut,
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

impl ConsentCommand {
    /// Which customers, and how many at once.
    fn scope(&self) -> (&CustomerSelection, &FanOut) {
        match self {
            Self::Grant {
                customers, fan_out, ..
            }
            | Self::Remove { customers, fan_out }
            | Self::Verify { customers, fan_out } => (customers, fan_out),
        }
    }
}

fn usage_error(err: &mut dyn Write, message: &str) -> ExitCode {
    let _ = writeln!(err, "error: {message}");
    Exit::Config.into()
}

/// `--customer` names customers of one partner only.
fn single_partner(partners: &[String], customers: &[String]) -> Result<(), String> {
    if !customers.is_empty() && partners.len() != 1 {
        return Err(format!(
            "--customer needs exactly one partner, and {} are selected: name it with --partner",
            partners.len()
        ));
    }
    Ok(())
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
    let settings = match admin::setup::cli::start(&cli.config, shared, json, out).await {
        ControlFlow::Continue(settings) => settings,
        ControlFlow::Break(code) => return code,
    };
    let command = cli.command;
    let consent_rate = match &command {
        Command::Consent(c) => c.scope().1.consent_rate,
        _ => PARTNER_CENTER_CONSENT_RPS,
    };
    let app = match App::new(settings, AppOptions { consent_rate }).await {
        Ok(app) => app,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start: {e}");
            return match e {
                common::tokens::BrokerError::Config(_) | common::tokens::BrokerError::Store(_) => {
                    Exit::Config.into()
                }
                _ => ExitCode::FAILURE,
            };
        }
    };
    let partners = app.partners(&cli.partners).await;
    if partners.is_empty() {
        return usage_error(
            err,
            "no partner: name one with --partner TENANT, or list them in partner.allowed_tenants",
        );
    }
    run_command(&app, partners, command, cli.output, out, err).await
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
        Command::Consent(command) => run_consent(app, partners, command, format, out, err).await,
        Command::Users(UsersCommand::List { customer }) => {
            if let Err(e) = single_partner(&partners, std::slice::from_ref(&customer)) {
                return usage_error(err, &e);
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

/// `consent grant | remove | verify`.
async fn run_consent(
    app: &App,
    partners: Vec<String>,
    command: ConsentCommand,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let (customers, fan_out) = command.scope();
    if let Err(e) = single_partner(&partners, &customers.customers) {
        return usage_error(err, &e);
    }
    let run = consent::Run {
        targets: consent::Targets {
            partners,
            customers: customers.customers.clone(),
            all: customers.all_customers,
            // `grant` leaves membership to Partner Center's own refusal.
            check_membership: !matches!(command, ConsentCommand::Grant { .. }),
        },
        concurrency: usize::from(fan_out.concurrency),
        format,
    };
    match command {
        ConsentCommand::Grant { grants, reset, .. } => {
            consent::grant(app, &run, &Grants::new(&grants), reset, out).await
        }
        ConsentCommand::Remove { .. } => consent::remove(app, &run, out).await,
        ConsentCommand::Verify { .. } => consent::verify(app, &run, out).await,
    }
}
