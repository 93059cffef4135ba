//! `csp-app`: Act for a CSP partner in Partner Center and Microsoft Graph with the consented refresh token (Secure Application Model).
//!
//! The binary is a thin `main.rs` over [`run`], so tests drive the same code in-process.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::config::ConfigArgs;

/// Command line of `csp-app`.
#[derive(Debug, Parser)]
#[command(
    name = "csp-app",
    version,
    about = "Act for a CSP partner in Partner Center and Microsoft Graph with the consented refresh token (Secure Application Model)."
)]
#[command(after_help = "Exit status: 0 success, 1 failure, 2 configuration error.")]
pub struct Cli {
    /// Configuration sources.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and report every problem (exit 2 if any).
    Check,
    /// Print every key with its effective value and where it came from (secrets redacted).
    Show,
}

/// Runs a parsed command line, writing results to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> ExitCode {
    let (loaded, settings) = match common::cli::load_settings_or_report(&cli.config) {
        Ok(pair) => pair,
        Err(code) => return code,
    };
    common::telemetry::init(settings.log.format, &settings.log.filter);
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    match cli.command {
        Command::Config(ConfigCommand::Check) => {
            let _ = writeln!(out, "configuration is valid (profile {})", loaded.profile);
            ExitCode::SUCCESS
        }
        Command::Config(ConfigCommand::Show) => {
            match common::cli::write_effective_config(&loaded, out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
    }
}
