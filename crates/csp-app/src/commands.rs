//! One handler per command: parse arguments into a domain type, call a `common` client,
//! render. Handlers return the exit code, or a [`Failure`] that [`dispatch`] reports.

use std::io::Write;
use std::process::ExitCode;

use cli_kit::output::{self, Column, ListWriter, OutputFormat};
use cli_kit::{Exit, Failure};
use common::cloud::Resource;
use common::graph::UsersQuery;
use common::http::Tenant;
use common::partner_center::CustomerFilter;
use common::remedy::Remedy;
use common::secret::ExposeSecret as _;
use futures::{Stream, TryStreamExt as _};
use serde::Serialize;
use serde_json::{Value, json};

use crate::context::Context;
use crate::{
    Command, CustomersCommand, GraphCommand, PartnerCenterCommand, TokenArgs, UsersCommand,
    UsersListArgs,
};

/// Refresh tokens expire after this long without use (Entra "Refresh token lifetime").
const INACTIVITY_LIFETIME_SECS: i64 = common::rules::REFRESH_TOKEN_INACTIVITY_SECS;

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
/// Columns of `users list`.
pub const USER_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("USER PRINCIPAL NAME", "/userPrincipalName"),
    ("DISPLAY NAME", "/displayName"),
];

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
        Command::Status => status(ctx, format, out).await,
        Command::Keepalive => keepalive(ctx, format, out, err).await,
        Command::Customers(c) => customers(ctx, c, format, out).await,
        Command::Gdap(c) => crate::gdap::run(ctx, c, format, out).await,
        Command::Users(UsersCommand::List(args)) => users(ctx, args, format, out, err).await,
        Command::Graph(GraphCommand::Get { path, customer }) => {
            let tenant = customer
                .as_deref()
                .map_or(Tenant::Partner, Tenant::Customer);
            match ctx.graph.get_raw(tenant, &path).await {
                Ok(v) => output::write_document(format, out, &v)
                    .map(|()| ExitCode::SUCCESS)
                    .map_err(Failure::from),
                Err(e) => Err(e.into()),
            }
        }
        Command::PartnerCenter(PartnerCenterCommand::Get { path }) => {
            match ctx.partner_center.get_raw(&path).await {
                Ok(v) => output::write_document(format, out, &v)
                    .map(|()| ExitCode::SUCCESS)
                    .map_err(Failure::from),
                Err(e) => Err(e.into()),
            }
        }
        Command::Token(args) => token(ctx, args, format, out).await,
        Command::Watch(args) => crate::watch::run(ctx, args, format, out, err).await,
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(err),
    }
}

pub(crate) fn to_value<T: Serialize>(item: &T) -> Result<Value, Failure> {
    serde_json::to_value(item).map_err(|e| Failure::new(format!("cannot render a result: {e}")))
}

/// Writes every item of a stream as it arrives.
pub(crate) async fn write_list<T, E, S>(
    stream: S,
    format: OutputFormat,
    out: &mut dyn Write,
    columns: &'static [Column],
) -> Result<ExitCode, Failure>
where
    T: Serialize,
    S: Stream<Item = Result<T, E>>,
    Failure: From<E>,
{
    let mut writer = ListWriter::new(format, out, columns);
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.try_next().await? {
        writer.item(&to_value(&item)?)?;
    }
    writer.finish()?;
    Ok(ExitCode::SUCCESS)
}

fn rfc3339(unix: i64) -> Value {
    output::rfc3339(unix).map_or(Value::Null, Value::String)
}

/// `status`: one redemption tells whether the grant still works.
async fn status(
    ctx: &Context,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let grant = ctx.broker.status(&ctx.partner).await;
    let redemption = ctx
        .broker
        .delegated_token(&ctx.partner, &ctx.partner, Resource::PartnerCenter)
        .await;
    let failure = redemption.as_ref().err().map(Failure::from);
    let mut healthy = failure.is_none();
    let mut remedy = failure.as_ref().map(|f| f.remedy);
    let mfa = grant.meta.as_ref().map(|m| m.mfa);
    if healthy && mfa == Some(false) {
        // Partner Center refuses App+User calls without MFA: the grant must be re-consented.
        healthy = false;
        remedy = Some(Remedy::Mfa);
    }
    let consent_url = failure.as_ref().and_then(|f| f.consent_url.clone());
    let meta = grant.meta.as_ref();
    let report = json!({
        "healthy": healthy,
        "partnerTenantId": ctx.partner,
        "appId": ctx.settings.app.client_id,
        "appDisplayName": ctx.settings.app.display_name,
        "store": grant.location,
        "consented": meta.is_some(),
        "consentedBy": meta.and_then(|m| m.user.clone()),
        "consentedAt": meta.map_or(Value::Null, |m| rfc3339(m.consented_at)),
        "lastRotatedAt": meta.map_or(Value::Null, |m| rfc3339(m.rotated_at)),
        "inactivityExpiry": meta.map_or(Value::Null, |m| rfc3339(m.rotated_at + INACTIVITY_LIFETIME_SECS)),
        "mfa": mfa,
        "rotatedTokenStored": grant.persisted,
        "lastStoreError": grant.last_store_error,
        "redemption": if failure.is_none() { "ok".to_owned() } else { failure.as_ref().map(|f| f.message.clone()).unwrap_or_default() },
        "remedy": remedy.and_then(Remedy::advice),
        "consentUrl": consent_url,
    });
    output::write_object(format, out, &[], &report)?;
    Ok(match (healthy, remedy) {
        (true, _) => ExitCode::SUCCESS,
        (false, Some(r)) if r.needs_consent() => Exit::Reconsent.into(),
        (false, _) => Exit::Failure.into(),
    })
}

/// `keepalive`: redeem and rotate.
async fn keepalive(
    ctx: &Context,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let grant = ctx
        .broker
        .keepalive(&ctx.partner)
        .await
        .map_err(|e| Failure::from(&e))?;
    let meta = grant.meta.as_ref();
    let report = json!({
        "partnerTenantId": ctx.partner,
        "rotatedAt": meta.map_or(Value::Null, |m| rfc3339(m.rotated_at)),
        "inactivityExpiry": meta.map_or(Value::Null, |m| rfc3339(m.rotated_at + INACTIVITY_LIFETIME_SECS)),
        "store": grant.location,
        "rotatedTokenStored": grant.persisted,
    });
    output::write_object(format, out, &[], &report)?;
    if !grant.persisted {
        let _ = writeln!(
            err,
            "warning: the rotated refresh token could not be stored ({}); the previous one is still valid and is kept",
            grant.last_store_error.as_deref().unwrap_or("unknown error")
        );
        return Ok(Exit::Failure.into());
    }
    Ok(ExitCode::SUCCESS)
}

async fn customers(
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

async fn users(
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
    match &args.customer {
        Some(customer) => {
            write_list(
                ctx.graph.list_users(Tenant::Customer(customer), &query),
                format,
                out,
                USER_COLUMNS,
            )
            .await
        }
        None => crate::fanout::users_of_all_customers(ctx, &args, &query, format, out, err).await,
    }
}

/// `token`: only on this explicit request, and only to `out`.
async fn token(
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
