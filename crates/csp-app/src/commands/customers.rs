//! `customers list | show | users | subscriptions` (Partner Center; `list` merged with Graph's
//! GDAP customers by [`crate::customers::discover`]).

use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{self, Column, ListWriter, OutputFormat, to_value, write_list};
use common::partner_center::CustomerFilter;

use crate::cli::CustomersCommand;
use crate::context::Context;

/// Columns of `customers list`.
pub const CUSTOMER_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("COMPANY", "/companyProfile/companyName"),
    ("DOMAIN", "/companyProfile/domain"),
    ("RELATIONSHIP", "/relationshipToPartner"),
    ("SOURCE", "/source"),
];
const PC_USER_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("USER PRINCIPAL NAME", "/userPrincipalName"),
    ("DISPLAY NAME", "/displayName"),
];
const SUBSCRIPTION_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("OFFER", "/offerName"),
    ("QUANTITY", "/quantity"),
    ("STATUS", "/status"),
];
/// `customers`.
pub async fn run(
    ctx: &Context,
    command: CustomersCommand,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let pc = &ctx.partner_center;
    match command {
        CustomersCommand::List {
            name,
            domain,
            page_size,
        } => {
            let filter = match (name, domain) {
                (Some(n), _) => Some(CustomerFilter::CompanyNameStartsWith(n)),
                (None, Some(d)) => Some(CustomerFilter::DomainStartsWith(d)),
                (None, None) => None,
            };
            let found = crate::customers::discover(ctx, page_size, filter.as_ref()).await?;
            let mut writer = ListWriter::new(format, out, CUSTOMER_COLUMNS);
            for customer in &found {
                writer.item(&customer.value)?;
            }
            writer.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        CustomersCommand::Show { id } => {
            let customer = pc.get_customer(&id).await?;
            let value = to_value(&customer)?;
            output::write_object(
                format,
                out,
                &[
                    ("id", "/id"),
                    ("companyName", "/companyProfile/companyName"),
                    ("domain", "/companyProfile/domain"),
                    ("tenantId", "/companyProfile/tenantId"),
                    ("relationshipToPartner", "/relationshipToPartner"),
                    ("allowDelegatedAccess", "/allowDelegatedAccess"),
                ],
                &value,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        CustomersCommand::Users { customer } => {
            write_list(
                pc.list_customer_users(&customer),
                format,
                out,
                PC_USER_COLUMNS,
            )
            .await
        }
        CustomersCommand::Subscriptions { customer } => {
            write_list(
                pc.list_subscriptions(&customer),
                format,
                out,
                SUBSCRIPTION_COLUMNS,
            )
            .await
        }
    }
}
