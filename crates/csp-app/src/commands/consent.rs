//! `consent grant | remove | verify` for the partner (`partner.tenant_id`): the same
//! implementation as `cpv-app`'s (`admin::consent`), with one partner.

use std::io::Write;
use std::process::ExitCode;

use admin::consent::cli::ConsentCommand;
use admin::consent::{App, AppOptions};
use cli_kit::Run;
use cli_kit::output::OutputFormat;

use crate::context::partner_of;

/// Runs `command` for the configured partner over the opened `run`.
pub async fn run(
    run: Run,
    command: ConsentCommand,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let partner = match partner_of(&run.settings) {
        Ok(p) => p.to_ascii_lowercase(),
        Err(failure) => return failure.report(err),
    };
    let options = AppOptions {
        consent_rate: command.scope().1.consent_rate,
        tool: "csp-app",
    };
    let app = match App::new(run, options) {
        Ok(app) => app,
        Err(failure) => return failure.report(err),
    };
    admin::consent::cli::run(&app, vec![partner], command, format, out, err).await
}
