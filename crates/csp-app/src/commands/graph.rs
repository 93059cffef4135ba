//! `graph get`: an authenticated GET of any Microsoft Graph path, printed as it comes.

use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{self, OutputFormat};
use common::http::Tenant;

use crate::context::Context;

/// `graph get PATH [--customer TENANT]`.
pub async fn get(
    ctx: &Context,
    path: &str,
    customer: Option<&str>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let tenant = customer.map_or(Tenant::Partner, Tenant::Customer);
    let value = ctx.graph.get_raw(tenant, path).await?;
    output::write_document(format, out, &value)?;
    Ok(ExitCode::SUCCESS)
}
