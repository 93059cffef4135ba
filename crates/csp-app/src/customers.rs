//! Which customers the partner has: Partner Center's customer list and Graph's delegated admin
//! customers (customers with an active GDAP relationship, which need not be Partner Center
//! customers: "a delegated admin customer is not always a partner customer"), merged by tenant
//! ID. `customers list` and every `--all-customers` fan-out start here.

use cli_kit::Failure;
use common::graph::DelegatedAdminCustomer;
use common::partner_center::CustomerFilter;
use futures::TryStreamExt as _;
use serde_json::{Value, json};

use crate::context::Context;

/// Where a customer was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Partner Center only.
    PartnerCenter,
    /// Graph `delegatedAdminCustomers` only (GDAP).
    Gdap,
    /// Both.
    Both,
}

impl Source {
    /// The `source` field: `partnerCenter`, `gdap` or `partnerCenter+gdap`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::PartnerCenter => "partnerCenter",
            Source::Gdap => "gdap",
            Source::Both => "partnerCenter+gdap",
        }
    }
}

/// A customer found by [`discover`].
#[derive(Clone, Debug, PartialEq)]
pub struct Discovered {
    /// Tenant ID (lower case).
    pub tenant_id: String,
    /// Company (or tenant display) name.
    pub name: String,
    /// Where it was found.
    pub source: Source,
    /// Partner Center's customer object with a `source` field, or, for GDAP-only customers,
    /// the same shape built from the delegated admin customer.
    pub value: Value,
}

/// Partner Center customers (in Partner Center's order, `filter` and `page_size` applied by
/// Partner Center), then the customers only GDAP knows (`filter` applied here: a name prefix
/// matches their display name; a domain filter excludes them, Graph gives no domain).
///
/// When Graph refuses the delegated admin customer list (no `DelegatedAdminRelationship.Read.All`
/// consented), Partner Center's list is returned alone with a warning in the log.
pub async fn discover(
    ctx: &Context,
    page_size: u32,
    filter: Option<&CustomerFilter>,
) -> Result<Vec<Discovered>, Failure> {
    discover_with(ctx, page_size, filter, true).await
}

/// [`discover`] without [`Discovered::value`] (left `null`): what a fan-out needs, a few bytes
/// per customer instead of each customer's whole JSON object.
pub async fn discover_refs(ctx: &Context, page_size: u32) -> Result<Vec<Discovered>, Failure> {
    discover_with(ctx, page_size, None, false).await
}

async fn discover_with(
    ctx: &Context,
    page_size: u32,
    filter: Option<&CustomerFilter>,
    render: bool,
) -> Result<Vec<Discovered>, Failure> {
    let gdap = match ctx
        .graph
        .list_delegated_admin_customers()
        .try_collect::<Vec<DelegatedAdminCustomer>>()
        .await
    {
        Ok(list) => list,
        Err(e) => {
            let failure = Failure::from(e);
            if failure.needs_consent() {
                return Err(failure);
            }
            tracing::warn!(
                "customers with GDAP relationships not listed (Graph delegatedAdminCustomers): {}",
                failure.message
            );
            Vec::new()
        }
    };
    let mut found: Vec<Discovered> = ctx
        .partner_center
        .list_customers(page_size, filter)
        .map_err(Failure::from)
        .and_then(|c| async move {
            let tenant_id = if c.company_profile.tenant_id.is_empty() {
                c.id.clone()
            } else {
                c.company_profile.tenant_id.clone()
            }
            .to_ascii_lowercase();
            let name = c.company_profile.company_name.clone();
            let value = if render {
                serde_json::to_value(&c)
                    .map_err(|e| Failure::new(format!("cannot render a customer: {e}")))?
            } else {
                Value::Null
            };
            Ok(Discovered {
                tenant_id,
                name,
                source: Source::PartnerCenter,
                value,
            })
        })
        .try_collect()
        .await?;
    // Tenant → position in `found`: the merge stays linear with tens of thousands of customers.
    let mut index: std::collections::HashMap<String, usize> = found
        .iter()
        .enumerate()
        .map(|(i, d)| (d.tenant_id.clone(), i))
        .collect();
    for g in gdap {
        let tenant = if g.tenant_id.is_empty() {
            &g.id
        } else {
            &g.tenant_id
        }
        .to_ascii_lowercase();
        if let Some(&i) = index.get(&tenant) {
            found[i].source = Source::Both;
            continue;
        }
        let matches = match filter {
            None => true,
            Some(CustomerFilter::CompanyNameStartsWith(prefix)) => g
                .display_name
                .to_lowercase()
                .starts_with(&prefix.to_lowercase()),
            Some(_) => false,
        };
        if matches {
            index.insert(tenant.clone(), found.len());
            found.push(Discovered {
                value: if render {
                    json!({
                        "id": tenant,
                        "companyProfile": {"tenantId": tenant, "companyName": g.display_name},
                    })
                } else {
                    Value::Null
                },
                tenant_id: tenant,
                name: g.display_name,
                source: Source::Gdap,
            });
        }
    }
    for d in &mut found {
        if let Value::Object(map) = &mut d.value {
            map.insert("source".into(), Value::String(d.source.as_str().into()));
        }
    }
    Ok(found)
}
