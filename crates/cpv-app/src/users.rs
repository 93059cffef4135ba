//! `users list --customer ID`: the users of a customer tenant, read through Microsoft Graph, after
//! checking with the partner's token that the customer is that partner's. The application's own
//! app-only token is used only when its app roles there allow reading users (an application
//! permission added by `consent grant --application graph:User.Read.All`); otherwise the
//! partner user's delegated token in that tenant (the delegated consent, as Microsoft's CPV
//! sample works).

use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{ListWriter, OutputFormat, to_value};
use common::graph::{User, UsersQuery};
use common::http::Tenant;
use futures::TryStreamExt as _;
use serde::Serialize;

use admin::consent::App;
use admin::consent::report::exit_code;

/// One user; a table shows the columns both CLIs share ([`cli_kit::columns::USERS`]).
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct UserRow(pub User);

async fn list_users(app: &App, partner: &str, customer: &str) -> Result<Vec<UserRow>, Failure> {
    app.check_partner(partner).await?;
    app.partner_center(partner)
        .get_customer(customer)
        .await
        .map_err(|e| app.from_partner_center(partner, Some(customer), &e))?;
    let query = UsersQuery {
        top: Some(999),
        select: vec![
            "id".into(),
            "displayName".into(),
            "userPrincipalName".into(),
        ],
        filter: None,
    };
    let app_only = app.graph_roles(customer).await.is_ok_and(|roles| {
        roles.iter().any(|r| {
            admin::consent::ops::READS_USERS
                .iter()
                .any(|u| u.eq_ignore_ascii_case(r))
        })
    });
    let graph = if app_only {
        app.graph().clone()
    } else {
        tracing::debug!(customer.id = %customer, "no app role reads users: using the partner's delegated token");
        app.graph_as(partner)
    };
    graph
        .list_users(Tenant::Customer(customer), &query)
        .map_ok(UserRow)
        .try_collect()
        .await
        .map_err(|e| {
            if app_only {
                app.from_graph(customer, &e)
            } else {
                Failure::from(e)
            }
        })
}

fn write_users(out: &mut dyn Write, format: OutputFormat, rows: &[UserRow]) -> Result<(), Failure> {
    let mut writer = ListWriter::new(format, out, cli_kit::columns::USERS);
    for row in rows {
        writer.item(&to_value(row)?)?;
    }
    writer.finish()?;
    Ok(())
}

/// `users list`. Errors go to `err` (the output stays parseable).
pub async fn list(
    app: &App,
    partner: &str,
    customer: &str,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    match list_users(app, partner, customer).await {
        Ok(rows) => match write_users(out, format, &rows) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        },
        Err(f) => {
            let _ = writeln!(err, "error: {}", f.message);
            if let Some(url) = &f.consent_url {
                let _ = writeln!(err, "consent again at: {url}");
            }
            exit_code([(false, Some(f.remedy))])
        }
    }
}
