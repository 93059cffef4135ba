//! Which customers the partner has: Partner Center's customer list and Graph's delegated admin
//! customers (customers with an active GDAP relationship, which need not be Partner Center
//! customers: "a delegated admin customer is not always a partner customer"), merged by tenant
//! ID. `customers list` and every `--all-customers` fan-out start here.

use std::collections::HashSet;

use cli_kit::Failure;
use common::graph::{DelegatedAdminCustomer, GraphError};
use common::partner_center::{Customer, CustomerFilter};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::context::Context;

/// A customer of the fan-out (tenant and name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRef {
    /// Tenant ID.
    pub tenant_id: String,
    /// Company name.
    pub name: String,
}

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
    // Both lists at once: Graph's pages are a few hundred customers each.
    let partner_center = ctx
        .partner_center
        .list_customers(page_size, filter)
        .map_err(Failure::from)
        .and_then(|c| async move {
            let value = serde_json::to_value(&c)
                .map_err(|e| Failure::new(format!("cannot render a customer: {e}")))?;
            Ok(Discovered {
                tenant_id: pc_tenant(&c),
                name: c.company_profile.company_name,
                source: Source::PartnerCenter,
                value,
            })
        })
        .try_collect::<Vec<Discovered>>();
    let (gdap, found) = tokio::join!(
        gdap_customers(ctx.graph.list_delegated_admin_customers()),
        partner_center
    );
    let (gdap, mut found) = (gdap?, found?);
    // Tenant → position in `found`: the merge stays linear with tens of thousands of customers.
    let mut index: std::collections::HashMap<String, usize> = found
        .iter()
        .enumerate()
        .map(|(i, d)| (d.tenant_id.clone(), i))
        .collect();
    for g in gdap {
        let tenant = gdap_tenant(&g);
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

/// A Partner Center customer's tenant ID (lower case; the customer ID when the profile has none).
fn pc_tenant(c: &Customer) -> String {
    if c.company_profile.tenant_id.is_empty() {
        &c.id
    } else {
        &c.company_profile.tenant_id
    }
    .to_ascii_lowercase()
}

/// A delegated admin customer's tenant ID (lower case).
fn gdap_tenant(g: &DelegatedAdminCustomer) -> String {
    if g.tenant_id.is_empty() {
        &g.id
    } else {
        &g.tenant_id
    }
    .to_ascii_lowercase()
}

/// Graph's delegated admin customers. A refusal that dooms every call (the partner must consent
/// again) is the caller's failure; any other leaves Partner Center's list alone, with a warning.
async fn gdap_customers(
    list: BoxStream<'static, Result<DelegatedAdminCustomer, GraphError>>,
) -> Result<Vec<DelegatedAdminCustomer>, Failure> {
    match list.try_collect().await {
        Ok(list) => Ok(list),
        Err(e) => {
            let failure = Failure::from(e);
            if failure.needs_consent() {
                return Err(failure);
            }
            tracing::warn!(
                "customers with GDAP relationships not listed (Graph delegatedAdminCustomers): {}",
                failure.message
            );
            Ok(Vec::new())
        }
    }
}

/// Customers handed on as they are found, for a fan-out that starts before the lists end.
///
/// The order and the merge are [`discover`]'s: Partner Center's customers as its pages arrive,
/// then those only GDAP knows. Both lists are fetched at once: Graph's delegated admin customer
/// list (a few hundred per page, each page subject to Graph's throttling) can take seconds over
/// thousands of customers, and the fan-out works through Partner Center's customers meanwhile.
/// The lists stop when this is dropped.
#[derive(Debug)]
pub struct Discovery {
    rx: mpsc::UnboundedReceiver<Result<CustomerRef, Failure>>,
    lists: JoinSet<()>,
}

impl Discovery {
    /// Starts listing the partner's customers (`page_size` per Partner Center page).
    pub fn start(ctx: &Context, page_size: u32) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let partner_center = ctx.partner_center.list_customers(page_size, None);
        let gdap = ctx.graph.list_delegated_admin_customers();
        let mut lists = JoinSet::new();
        lists.spawn(async move {
            // In a set of its own, so that it stops with this task.
            let mut gdap_list = JoinSet::new();
            gdap_list.spawn(gdap_customers(gdap));
            let mut seen = HashSet::new();
            let mut partner_center = partner_center;
            while let Some(customer) = partner_center.next().await {
                let found = customer.map_err(Failure::from).map(|c| CustomerRef {
                    tenant_id: pc_tenant(&c),
                    name: c.company_profile.company_name,
                });
                if let Ok(c) = &found
                    && !seen.insert(c.tenant_id.clone())
                {
                    continue;
                }
                let failed = found.is_err();
                if tx.send(found).is_err() || failed {
                    return;
                }
            }
            let gdap = match gdap_list.join_next().await {
                Some(Ok(result)) => result,
                Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: only when the runtime shuts down.
                _ => return,
            };
            match gdap {
                Ok(list) => {
                    for g in list {
                        let tenant_id = gdap_tenant(&g);
                        if seen.insert(tenant_id.clone()) {
                            let found = CustomerRef {
                                tenant_id,
                                name: g.display_name,
                            };
                            if tx.send(Ok(found)).is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(failure) => {
                    let _ = tx.send(Err(failure));
                }
            }
        });
        Self { rx, lists }
    }

    /// The selected customers: those listed (exclusions applied) in their order, or every
    /// customer [`start`](Self::start) finds that the selection admits.
    pub fn select(ctx: &Context, page_size: u32, selection: &cli_kit::Selection) -> Self {
        if let Some(listed) = selection.listed() {
            let (tx, discovery) = Self::channel();
            for tenant_id in listed {
                let _ = tx.send(Ok(CustomerRef {
                    name: tenant_id.clone(),
                    tenant_id,
                }));
            }
            return discovery;
        }
        let mut all = Self::start(ctx, page_size);
        if selection.exclude.is_empty() {
            return all;
        }
        let selection = selection.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut lists = JoinSet::new();
        lists.spawn(async move {
            while let Some(found) = all.next().await {
                if let Ok(c) = &found
                    && !selection.admits(&c.tenant_id, None)
                {
                    continue;
                }
                if tx.send(found).is_err() {
                    return;
                }
            }
        });
        Self { rx, lists }
    }

    /// Customers the caller hands on through the sender, in the order sent; the list ends when
    /// the sender is dropped, and a failure sent ends the fan-out with it.
    pub fn channel() -> (mpsc::UnboundedSender<Result<CustomerRef, Failure>>, Self) {
        let (tx, rx) = mpsc::unbounded_channel();
        let discovery = Self {
            rx,
            lists: JoinSet::new(),
        };
        (tx, discovery)
    }

    /// The next customer; `None` once both lists are through. A failure of Partner Center's
    /// list, or one that dooms every call, ends it.
    pub async fn next(&mut self) -> Option<Result<CustomerRef, Failure>> {
        let next = self.rx.recv().await;
        if next.is_none()
            && let Some(Err(e)) = self.lists.join_next().await
            && e.is_panic()
        {
            // A panic while listing is the caller's own, not a shorter list.
            std::panic::resume_unwind(e.into_panic());
        }
        next
    }
}
