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
            let value = serde_json::to_value(&c)
                .map_err(|e| Failure::new(format!("cannot render a customer: {e}")))?;
            Ok(Discovered {
                tenant_id,
                name,
                source: Source::PartnerCenter,
                value,
            })
        })
        .try_collect()
        .await?;
    for g in gdap {
        let tenant = if g.tenant_id.is_empty() {
            &g.id
        } else {
            &g.tenant_id
        }
        .to_ascii_lowercase();
        if let Some(known) = found.iter_mut().find(|d| d.tenant_id == tenant) {
            known.source = Source::Both;
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
            found.push(Discovered {
                value: json!({
                    "id": tenant,
                    "companyProfile": {"tenantId": tenant, "companyName": g.display_name},
                }),
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
