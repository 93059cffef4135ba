//! `users list --customer ID`: the users of a customer tenant, read through Microsoft Graph with
//! the application's own app-only token (what the application consent made possible), after
//! checking with the partner's token that the customer is that partner's.

use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{self, OutputFormat, Row};
use common::graph::{User, UsersQuery};
use common::http::Tenant;
use futures::TryStreamExt as _;
use serde::Serialize;

use crate::context::App;
use crate::report::exit_code;

/// One user.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct UserRow(pub User);

impl Row for UserRow {
    fn headers() -> &'static [&'static str] {
        &["ID", "DISPLAY NAME", "USER PRINCIPAL NAME"]
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.0.id.clone(),
            self.0.display_name.clone().unwrap_or_default(),
            self.0.user_principal_name.clone().unwrap_or_default(),
        ]
    }
}

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
    app.graph()
        .list_users(Tenant::Customer(customer), &query)
        .map_ok(UserRow)
        .try_collect()
        .await
        .map_err(|e| app.from_graph(customer, &e))
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
        Ok(rows) => match output::write_rows(out, format, &rows) {
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
