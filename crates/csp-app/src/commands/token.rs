//! `token`: a fresh access token on stdout, for scripts.

use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{self, OutputFormat};
use common::secret::ExposeSecret as _;
use serde_json::json;

use crate::cli::TokenArgs;
use crate::context::Context;

/// `token`: only on this explicit request, and only to `out`.
pub async fn run(
    ctx: &Context,
    args: TokenArgs,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let resource = args.resource;
    let tenant = args.customer.as_deref().unwrap_or(&ctx.partner);
    let token = ctx
        .broker
        .delegated_token(&ctx.partner, tenant, resource)
        .await
        .map_err(|e| Failure::from(&e))?;
    match format {
        OutputFormat::Table => writeln!(out, "{}", token.expose_secret())?,
        _ => output::write_object(
            format,
            out,
            &[],
            &json!({
                "accessToken": token.expose_secret(),
                "tokenType": "Bearer",
                "resource": resource.as_str(),
                "resourceUri": ctx.settings.cloud.resource_id(resource),
                "tenant": tenant,
            }),
        )?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
