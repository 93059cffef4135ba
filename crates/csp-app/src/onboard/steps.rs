//! One customer through the steps of the journal ([`Step`]), each idempotent: a step finds
//! what an earlier (killed) run did before it changes anything. The relationship is found by
//! the display name recorded before it is created; an assignment by its group; the lock by the
//! relationship's status; the consent by Partner Center's 409.

use std::collections::BTreeSet;
use std::time::Duration;

use cli_kit::Failure;
use common::config::RoleTemplate;
use common::graph::{
    AccessDetails, DelegatedAdminRelationship, DelegatedAdminRelationshipCustomer, GraphClient,
    NewDelegatedAdminRelationship, Progress, UnifiedRole, WaitPolicy, approval_link,
    assignment_status, relationship_status, wait_for,
};
use common::partner_center::consents::{ApplicationConsent, ApplicationGrant};
use futures::TryStreamExt as _;

use super::journal::{Entry, Step, now};
use crate::context::Context;

/// Microsoft Graph's application ID (docs/microsoft-behaviour.md §7).
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// How a customer's steps run.
#[derive(Clone, Copy, Debug)]
pub struct Waits {
    /// How long to wait for the customer's approval (zero: record the link and go on to the
    /// next customer; a rerun resumes).
    pub approval: Duration,
    /// How long to wait for each of Graph's asynchronous changes.
    pub graph: Duration,
}

/// What a run reads once for every customer: the partner's relationships when it started
/// (a relationship created by an earlier, killed run is among them) and the groups of the
/// grant's account.
#[derive(Debug)]
pub struct Found {
    /// The partner's relationships, by lower-case customer tenant.
    pub relationships: std::collections::HashMap<String, Vec<DelegatedAdminRelationship>>,
    /// Object IDs (lower case) of the account's groups.
    pub my_groups: std::collections::HashSet<String>,
}

/// What one step did: the entry to record, and whether to go on.
#[derive(Debug)]
pub enum Next {
    /// Record and run the next step.
    Go(Entry),
    /// Record and stop here for now (awaiting the customer, or failed).
    Stop(Entry),
}

fn policy(budget: Duration) -> WaitPolicy {
    WaitPolicy {
        budget,
        first_interval: Duration::from_millis(500),
        max_interval: Duration::from_secs(15),
    }
}

/// The entry moved to `step`.
pub fn moved(mut entry: Entry, step: Step) -> Entry {
    entry.step = step;
    entry.since = now();
    entry.failed_at = None;
    entry.error = None;
    entry.remedy = None;
    entry
}

/// The entry stopped at its step with a failure.
pub fn failed(mut entry: Entry, failure: &Failure) -> Entry {
    entry.failed_at = Some(entry.step);
    entry.step = Step::Failed;
    entry.since = now();
    entry.error = Some(failure.text().to_owned());
    entry.remedy = failure
        .advice()
        .or_else(|| remedy_of(entry.failed_at).map(Into::into));
    entry
}

/// What to do when a step fails and the failure names no remedy.
fn remedy_of(step: Option<Step>) -> Option<&'static str> {
    Some(match step? {
        Step::Create | Step::Lock => {
            "check the partner's GDAP permissions (DelegatedAdminRelationship.ReadWrite.All) and run onboard again"
        }
        Step::Approval | Step::Activation => {
            "create a new relationship: terminate this one (csp-app gdap terminate) and run onboard again"
        }
        Step::Assign | Step::Assignments => {
            "check the template's security groups exist in the partner tenant, then run onboard again"
        }
        Step::Consent => {
            "run `csp-app consent grant --customer TENANT` to see why, then onboard again"
        }
        Step::Check => {
            "run `csp-app access check --customer TENANT` for the cause, then onboard again"
        }
        Step::Done | Step::Failed => return None,
    })
}

/// Runs the step the entry is at.
pub async fn step(
    ctx: &Context,
    found: &Found,
    template: &RoleTemplate,
    waits: Waits,
    entry: Entry,
) -> Result<Next, Failure> {
    let graph = &ctx.graph;
    match entry.step {
        Step::Create => create(graph, found, template, entry).await,
        Step::Lock => lock(graph, waits, entry).await,
        Step::Approval => approval(graph, waits, entry).await,
        Step::Activation => {
            let id = relationship_of(&entry)?;
            wait_for(
                &policy(waits.graph),
                || graph.get_delegated_admin_relationship(&id),
                |r| crate::gdap_wait::until_active(&id, &r.status),
                |_, _| {},
            )
            .await
            .map_err(|e| Failure::new(format!("relationship {id}: {e}")))?;
            Ok(Next::Go(moved(entry, Step::Assign)))
        }
        Step::Assign => assign(graph, template, entry).await,
        Step::Assignments => {
            let id = relationship_of(&entry)?;
            for assignment in entry.assignments.values() {
                wait_for(
                    &policy(waits.graph),
                    || graph.get_access_assignment(&id, assignment),
                    |a| crate::gdap_wait::assignment_until_active(&a.id, &a.status),
                    |_, _| {},
                )
                .await
                .map_err(|e| Failure::new(format!("access assignment {assignment}: {e}")))?;
            }
            Ok(Next::Go(moved(entry, Step::Consent)))
        }
        Step::Consent => consent(ctx, entry).await,
        Step::Check => {
            let id = relationship_of(&entry)?;
            check(graph, found, template, waits, &entry.tenant_id, &id).await?;
            Ok(Next::Go(moved(entry, Step::Done)))
        }
        Step::Done => Ok(Next::Stop(entry)),
        Step::Failed => {
            let at = entry.failed_at.unwrap_or(Step::Create);
            Ok(Next::Go(moved(entry, at)))
        }
    }
}

fn relationship_of(entry: &Entry) -> Result<String, Failure> {
    entry
        .relationship_id
        .clone()
        .ok_or_else(|| Failure::new("the journal has no relationship for this customer"))
}

/// The relationship of the recorded display name, else one of the customer's that matches
/// the template (adopted), else a new one. One that differs from the template stops here.
async fn create(
    graph: &GraphClient,
    found: &Found,
    template: &RoleTemplate,
    mut entry: Entry,
) -> Result<Next, Failure> {
    let mine: Vec<DelegatedAdminRelationship> = found
        .relationships
        .get(&entry.tenant_id)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|r| !relationship_status::is_final(&r.status) && r.status != "expiring")
        .cloned()
        .collect();
    let found = if let Some(r) = mine.iter().find(|r| r.display_name == entry.display_name) {
        Some(r.clone())
    } else if let Some(r) = mine.iter().find(|r| difference(template, r).is_none()) {
        entry.note = Some(format!(
            "adopted the existing relationship {} ({:?})",
            r.id, r.display_name
        ));
        entry.display_name.clone_from(&r.display_name);
        Some(r.clone())
    } else if let Some(r) = mine.first() {
        let diff = difference(template, r).unwrap_or_default();
        entry.note = Some(format!(
            "the existing relationship {} ({:?}) differs from the template: {diff}",
            r.id, r.display_name
        ));
        return Err(Failure::new(format!(
            "relationship {} ({:?}) exists and differs from template {}: {diff}; terminate it \
             (`csp-app gdap terminate`) or onboard with a template that matches it",
            r.id, r.display_name, template.name
        )));
    } else {
        None
    };
    let relationship = match found {
        Some(r) => r,
        None => {
            let new = NewDelegatedAdminRelationship {
                display_name: entry.display_name.clone(),
                duration: template.duration.clone(),
                customer: Some(DelegatedAdminRelationshipCustomer {
                    tenant_id: entry.tenant_id.clone(),
                    display_name: None,
                }),
                access_details: AccessDetails {
                    unified_roles: template
                        .roles()
                        .into_iter()
                        .map(|role_definition_id| UnifiedRole { role_definition_id })
                        .collect(),
                },
                auto_extend_duration: Some(template.auto_extend_duration().to_owned()),
            };
            graph.create_delegated_admin_relationship(&new).await?
        }
    };
    entry.relationship_id = Some(relationship.id.clone());
    entry.approval_link = Some(approval_link(&relationship.id));
    let next = match relationship.status.as_str() {
        relationship_status::CREATED => Step::Lock,
        relationship_status::APPROVAL_PENDING => Step::Approval,
        relationship_status::ACTIVE => Step::Assign,
        _ => Step::Activation,
    };
    Ok(Next::Go(moved(entry, next)))
}

/// What differs between a relationship and the template (`None`: nothing that matters).
pub fn difference(template: &RoleTemplate, r: &DelegatedAdminRelationship) -> Option<String> {
    let want: BTreeSet<String> = template.roles().into_iter().collect();
    let have: BTreeSet<String> = r
        .access_details
        .unified_roles
        .iter()
        .map(|u| u.role_definition_id.to_ascii_lowercase())
        .collect();
    let mut out = Vec::new();
    let missing: Vec<String> = want
        .difference(&have)
        .map(|r| common::gdap_rules::role_name(r))
        .collect();
    let extra: Vec<String> = have
        .difference(&want)
        .map(|r| common::gdap_rules::role_name(r))
        .collect();
    if !missing.is_empty() {
        out.push(format!("lacks {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        out.push(format!("also grants {}", extra.join(", ")));
    }
    let extends = r
        .auto_extend_duration
        .as_deref()
        .and_then(common::gdap_rules::iso8601_days)
        .is_some_and(|d| d > 0.0);
    if extends != template.auto_extend {
        out.push(format!(
            "auto-extension is {} (the template: {})",
            if extends { "on" } else { "off" },
            if template.auto_extend { "on" } else { "off" }
        ));
    }
    (!out.is_empty()).then(|| out.join("; "))
}

/// Locks for approval unless the relationship already is (or is past it); waits for the lock
/// request to complete.
async fn lock(graph: &GraphClient, waits: Waits, entry: Entry) -> Result<Next, Failure> {
    let id = relationship_of(&entry)?;
    let current = graph.get_delegated_admin_relationship(&id).await?;
    if current.status == relationship_status::CREATED {
        graph.lock_for_approval(&id).await?;
    }
    let locked = wait_for(
        &policy(waits.graph),
        || graph.get_delegated_admin_relationship(&id),
        |r| {
            if r.status == relationship_status::CREATED {
                Progress::Waiting("created (lock requested)".into())
            } else {
                Progress::Done
            }
        },
        |_, _| {},
    )
    .await
    .map_err(|e| Failure::new(format!("relationship {id}: {e}")))?;
    let next = if locked.status == relationship_status::APPROVAL_PENDING {
        Step::Approval
    } else {
        Step::Activation
    };
    Ok(Next::Go(moved(entry, next)))
}

/// Waits (up to the approval budget) for the customer's approval.
async fn approval(graph: &GraphClient, waits: Waits, entry: Entry) -> Result<Next, Failure> {
    let id = relationship_of(&entry)?;
    let pending = |status: &str| status == relationship_status::APPROVAL_PENDING;
    let read = graph.get_delegated_admin_relationship(&id).await?;
    let status = if pending(&read.status) && !waits.approval.is_zero() {
        match wait_for(
            &policy(waits.approval),
            || graph.get_delegated_admin_relationship(&id),
            |r| {
                if pending(&r.status) {
                    Progress::Waiting(r.status.clone())
                } else {
                    Progress::Done
                }
            },
            |_, _| {},
        )
        .await
        {
            Ok(r) => r.status,
            Err(common::graph::WaitError::TimedOut { .. }) => read.status,
            Err(e) => return Err(Failure::new(format!("relationship {id}: {e}"))),
        }
    } else {
        read.status
    };
    if pending(&status) {
        return Ok(Next::Stop(entry));
    }
    match crate::gdap_wait::until_active(&id, &status) {
        Progress::Failed(why) => Err(Failure::new(why)),
        _ => Ok(Next::Go(moved(entry, Step::Activation))),
    }
}

/// One access assignment per group of the template; an assignment of the group already there
/// (created before a kill) is taken, with its roles checked.
async fn assign(
    graph: &GraphClient,
    template: &RoleTemplate,
    mut entry: Entry,
) -> Result<Next, Failure> {
    let id = relationship_of(&entry)?;
    let existing: Vec<_> = graph.list_access_assignments(&id).try_collect().await?;
    for access in &template.access {
        let same = existing.iter().find(|a| {
            a.access_container
                .access_container_id
                .eq_ignore_ascii_case(&access.group)
                && a.status != assignment_status::DELETING
                && a.status != assignment_status::DELETED
        });
        let assignment_id = match same {
            Some(a) => a.id.clone(),
            None => {
                graph
                    .create_access_assignment(&id, &access.group, &access.roles)
                    .await?
                    .id
            }
        };
        entry
            .assignments
            .insert(access.group.clone(), assignment_id);
    }
    Ok(Next::Go(moved(entry, Step::Assignments)))
}

/// Partner Center's application consent in the customer tenant (Graph `User.Read.All`
/// delegated, what the fan-outs read); a 409 means it exists already.
async fn consent(ctx: &Context, entry: Entry) -> Result<Next, Failure> {
    let consent = ApplicationConsent {
        application_id: ctx.settings.app.client_id.clone(),
        display_name: ctx.settings.app.display_name.clone(),
        application_grants: vec![ApplicationGrant {
            enterprise_application_id: GRAPH_APP_ID.into(),
            scope: common::rules::GRAPH_USER_READ_ALL.into(),
        }],
    };
    match ctx
        .partner_center
        .create_application_consent(&entry.tenant_id, &consent)
        .await
    {
        Ok(_) => {}
        Err(e) if e.status() == Some(409) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Next::Go(moved(entry, Step::Check)))
}

/// Access from the customer's side ([`crate::access::check`]: the relationship, the
/// assignments, the account's groups, a delegated token at the customer's authority and a read
/// per role of the template), retried while the new access replicates (bounded by the Graph
/// wait).
pub async fn check(
    graph: &GraphClient,
    found: &Found,
    template: &RoleTemplate,
    waits: Waits,
    tenant: &str,
    relationship: &str,
) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let current = graph.get_delegated_admin_relationship(relationship).await?;
        let known = crate::access::Known {
            relationships: [(tenant.to_ascii_lowercase(), vec![current])].into(),
            my_groups: found.my_groups.clone(),
        };
        let outcome = crate::access::check(graph, &known, Some(template), tenant).await;
        if outcome.works {
            return Ok(());
        }
        if started.elapsed() >= waits.graph {
            let remedy = outcome.remedy.map(|r| format!("; {r}")).unwrap_or_default();
            return Err(Failure::new(format!(
                "access check: {:?}: {}{remedy}",
                outcome.cause, outcome.detail
            )));
        }
        tracing::debug!(tenant, cause = ?outcome.cause, "access not there yet");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}
