//! `users list`: one customer's users, or every customer's through the fan-out of
//! [`crate::fanout`].

use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{Column, OutputFormat, write_list};
use common::graph::UsersQuery;
use common::http::Tenant;

use crate::cli::UsersListArgs;
use crate::context::Context;

/// Columns of `users list` (the same in both CLIs: [`cli_kit::columns::USERS`]).
pub const USER_COLUMNS: &[Column] = cli_kit::columns::USERS;

/// `users list`.
pub async fn list(
    ctx: &Context,
    args: UsersListArgs,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let query = UsersQuery {
        top: Some(args.page_size),
        select: args.select.clone(),
        filter: None,
    };
    let selection = args.selection.resolve(&ctx.settings.customers)?;
    match selection.listed().as_deref() {
        Some([customer]) => {
            write_list(
                ctx.graph.list_users(Tenant::Customer(customer), &query),
                format,
                out,
                USER_COLUMNS,
            )
            .await
        }
        Some([]) => Err(Failure::config(format!(
            "every customer given is excluded ({})",
            selection.describe()
        ))),
        _ => {
            crate::fanout::users_of_customers(ctx, &selection, &args, &query, format, out, err)
                .await
        }
    }
}
