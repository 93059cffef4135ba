//! One handler per command, one file each: parse arguments into a domain type, call a `common`
//! client, render through [`cli_kit::output`]. Handlers return the exit code, or a [`Failure`](cli_kit::Failure)
//! that [`dispatch`] reports. `consent` ([`consent`]) runs on the shared application-consent
//! implementation of `admin` instead of this run's [`Context`].

pub mod access;
pub mod consent;
pub mod customers;
pub mod gdap;
pub mod graph;
pub mod keepalive;
pub mod partner_center;
pub mod status;
pub mod templates;
pub mod token;
pub mod users;
pub mod watch;

use std::io::Write;
use std::process::ExitCode;

use cli_kit::output::OutputFormat;

use crate::cli::{Command, GrantCommand, GraphCommand, PartnerCenterCommand, UsersCommand};
use crate::context::Context;

/// Runs an API command and turns its result into an exit code.
pub async fn dispatch(
    ctx: &Context,
    command: Command,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let result = match command {
        // Handled by `run` before the context is built.
        Command::Shared(_) | Command::Consent(_) => Ok(ExitCode::SUCCESS),
        Command::Access(crate::cli::AccessCommand::Check(args)) => {
            access::run(ctx, args, format, out, err).await
        }
        Command::Onboard(args) => crate::onboard::run(ctx, args, format, out, err).await,
        Command::Templates(c) => templates::run(&ctx.settings, c, format, out),
        Command::Status => status::run(ctx, format, out).await,
        Command::Keepalive => keepalive::run(ctx, format, out, err).await,
        Command::Grant(GrantCommand::Restore { dry_run }) => {
            admin::grant::restore(&ctx.broker, &ctx.partner, dry_run, format, out).await
        }
        Command::Customers(c) => customers::run(ctx, c, format, out).await,
        Command::Gdap(c) => gdap::run(ctx, c, format, out, err).await,
        Command::Users(UsersCommand::List(args)) => users::list(ctx, args, format, out, err).await,
        Command::Graph(GraphCommand::Get { path, customer }) => {
            graph::get(ctx, &path, customer.as_deref(), format, out).await
        }
        Command::PartnerCenter(PartnerCenterCommand::Get { path }) => {
            partner_center::get(ctx, &path, format, out).await
        }
        Command::Token(args) => token::run(ctx, args, format, out).await,
        Command::Watch(args) => watch::run(ctx, args, format, out, err).await,
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(err),
    }
}
