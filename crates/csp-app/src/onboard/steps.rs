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
    NewDelegatedAdminRelationship, Progress, UnifiedRole, approval_link, assignment_status,
    relationship_status,
};
use common::partner_center::consents::{ApplicationConsent, ApplicationGrant};
use futures::TryStreamExt as _;

use super::board::{Await, Board, Woken};
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

impl Found {
    /// Whether relationship `id` of `tenant` was listed at the start past its activation
    /// (active, or beyond: it may have access assignments).
    pub fn was_active(&self, tenant: &str, id: &str) -> bool {
        self.relationships
            .get(&tenant.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .find(|r| r.id == id)
            .is_some_and(|r| {
                ![
                    relationship_status::CREATED,
                    relationship_status::APPROVAL_PENDING,
                ]
                .contains(&r.status.as_str())
                    && !relationship_status::is_activating(&r.status)
            })
    }
}

/// Everything a step needs: the clients, what the run read at its start, the template, the
/// waits and the board where waiting customers park.
#[derive(Debug)]
pub struct Run<'a> {
    /// Clients and settings.
    pub ctx: &'a Context,
    /// Read at the start.
    pub found: &'a Found,
    /// The template applied.
    pub template: &'a RoleTemplate,
    /// How long to wait.
    pub waits: Waits,
    /// Parked customers and the relationships as last listed.
    pub board: &'a Board,
}

/// What one step did: the entry to record, and whether to go on.
#[derive(Debug)]
pub enum Next {
    /// Record and run the next step.
    Go(Entry),
    /// Record and stop here for now (awaiting the customer, or failed).
    Stop(Entry),
    /// Record, then wait on the board (without a concurrency slot) for this, at most this
    /// long; [`after`] tells what follows.
    Park(Entry, Await, Duration),
    /// Not yet (access still replicating): the step again after a pause, until the Graph wait
    /// runs out (then this failure).
    Retry(Entry, Failure),
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

/// Runs the step the entry is at. `resumed`: the first step of this customer in this run
/// (an earlier, killed run may have done part of it, so it looks before it acts).
pub async fn step(run: &Run<'_>, entry: Entry, resumed: bool) -> Result<Next, Failure> {
    let graph = &run.ctx.graph;
    match entry.step {
        Step::Create => create(run, entry).await,
        Step::Lock => lock(run, entry, resumed).await,
        Step::Approval => approval(run, entry).await,
        Step::Activation => {
            let id = relationship_of(&entry)?;
            let what = Await::Relationship {
                id,
                judge: crate::gdap_wait::until_active,
            };
            Ok(Next::Park(entry, what, run.waits.graph))
        }
        Step::Assign => {
            let id = relationship_of(&entry)?;
            let look_first = run.found.was_active(&entry.tenant_id, &id);
            assign(graph, run.template, entry, look_first).await
        }
        Step::Assignments => {
            let relationship = relationship_of(&entry)?;
            let ids = entry.assignments.values().cloned().collect();
            let what = Await::Assignments { relationship, ids };
            Ok(Next::Park(entry, what, run.waits.graph))
        }
        Step::Consent => consent(run.ctx, entry).await,
        Step::Check => {
            let id = relationship_of(&entry)?;
            match check(run, &entry.tenant_id, &id).await? {
                None => Ok(Next::Go(moved(entry, Step::Done))),
                Some(not_yet) => Ok(Next::Retry(entry, not_yet)),
            }
        }
        Step::Done => Ok(Next::Stop(entry)),
        Step::Failed => {
            let at = entry.failed_at.unwrap_or(Step::Create);
            Ok(Next::Go(moved(entry, at)))
        }
    }
}

/// What follows a parked step once its wait ended.
pub fn after(run: &Run<'_>, entry: Entry, woken: Woken) -> Result<Next, Failure> {
    let id = relationship_of(&entry)?;
    let budget = match entry.step {
        Step::Approval => run.waits.approval,
        _ => run.waits.graph,
    };
    let seen = match woken {
        Woken::Done(r) => r,
        Woken::Failed(why) => return Err(Failure::new(why)),
        Woken::TimedOut(_) if entry.step == Step::Approval => return Ok(Next::Stop(entry)),
        Woken::TimedOut(last) => {
            let what = match entry.step {
                Step::Assignments => "the access assignments of relationship",
                _ => "relationship",
            };
            return Err(Failure::new(format!(
                "{what} {id} is still {last} after {}s: Graph completes it later on its own; run onboard again later (or wait longer with --wait-timeout)",
                budget.as_secs()
            )));
        }
    };
    let status = seen.map(|r| r.status).unwrap_or_default();
    let next = match entry.step {
        Step::Lock if status == relationship_status::APPROVAL_PENDING => Step::Approval,
        Step::Lock => Step::Activation,
        Step::Approval => match crate::gdap_wait::until_active(&id, &status) {
            Progress::Failed(why) => return Err(Failure::new(why)),
            _ => Step::Activation,
        },
        Step::Activation => Step::Assign,
        Step::Assignments => Step::Consent,
        other => other,
    };
    Ok(Next::Go(moved(entry, next)))
}

/// A relationship's status until the lock request completed.
fn locked(_id: &str, status: &str) -> Progress {
    if status == relationship_status::CREATED {
        Progress::Waiting("created (lock requested)".into())
    } else {
        Progress::Done
    }
}

/// A relationship's status until the customer approved it.
fn approved(_id: &str, status: &str) -> Progress {
    if status == relationship_status::APPROVAL_PENDING {
        Progress::Waiting(status.to_owned())
    } else {
        Progress::Done
    }
}

/// Relationship `id` as last listed, else read (and remembered).
async fn relationship(run: &Run<'_>, id: &str) -> Result<DelegatedAdminRelationship, Failure> {
    if let Some(r) = run.board.relationship(id) {
        return Ok(r);
    }
    let r = run.ctx.graph.get_delegated_admin_relationship(id).await?;
    run.board.saw(&r);
    Ok(r)
}

fn relationship_of(entry: &Entry) -> Result<String, Failure> {
    entry
        .relationship_id
        .clone()
        .ok_or_else(|| Failure::new("the journal has no relationship for this customer"))
}

/// The relationship of the recorded display name, else one of the customer's that matches
/// the template (adopted), else a new one. One that differs from the template stops here.
async fn create(run: &Run<'_>, mut entry: Entry) -> Result<Next, Failure> {
    let template = run.template;
    let mine: Vec<DelegatedAdminRelationship> = run
        .found
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
            let created = run
                .ctx
                .graph
                .create_delegated_admin_relationship(&new)
                .await?;
            run.board.saw(&created);
            created
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

/// Locks for approval unless the relationship already is (or is past it), then parks until
/// the lock request completed. In the run that created the relationship it is `created`
/// (the create's answer); a resumed step takes the status listed at the start.
async fn lock(run: &Run<'_>, entry: Entry, resumed: bool) -> Result<Next, Failure> {
    let id = relationship_of(&entry)?;
    let current = relationship(run, &id).await?;
    if current.status == relationship_status::CREATED {
        match run.ctx.graph.lock_for_approval(&id).await {
            Ok(_) => {}
            // A killed run's lock request may be under way (Graph refuses a second one while
            // the relationship is still `created`): the wait tells.
            Err(e) if resumed && e.status() == Some(400) => {
                tracing::debug!(relationship = %id, "lock refused, perhaps under way: {e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let what = Await::Relationship { id, judge: locked };
    Ok(Next::Park(entry, what, run.waits.graph))
}

/// Parks (up to the approval budget) until the customer approved; without an approval wait,
/// the status as last listed (or read) decides at once.
async fn approval(run: &Run<'_>, entry: Entry) -> Result<Next, Failure> {
    let id = relationship_of(&entry)?;
    if !run.waits.approval.is_zero() {
        let what = Await::Relationship {
            id,
            judge: approved,
        };
        return Ok(Next::Park(entry, what, run.waits.approval));
    }
    let status = relationship(run, &id).await?.status;
    if status == relationship_status::APPROVAL_PENDING {
        return Ok(Next::Stop(entry));
    }
    match crate::gdap_wait::until_active(&id, &status) {
        Progress::Failed(why) => Err(Failure::new(why)),
        _ => Ok(Next::Go(moved(entry, Step::Activation))),
    }
}

/// One access assignment per group of the template. When the relationship was already active
/// as the run started (`look_first`), an assignment of the group already there (created
/// before a kill, or by hand) is taken; one that became active during this run has none but
/// this run's (Graph assigns only active relationships), so nothing is read first.
async fn assign(
    graph: &GraphClient,
    template: &RoleTemplate,
    mut entry: Entry,
    look_first: bool,
) -> Result<Next, Failure> {
    let id = relationship_of(&entry)?;
    let existing: Vec<_> = if look_first {
        graph.list_access_assignments(&id).try_collect().await?
    } else {
        Vec::new()
    };
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

/// Access from the customer's side ([`crate::access::check`]: the relationship as last
/// listed, the assignments, the account's groups, a delegated token at the customer's
/// authority and a read per role of the template). `Some(why)` while it does not work yet
/// (the new access replicating): the caller tries again until the Graph wait runs out.
pub async fn check(run: &Run<'_>, tenant: &str, id: &str) -> Result<Option<Failure>, Failure> {
    let current = relationship(run, id).await?;
    let known = crate::access::Known {
        relationships: [(tenant.to_ascii_lowercase(), vec![current])].into(),
        my_groups: run.found.my_groups.clone(),
    };
    let outcome = crate::access::check(&run.ctx.graph, &known, Some(run.template), tenant).await;
    if outcome.works {
        return Ok(None);
    }
    tracing::debug!(tenant, cause = ?outcome.cause, "access not there yet");
    let remedy = outcome.remedy.map(|r| format!("; {r}")).unwrap_or_default();
    Ok(Some(Failure::new(format!(
        "access check: {:?}: {}{remedy}",
        outcome.cause, outcome.detail
    ))))
}
