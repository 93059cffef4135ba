//! Step 2 of `consent grant`: the application permissions, as app-role assignments through
//! Microsoft Graph with the partner user's delegated token in the customer tenant. The
//! application's service principal there comes from step 1 (Partner Center's consent) and is
//! waited for until it has replicated ([`super::replication`]); every Graph call goes through
//! [`Waits::call`], so a throttled customer waits out its `Retry-After` without a slot.

use cli_kit::Failure;
use common::graph::{AppRoleAssignment, GraphClient, GraphError, ServicePrincipal};
use common::http::Tenant;
use common::remedy::Remedy;

use super::app::App;
use super::grants::Grants;
use super::replication::{Look, Waits};

/// A Graph failure with the partner's delegated token in a customer tenant.
fn delegated_graph_failure(app: &App, partner: &str, customer: &str, e: GraphError) -> Failure {
    match e {
        e @ GraphError::Api { status: 403, .. } => Failure::with_remedy(
            format!(
                "the partner's user may not manage app roles in customer tenant {customer} ({e}): the application's delegated consent there needs AppRoleAssignment.ReadWrite.All and Application.Read.All (`{} consent grant --reset --delegated graph:…`), and the user a GDAP role that may assign app roles (Cloud Application Administrator, Application Administrator or Privileged Role Administrator)",
                app.tool()
            ),
            Remedy::GdapAccess,
        ),
        GraphError::Token(t) if t.remedy == Remedy::CustomerConsent => Failure::with_remedy(
            format!(
                "the application is not consented in customer tenant {customer} ({t}): grant it with `{} consent grant --customer {customer} --delegated …`",
                app.tool()
            ),
            Remedy::CustomerConsent,
        ),
        e => {
            let mut f = Failure::from(e);
            f.message = format!(
                "partner {partner} in customer tenant {customer}: {}",
                f.message
            );
            f
        }
    }
}

/// The service principal of `app_id` in the customer tenant.
async fn service_principal(
    graph: &GraphClient,
    waits: &Waits<'_>,
    customer: &str,
    app_id: &str,
    what: &str,
) -> Result<ServicePrincipal, GraphError> {
    waits
        .call(|| graph.service_principal_in(Tenant::Customer(customer), app_id))
        .await?
        .ok_or_else(|| {
            GraphError::Invalid(vec![format!(
                "{what} ({app_id}) has no service principal in customer tenant {customer}; if its consent was just created, try again in a minute (directory replication)"
            )])
        })
}

/// One look for the application's service principal in the customer tenant just after its
/// consent: not yet while Graph does not list it, or while the customer's authority refuses the
/// partner user's token as not consented (AADSTS65001: the grant has not replicated there,
/// docs/microsoft-behaviour.md §6.6).
async fn look_for_service_principal(
    graph: &GraphClient,
    waits: &Waits<'_>,
    customer: &str,
    app_id: &str,
    fail: &impl Fn(GraphError) -> Failure,
) -> Result<Look<ServicePrincipal>, Failure> {
    match waits
        .call(|| graph.service_principal_in(Tenant::Customer(customer), app_id))
        .await
    {
        Ok(Some(sp)) => Ok(Look::Visible(sp)),
        Ok(None) | Err(GraphError::Api { status: 404, .. }) => {
            Ok(Look::NotYet("Graph does not list it yet".into()))
        }
        Err(GraphError::Token(t)) if t.remedy == Remedy::CustomerConsent => Ok(Look::NotYet(
            format!("the customer's authority does not see the consent yet: {t}"),
        )),
        Err(e) => Err(fail(e)),
    }
}

/// What step 2 found and did, role by role.
#[derive(Default)]
struct Changes {
    added: Vec<String>,
    kept: Vec<String>,
    removed: Vec<String>,
    extra: Vec<String>,
    /// (resource service principal, app role) of each assignment added.
    added_ids: Vec<(String, String)>,
    /// (resource service principal, app role), lower case, of each role asked for.
    wanted_ids: std::collections::HashSet<(String, String)>,
}

impl Changes {
    /// The report line, or the failure naming roles held but not asked for (without --reset).
    fn outcome(self) -> Result<(bool, String), Failure> {
        let mut done = Vec::new();
        for (what, list) in [
            ("added", &self.added),
            ("already held", &self.kept),
            ("removed", &self.removed),
        ] {
            if !list.is_empty() {
                done.push(format!("{what} {}", list.join(",")));
            }
        }
        let summary = format!("application permissions: {}", done.join("; "));
        if !self.extra.is_empty() {
            return Err(Failure::new(format!(
                "{summary}; the application also holds {}: re-run with --reset to remove them",
                self.extra.join(", ")
            )));
        }
        Ok((!self.added.is_empty() || !self.removed.is_empty(), summary))
    }
}

/// Step 2: the application permissions, as app-role assignments through Graph. Returns whether
/// anything changed, and what was done.
pub(crate) async fn sync_app_roles(
    app: &App,
    waits: &Waits<'_>,
    (partner, customer): (&str, &str),
    wanted: &Grants,
    reset: bool,
) -> Result<(bool, String), Failure> {
    let fail = |e: GraphError| delegated_graph_failure(app, partner, customer, e);
    let graph = app.graph_as_unretried(partner);
    let tenant = Tenant::Customer(customer);
    let place = app.customer_label(customer);
    let client = waits
        .until_visible("the service principal", &place, || {
            look_for_service_principal(&graph, waits, customer, app.app_id(), &fail)
        })
        .await?;
    let held = waits
        .call(|| graph.app_role_assignments_in(tenant, &client.id))
        .await
        .map_err(fail)?;
    let mut changes = Changes::default();
    for (resource_app, roles) in wanted.iter() {
        let resource = service_principal(&graph, waits, customer, resource_app, "the resource")
            .await
            .map_err(fail)?;
        for role in roles {
            let Some(offered) = resource.app_roles.iter().find(|r| {
                r.value
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(role))
            }) else {
                return Err(Failure::new(format!(
                    "{} offers no application permission named {role}",
                    resource.display_name.as_deref().unwrap_or(resource_app)
                )));
            };
            changes.wanted_ids.insert((
                resource.id.to_ascii_lowercase(),
                offered.id.to_ascii_lowercase(),
            ));
            if held.iter().any(|h| same_role(h, &resource.id, &offered.id)) {
                changes.kept.push(role.clone());
                continue;
            }
            waits
                .call(|| graph.assign_app_role(tenant, &resource.id, &client.id, &offered.id))
                .await
                .map_err(fail)?;
            changes
                .added_ids
                .push((resource.id.clone(), offered.id.clone()));
            changes.added.push(role.clone());
        }
    }
    if waits.for_roles() && !changes.added_ids.is_empty() {
        let added = &changes.added_ids;
        waits
            .until_visible("the application permissions", &place, || async {
                let now = waits
                    .call(|| graph.app_role_assignments_in(tenant, &client.id))
                    .await
                    .map_err(fail)?;
                Ok(
                    if added
                        .iter()
                        .all(|(r, a)| now.iter().any(|h| same_role(h, r, a)))
                    {
                        Look::Visible(())
                    } else {
                        Look::NotYet("Graph does not list every new app-role assignment yet".into())
                    },
                )
            })
            .await?;
    }
    for h in &held {
        let key = (
            h.resource_id.to_ascii_lowercase(),
            h.app_role_id.to_ascii_lowercase(),
        );
        if changes.wanted_ids.contains(&key) {
            continue;
        }
        let name = format!(
            "{} role {}",
            h.resource_display_name.as_deref().unwrap_or(&h.resource_id),
            h.app_role_id
        );
        if reset {
            waits
                .call(|| graph.delete_app_role_assignment(tenant, &client.id, &h.id))
                .await
                .map_err(fail)?;
            changes.removed.push(name);
        } else {
            changes.extra.push(name);
        }
    }
    changes.outcome()
}

fn same_role(h: &AppRoleAssignment, resource: &str, role: &str) -> bool {
    h.resource_id.eq_ignore_ascii_case(resource) && h.app_role_id.eq_ignore_ascii_case(role)
}
