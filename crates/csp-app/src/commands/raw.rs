//! `graph get` and `partner-center get`: authenticated GETs of any path, printed as they come.

use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{self, OutputFormat};
use common::http::Tenant;

use crate::context::Context;

/// `graph get PATH [--customer TENANT]`.
pub async fn graph(
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

/// `partner-center get PATH`.
pub async fn partner_center(
    ctx: &Context,
    path: &str,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let value = ctx.partner_center.get_raw(path).await?;
    output::write_document(format, out, &value)?;
    Ok(ExitCode::SUCCESS)
}
