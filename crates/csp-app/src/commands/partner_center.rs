//! `partner-center get`: an authenticated GET of any Partner Center path, printed as it comes.

use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{self, OutputFormat};

use crate::context::Context;

/// `partner-center get PATH`.
pub async fn get(
    ctx: &Context,
    path: &str,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let value = ctx.partner_center.get_raw(path).await?;
    output::write_document(format, out, &value)?;
    Ok(ExitCode::SUCCESS)
}
