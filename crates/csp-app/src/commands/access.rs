//! `access check`: per selected customer, whether access works from the customer's side and,
//! when it does not, why ([`crate::access`]).

use std::io::Write;
use std::process::ExitCode;

use cli_kit::output::{Column, ListWriter, OutputFormat, printable, to_value};
use cli_kit::{Exit, Failure};
use futures::StreamExt as _;

use crate::access::{Known, Outcome, check};
use crate::cli::AccessCheckArgs;
use crate::context::Context;

/// Columns of `access check`.
pub const COLUMNS: &[Column] = &[
    ("CUSTOMER", "/tenantId"),
    ("WORKS", "/works"),
    ("CAUSE", "/cause"),
    ("DETAIL", "/detail"),
];

/// `access check`: exit 0 when access works for every customer, 4 when for some only, 1 when
/// for none; each failure's remedy on stderr.
pub async fn run(
    ctx: &Context,
    args: AccessCheckArgs,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let template = match &args.template {
        Some(name) => Some(crate::commands::templates::find(&ctx.settings, name)?.clone()),
        None => None,
    };
    let selection = args.selection.resolve(&ctx.settings.customers)?;
    let tenants: Vec<String> = match selection.listed() {
        Some(list) => list,
        None => crate::customers::discover(ctx, 500, None)
            .await?
            .into_iter()
            .filter(|d| selection.admits(&d.tenant_id, None))
            .map(|d| d.tenant_id)
            .collect(),
    };
    let known = Known::read(&ctx.graph).await?;
    let outcomes: Vec<Outcome> = futures::stream::iter(tenants.iter())
        .map(|t| check(&ctx.graph, &known, template.as_ref(), t))
        .buffered(usize::from(args.concurrency))
        .collect()
        .await;
    let mut list = ListWriter::new(format, out, COLUMNS);
    for o in &outcomes {
        list.item(&to_value(o)?)?;
    }
    list.finish()?;
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.works).collect();
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        err,
        "access does not work for {} of {} customers:",
        failed.len(),
        outcomes.len()
    )?;
    for o in &failed {
        writeln!(
            err,
            "  {}: {}",
            printable(&o.tenant_id),
            printable(&o.detail)
        )?;
        if let Some(remedy) = &o.remedy {
            writeln!(err, "    remedy: {}", printable(remedy))?;
        }
    }
    Ok(if failed.len() == outcomes.len() {
        Exit::Failure
    } else {
        Exit::Partial
    }
    .into())
}
