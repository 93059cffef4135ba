//! `gdap` commands: the lifecycle of granular delegated admin relationships (Microsoft Graph
//! `delegatedAdminRelationships`, partner tenant): list, show, create, lock for approval,
//! assign a security group roles, extend automatically or not, terminate, report the ones about
//! to expire, and check which roles the signed-in account really gets in a customer tenant.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{self, Column, ListWriter, OutputFormat, Window, to_value, write_list};
use common::graph::{
    AccessDetails, DelegatedAdminAccessAssignment, DelegatedAdminRelationship,
    DelegatedAdminRelationshipCustomer, GLOBAL_ADMINISTRATOR_ROLE, NewDelegatedAdminRelationship,
    UnifiedRole, approval_link, iso8601_days, relationship_status, role_name, role_template_id,
};
use futures::TryStreamExt as _;
use serde_json::{Value, json};

use crate::cli::{GdapCommand, WaitArgs};
use crate::context::Context;
use crate::gdap_wait::{Waiter, until_active, until_terminated};
use common::graph::access::{assignment_counts, assignment_pending, relationship_counts};

const GDAP_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("DISPLAY NAME", "/displayName"),
    ("STATUS", "/status"),
    ("CUSTOMER", "/customer/displayName"),
    ("CUSTOMER TENANT", "/customer/tenantId"),
    ("ENDS", "/endDateTime"),
];
const GDAP_FIELDS: &[Column] = &[
    ("id", "/id"),
    ("displayName", "/displayName"),
    ("status", "/status"),
    ("customer", "/customer/displayName"),
    ("customerTenantId", "/customer/tenantId"),
    ("duration", "/duration"),
    ("autoExtendDuration", "/autoExtendDuration"),
    ("roles", "/roles"),
    ("endDateTime", "/endDateTime"),
];
const ASSIGNMENT_FIELDS: &[Column] = &[
    ("relationshipId", "/relationshipId"),
    ("assignmentId", "/assignmentId"),
    ("group", "/group"),
    ("roles", "/roles"),
    ("status", "/status"),
    ("result", "/result"),
];
const EXPIRING_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("DISPLAY NAME", "/displayName"),
    ("CUSTOMER", "/customer"),
    ("CUSTOMER TENANT", "/customerTenantId"),
    ("ENDS", "/endDateTime"),
    ("DAYS LEFT", "/daysLeft"),
    ("AUTO-EXTEND", "/autoExtendDuration"),
];
const CHECK_COLUMNS: &[Column] = &[
    ("RELATIONSHIP", "/relationshipName"),
    ("STATUS", "/status"),
    ("GROUP", "/groupId"),
    ("MEMBER", "/isMember"),
    ("ROLES", "/roles"),
];

/// The automatic extension Microsoft offers ("autoExtendDuration", resources/delegatedadminrelationship.md).
const AUTO_EXTEND_ON: &str = "P180D";
const AUTO_EXTEND_OFF: &str = "PT0S";

fn gdap_value(r: &DelegatedAdminRelationship) -> Result<Value, Failure> {
    let mut value = to_value(r)?;
    // A flat list of role IDs for the table view.
    let roles: Vec<Value> = r
        .access_details
        .unified_roles
        .iter()
        .map(|u| Value::String(u.role_definition_id.clone()))
        .collect();
    if let Value::Object(map) = &mut value {
        map.insert("roles".into(), Value::Array(roles));
    }
    Ok(value)
}

/// Runs a `gdap` command; progress of waits goes to `err`.
pub async fn run(
    ctx: &Context,
    command: GdapCommand,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let graph = &ctx.graph;
    match command {
        GdapCommand::List { status } => {
            write_list(
                graph.list_delegated_admin_relationships(status.as_deref()),
                format,
                out,
                GDAP_COLUMNS,
            )
            .await
        }
        GdapCommand::Show { id } => {
            let r = graph.get_delegated_admin_relationship(&id).await?;
            output::write_object(format, out, GDAP_FIELDS, &gdap_value(&r)?)?;
            Ok(ExitCode::SUCCESS)
        }
        GdapCommand::Create {
            display_name,
            customer,
            duration,
            roles,
            auto_extend,
        } => {
            let new = NewDelegatedAdminRelationship {
                display_name,
                duration,
                customer: customer.map(|tenant_id| DelegatedAdminRelationshipCustomer {
                    tenant_id,
                    display_name: None,
                }),
                access_details: AccessDetails {
                    unified_roles: roles
                        .into_iter()
                        .map(|role_definition_id| UnifiedRole { role_definition_id })
                        .collect(),
                },
                auto_extend_duration: auto_extend,
            };
            create(ctx, &new, format, out).await
        }
        GdapCommand::LockForApproval { id } => lock_for_approval(ctx, &id, format, out).await,
        GdapCommand::Assign {
            relationship,
            group,
            roles,
            wait,
        } => {
            let mut waiter = (!wait.no_wait).then(|| Waiter::new(graph, wait.budget(), err));
            assign(
                ctx,
                &relationship,
                &group,
                &roles,
                waiter.as_mut(),
                format,
                out,
            )
            .await
        }
        GdapCommand::Terminate { relationship, wait } => {
            terminate(ctx, &relationship, wait, format, out, err).await
        }
        GdapCommand::Extend {
            relationship,
            off,
            wait,
        } => {
            let mut waiter = (!wait.no_wait).then(|| Waiter::new(graph, wait.budget(), err));
            extend(ctx, &relationship, off, waiter.as_mut(), format, out).await
        }
        GdapCommand::Expiring { within } => expiring(ctx, within, format, out).await,
        GdapCommand::Check { customer } => check(ctx, &customer, format, out).await,
    }
}

async fn create(
    ctx: &Context,
    new: &NewDelegatedAdminRelationship,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    if let Err(problems) = new.validate() {
        return Err(Failure::new(format!(
            "the relationship breaks Graph's creation rules:\n  - {}",
            problems.join("\n  - ")
        )));
    }
    // Display names are unique among the partner's relationships: say so before Graph does.
    let existing: Vec<_> = ctx
        .graph
        .list_delegated_admin_relationships(None)
        .try_collect()
        .await?;
    if let Some(same) = existing
        .iter()
        .find(|r| r.display_name.eq_ignore_ascii_case(new.display_name.trim()))
    {
        return Err(Failure::new(format!(
            "a relationship named {:?} already exists ({}, {}): display names must be unique",
            same.display_name, same.id, same.status
        )));
    }
    let created = ctx.graph.create_delegated_admin_relationship(new).await?;
    output::write_object(format, out, GDAP_FIELDS, &gdap_value(&created)?)?;
    Ok(ExitCode::SUCCESS)
}

async fn lock_for_approval(
    ctx: &Context,
    id: &str,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let request = ctx.graph.lock_for_approval(id).await?;
    let link = approval_link(id);
    let value = json!({
        "relationshipId": id,
        "requestId": request.id,
        "action": request.action,
        "status": request.status,
        "approvalLink": link,
    });
    match format {
        OutputFormat::Table => {
            writeln!(
                out,
                "Relationship {id} is locked for approval (request {}, {}).\nSend this link to the customer's Global Administrator to approve it:\n{link}",
                request.id, request.status
            )?;
        }
        _ => output::write_object(format, out, &[], &value)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `gdap terminate`: a `terminate` request, then (unless `--no-wait`) until the relationship
/// is terminated. A relationship already terminated is success; one being terminated is
/// waited for without a second request.
async fn terminate(
    ctx: &Context,
    relationship: &str,
    wait: WaitArgs,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let graph = &ctx.graph;
    let current = graph.get_delegated_admin_relationship(relationship).await?;
    let (request_id, mut status, result) = match until_terminated(relationship, &current.status) {
        common::graph::Progress::Done => (None, current.status, "already terminated"),
        common::graph::Progress::Waiting(_) => (None, current.status, "termination under way"),
        common::graph::Progress::Failed(_) => {
            let request = graph
                .terminate_delegated_admin_relationship(relationship)
                .await?;
            (
                Some(request.id),
                "terminationRequested".to_owned(),
                "termination requested",
            )
        }
    };
    if !wait.no_wait && status != "terminated" {
        let mut waiter = Waiter::new(graph, wait.budget(), err);
        status = waiter
            .relationship(relationship, "terminated", until_terminated)
            .await?
            .status;
    }
    let value = json!({
        "relationshipId": relationship,
        "requestId": request_id,
        "action": "terminate",
        "status": status,
        "result": result,
    });
    match format {
        OutputFormat::Table => writeln!(
            out,
            "Relationship {relationship}: {result}; now {status}. The partner's roles in the customer tenant end with the request."
        )?,
        _ => output::write_object(format, out, &[], &value)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Role names or IDs to template IDs; every unknown one is reported at once.
fn resolve_roles(roles: &[String]) -> Result<Vec<String>, Failure> {
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for role in roles.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        match role_template_id(role) {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => unknown.push(format!("{role:?}")),
        }
    }
    if !unknown.is_empty() {
        return Err(Failure::new(format!(
            "unknown role {}: give a role template ID or one of: {}",
            unknown.join(", "),
            common::graph::BUILT_IN_ROLES
                .iter()
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if ids.is_empty() {
        return Err(Failure::new("at least one role is required"));
    }
    Ok(ids)
}

fn role_set(a: &DelegatedAdminAccessAssignment) -> BTreeSet<String> {
    a.access_details
        .unified_roles
        .iter()
        .map(|r| r.role_definition_id.to_ascii_lowercase())
        .collect()
}

fn role_names<'a>(ids: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    ids.into_iter().map(|id| role_name(id)).collect()
}

/// `gdap assign`: an access assignment, unless the group already has one with these roles.
/// With a waiter: first until the relationship is active (a customer's approval goes through
/// `approved` and `activating`), then until the assignment is active.
async fn assign(
    ctx: &Context,
    relationship: &str,
    group: &str,
    roles: &[String],
    mut waiter: Option<&mut Waiter<'_>>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let role_ids = resolve_roles(roles)?;
    if uuid::Uuid::parse_str(group).is_err() {
        return Err(Failure::new(format!(
            "the group {group:?} is not an object ID (GUID) of a security group of the partner tenant"
        )));
    }
    let current = ctx
        .graph
        .get_delegated_admin_relationship(relationship)
        .await?;
    match (
        until_active(relationship, &current.status),
        waiter.as_deref_mut(),
    ) {
        (common::graph::Progress::Done, _) => {}
        (common::graph::Progress::Failed(why), _) => return Err(Failure::new(why)),
        (common::graph::Progress::Waiting(state), None) => {
            return Err(Failure::new(format!(
                "relationship {relationship} is {state}: access assignments can be created once it is active (usually within minutes); run again without --no-wait to wait for it"
            )));
        }
        (common::graph::Progress::Waiting(_), Some(w)) => {
            w.relationship(relationship, "active", until_active).await?;
        }
    }
    let existing: Vec<DelegatedAdminAccessAssignment> = ctx
        .graph
        .list_access_assignments(relationship)
        .try_collect()
        .await?;
    let wanted: BTreeSet<String> = role_ids.iter().cloned().collect();
    let same_group = existing.iter().find(|a| {
        a.access_container
            .access_container_id
            .eq_ignore_ascii_case(group)
            && !matches!(a.status.as_str(), "deleted" | "deleting")
    });
    let (mut assignment, result) = match same_group {
        Some(a) if role_set(a) == wanted => (a.clone(), "already assigned"),
        Some(a) => {
            return Err(Failure::new(format!(
                "the group {group} already has access assignment {} on this relationship with other roles ({}); change that assignment in Partner Center (or delete it) instead of adding another",
                a.id,
                role_names(&role_set(a)).join(", ")
            )));
        }
        None => (
            ctx.graph
                .create_access_assignment(relationship, group, &role_ids)
                .await?,
            "assigned",
        ),
    };
    if let Some(w) = waiter
        && !assignment_counts(&assignment)
    {
        assignment = w.assignment(relationship, &assignment.id).await?;
    }
    let value = json!({
        "relationshipId": relationship,
        "assignmentId": assignment.id,
        "group": group,
        "roles": role_names(&role_ids),
        "status": assignment.status,
        "result": result,
    });
    output::write_object(format, out, ASSIGNMENT_FIELDS, &value)?;
    Ok(ExitCode::SUCCESS)
}

/// `gdap extend`: `autoExtendDuration` with `If-Match` of the current etag.
async fn extend(
    ctx: &Context,
    relationship: &str,
    off: bool,
    waiter: Option<&mut Waiter<'_>>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let current = ctx
        .graph
        .get_delegated_admin_relationship(relationship)
        .await?;
    let wanted = if off { AUTO_EXTEND_OFF } else { AUTO_EXTEND_ON };
    let has_global_admin = current.access_details.unified_roles.iter().any(|r| {
        r.role_definition_id
            .eq_ignore_ascii_case(GLOBAL_ADMINISTRATOR_ROLE)
    });
    if !off && has_global_admin {
        return Err(Failure::new(format!(
            "relationship {relationship} includes Global Administrator, which Microsoft never extends automatically: create a new relationship before {}",
            current.end_date_time.as_deref().unwrap_or("its end date")
        )));
    }
    if current.auto_extend_duration.as_deref() == Some(wanted) {
        output::write_object(format, out, GDAP_FIELDS, &gdap_value(&current)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let etag = current.etag.as_deref().ok_or_else(|| {
        Failure::new("Graph returned the relationship without an @odata.etag: cannot update it")
    })?;
    let mut updated = ctx
        .graph
        .update_auto_extend_duration(relationship, etag, wanted)
        .await?;
    if let Some(w) = waiter
        && updated.auto_extend_duration.as_deref() != Some(wanted)
    {
        updated = w.auto_extension(relationship, wanted).await?;
    }
    output::write_object(format, out, GDAP_FIELDS, &gdap_value(&updated)?)?;
    Ok(ExitCode::SUCCESS)
}

fn unix_time(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// `gdap expiring`: active relationships ending within the window, without auto-extension.
async fn expiring(
    ctx: &Context,
    within: Window,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let all: Vec<DelegatedAdminRelationship> = ctx
        .graph
        .list_delegated_admin_relationships(Some("active"))
        .try_collect()
        .await?;
    let mut soon: Vec<(i64, &DelegatedAdminRelationship)> = all
        .iter()
        .filter(|r| {
            !r.auto_extend_duration
                .as_deref()
                .is_some_and(|d| iso8601_days(d).is_some_and(|days| days > 0.0))
        })
        .filter_map(|r| Some((unix_time(r.end_date_time.as_deref()?)?, r)))
        .filter(|(end, _)| end - now <= within.0)
        .collect();
    soon.sort_by_key(|(end, _)| *end);
    let mut writer = ListWriter::new(format, out, EXPIRING_COLUMNS);
    for (end, r) in soon {
        let customer = r.customer.as_ref();
        writer.item(&json!({
            "id": r.id,
            "displayName": r.display_name,
            "customer": customer.and_then(|c| c.display_name.clone()),
            "customerTenantId": customer.map(|c| c.tenant_id.clone()),
            "endDateTime": r.end_date_time,
            "daysLeft": (end - now).div_euclid(86_400),
            "autoExtendDuration": r.auto_extend_duration.as_deref().unwrap_or(AUTO_EXTEND_OFF),
        }))?;
    }
    writer.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// One way (or non-way) to a role: an access assignment of a relationship with the customer.
struct Grant {
    relationship: DelegatedAdminRelationship,
    assignment: Option<DelegatedAdminAccessAssignment>,
    is_member: bool,
}

impl Grant {
    fn to_json(&self) -> Value {
        let a = self.assignment.as_ref();
        json!({
            "relationshipId": self.relationship.id,
            "relationshipName": self.relationship.display_name,
            "status": self.relationship.status,
            "groupId": a.map(|a| a.access_container.access_container_id.clone()),
            "assignmentStatus": a.map(|a| a.status.clone()),
            "isMember": self.is_member,
            "roles": a.map(|a| role_names(&role_set(a))).unwrap_or_default(),
        })
    }
}

/// Why access is still pending, when it is: a relationship the customer approved that is not
/// active yet, or an assignment of the account's group that is still `pending`.
fn pending(customer: &str, grants: &[Grant]) -> Option<(String, String)> {
    let wait = "wait a few minutes and run `csp-app gdap check` again (`csp-app gdap assign` waits for it)".to_owned();
    let active = grants.iter().any(|g| relationship_counts(&g.relationship));
    if !active
        && let Some(g) = grants
            .iter()
            .find(|g| relationship_status::is_activating(&g.relationship.status))
    {
        return Some((
            format!(
                "GDAP access to customer {customer} is pending: relationship {} is {} (approved by the customer; its roles apply once it is active)",
                g.relationship.display_name, g.relationship.status
            ),
            wait,
        ));
    }
    let member_active = grants.iter().any(|g| {
        g.is_member
            && relationship_counts(&g.relationship)
            && g.assignment.as_ref().is_some_and(assignment_counts)
    });
    let member_pending = grants.iter().find(|g| {
        g.is_member
            && relationship_counts(&g.relationship)
            && g.assignment.as_ref().is_some_and(assignment_pending)
    });
    match (member_active, member_pending) {
        (false, Some(g)) => Some((
            format!(
                "GDAP access to customer {customer} is pending: the access assignment of group {} on relationship {} is still pending (Graph applies it within minutes)",
                g.assignment
                    .as_ref()
                    .map(|a| a.access_container.access_container_id.as_str())
                    .unwrap_or_default(),
                g.relationship.display_name
            ),
            wait,
        )),
        _ => None,
    }
}

/// Why the signed-in account gets no role, and what to do.
fn diagnose(customer: &str, upn: &str, grants: &[Grant]) -> (String, String) {
    if grants.is_empty() {
        return (
            format!("the partner has no GDAP relationship with customer {customer}"),
            format!(
                "create one (`csp-app gdap create --customer {customer} --display-name NAME --role ROLE`), lock it for approval and have the customer's Global Administrator approve it"
            ),
        );
    }
    if let Some(pending) = pending(customer, grants) {
        return pending;
    }
    let active: Vec<&Grant> = grants
        .iter()
        .filter(|g| relationship_counts(&g.relationship))
        .collect();
    if active.is_empty() {
        let states: Vec<String> = grants
            .iter()
            .map(|g| {
                format!(
                    "{} is {}",
                    g.relationship.display_name, g.relationship.status
                )
            })
            .collect();
        return (
            format!(
                "no GDAP relationship with customer {customer} is active ({})",
                states.join(", ")
            ),
            "have the customer approve a relationship waiting for approval; an expired or terminated one cannot come back: create a new relationship".to_owned(),
        );
    }
    let assigned: Vec<String> = active
        .iter()
        .filter_map(|g| g.assignment.as_ref())
        .filter(|a| assignment_counts(a) || assignment_pending(a))
        .map(|a| a.access_container.access_container_id.clone())
        .collect();
    if assigned.is_empty() {
        return (
            format!(
                "the active relationship with customer {customer} has no access assignment: no security group gets its roles"
            ),
            format!(
                "assign a security group that {upn} is a member of: `csp-app gdap assign --relationship {} --group GROUP_ID --role ROLE`",
                active[0].relationship.id
            ),
        );
    }
    (
        format!(
            "the automation account {upn} is not in any security group assigned on the active relationship with customer {customer} (assigned groups: {})",
            assigned.join(", ")
        ),
        format!(
            "add {upn} to one of those groups in the partner tenant (Entra admin center > Groups > Members), or assign a group it is in with `csp-app gdap assign`"
        ),
    )
}

/// `gdap check`: the roles the stored grant's user gets in `customer`, and through what.
async fn check(
    ctx: &Context,
    customer: &str,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let graph = &ctx.graph;
    let me = graph.get_me().await?;
    let upn = me
        .user_principal_name
        .clone()
        .unwrap_or_else(|| me.id.clone());
    let groups: BTreeSet<String> = graph
        .list_my_member_of()
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .filter(|o| o.odata_type.is_empty() || o.odata_type == "#microsoft.graph.group")
        .map(|o| o.id.to_ascii_lowercase())
        .collect();
    let relationships: Vec<DelegatedAdminRelationship> = graph
        .list_delegated_admin_relationships(None)
        .try_filter(|r| {
            let same = r
                .customer
                .as_ref()
                .is_some_and(|c| c.tenant_id.eq_ignore_ascii_case(customer));
            async move { same }
        })
        .try_collect()
        .await?;
    let mut grants = Vec::new();
    for r in relationships {
        let assignments: Vec<DelegatedAdminAccessAssignment> = if relationship_counts(&r) {
            graph.list_access_assignments(&r.id).try_collect().await?
        } else {
            Vec::new()
        };
        if assignments.is_empty() {
            grants.push(Grant {
                relationship: r,
                assignment: None,
                is_member: false,
            });
            continue;
        }
        for a in assignments {
            let is_member =
                groups.contains(&a.access_container.access_container_id.to_ascii_lowercase());
            grants.push(Grant {
                relationship: r.clone(),
                assignment: Some(a),
                is_member,
            });
        }
    }
    // Only active assignments of active relationships grant roles (a pending one does not yet).
    let roles: BTreeSet<String> = grants
        .iter()
        .filter(|g| g.is_member && relationship_counts(&g.relationship))
        .filter_map(|g| g.assignment.as_ref())
        .filter(|a| assignment_counts(a))
        .flat_map(role_set)
        .collect();
    let verdict = roles.is_empty().then(|| diagnose(customer, &upn, &grants));
    let access_pending = roles.is_empty() && pending(customer, &grants).is_some();
    let report = json!({
        "account": upn,
        "accountId": me.id,
        "customerTenantId": customer,
        "roles": role_names(&roles),
        "grants": grants.iter().map(Grant::to_json).collect::<Vec<_>>(),
        "accessPending": access_pending,
        "problem": verdict.as_ref().map(|(why, _)| why),
        "remedy": verdict.as_ref().map(|(_, fix)| fix),
    });
    write_check(format, out, &report, &grants)?;
    match verdict {
        None => Ok(ExitCode::SUCCESS),
        Some((why, fix)) => Err(Failure::new(format!("{why}\nremedy: {fix}"))),
    }
}

fn write_check(
    format: OutputFormat,
    out: &mut dyn Write,
    report: &Value,
    grants: &[Grant],
) -> Result<(), Failure> {
    if format != OutputFormat::Table {
        output::write_object(format, out, &[], report)?;
        return Ok(());
    }
    writeln!(
        out,
        "Account {} in customer {}",
        report["account"].as_str().unwrap_or_default(),
        report["customerTenantId"].as_str().unwrap_or_default()
    )?;
    if !grants.is_empty() {
        let mut writer = ListWriter::new(format, out, CHECK_COLUMNS);
        for g in grants {
            writer.item(&g.to_json())?;
        }
        writer.finish()?;
    }
    let roles: Vec<&str> = report["roles"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if roles.is_empty() {
        writeln!(out, "Roles: none")?;
    } else {
        writeln!(out, "Roles: {}", roles.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_resolve_by_name_and_unknown_ones_are_all_named() {
        assert_eq!(
            resolve_roles(&["Directory Readers".into(), " user administrator".into()]).unwrap(),
            [
                "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
                "fe930be7-5e62-47db-91af-98c3a49a38b1"
            ]
        );
        let failure = resolve_roles(&["Readers".into(), "Admins".into()]).unwrap_err();
        assert!(
            failure
                .message
                .starts_with("unknown role \"Readers\", \"Admins\": give a role template ID or one of: Global Administrator, "),
            "{}",
            failure.message
        );
    }
}
