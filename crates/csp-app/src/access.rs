//! `access check`: access proved from the customer's side. Per customer: the GDAP relationship
//! and its access assignments (active, as Graph applies them), whether the signed-in account of
//! the grant is in an assigned group, then a delegated token at the customer's authority (which
//! Entra issues only with GDAP *and* the app consented there) and, per role, a cheap read the
//! role allows. The first thing missing is the customer's cause, with its remedy.

use std::collections::{BTreeSet, HashMap, HashSet};

use cli_kit::Failure;
use common::config::RoleTemplate;
use common::graph::{DelegatedAdminRelationship, GraphClient, GraphError, relationship_status};
use common::http::Tenant;
use common::remedy::Remedy;
use futures::TryStreamExt as _;
use serde::{Deserialize, Serialize};

use common::graph::access::{assignment_counts, assignment_pending, relationship_counts};

/// Why access does not work (or `works`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Cause {
    /// Everything checked works.
    Works,
    /// The partner has no relationship with the customer.
    NoRelationship,
    /// No relationship is active (awaiting approval, activating, expired, terminated).
    RelationshipNotActive,
    /// The active relationship's access assignments are still pending (or there are none).
    AssignmentPending,
    /// The account of the grant is in none of the assigned groups.
    UserNotInGroup,
    /// The app is not consented in the customer tenant (AADSTS65001).
    AppNotConsented,
    /// A Conditional Access policy blocked the token (AADSTS53003, 50177).
    ConditionalAccess,
    /// Graph or Entra throttled the check past its retries.
    Throttled,
    /// A role's read was refused, or something else failed.
    Error,
}

impl Cause {
    /// Every cause, in the order of the check's steps.
    pub const ALL: [Cause; 9] = [
        Cause::Works,
        Cause::NoRelationship,
        Cause::RelationshipNotActive,
        Cause::AssignmentPending,
        Cause::UserNotInGroup,
        Cause::AppNotConsented,
        Cause::ConditionalAccess,
        Cause::Throttled,
        Cause::Error,
    ];

    /// The cause as `--output json` names it (`works`, `appNotConsented`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Works => "works",
            Cause::NoRelationship => "noRelationship",
            Cause::RelationshipNotActive => "relationshipNotActive",
            Cause::AssignmentPending => "assignmentPending",
            Cause::UserNotInGroup => "userNotInGroup",
            Cause::AppNotConsented => "appNotConsented",
            Cause::ConditionalAccess => "conditionalAccess",
            Cause::Throttled => "throttled",
            Cause::Error => "error",
        }
    }

    /// Parses [`Self::as_str`]'s names.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// The result for one customer.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Customer tenant ID.
    pub tenant_id: String,
    /// Whether access works.
    pub works: bool,
    /// Why not (or `works`).
    pub cause: Cause,
    /// What was found.
    pub detail: String,
    /// What to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    /// The reads made: role name → path and whether it worked.
    pub reads: Vec<Read>,
}

/// One read a role allows.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Read {
    /// The role's name.
    pub role: String,
    /// The Graph path read.
    pub path: String,
    /// Whether it worked.
    pub ok: bool,
}

/// A cheap read a role allows (`GET /users?$top=1` for the directory roles; the organization
/// otherwise, which any role in the tenant may read).
pub fn read_for(role_id: &str) -> &'static str {
    match common::gdap_rules::role_name(role_id).as_str() {
        "Groups Administrator" => "/v1.0/groups?$top=1",
        "Directory Readers"
        | "Global Reader"
        | "Global Administrator"
        | "Directory Writers"
        | "User Administrator"
        | "Helpdesk Administrator"
        | "Authentication Administrator"
        | "Privileged Role Administrator"
        | "License Administrator" => "/v1.0/users?$top=1",
        _ => "/v1.0/organization",
    }
}

/// What the check needs once per run: relationships by customer, the account's groups.
#[derive(Debug)]
pub struct Known {
    /// The partner's relationships by lower-case customer tenant.
    pub relationships: HashMap<String, Vec<DelegatedAdminRelationship>>,
    /// Object IDs (lower case) of the groups the grant's account is a direct member of.
    pub my_groups: HashSet<String>,
}

impl Known {
    /// Reads both.
    pub async fn read(graph: &GraphClient) -> Result<Self, Failure> {
        let relationships = common::graph::access::relationships_by_customer(graph).await?;
        let my_groups = graph
            .list_my_member_of()
            .map_ok(|o| o.id.to_ascii_lowercase())
            .try_collect()
            .await?;
        Ok(Self {
            relationships,
            my_groups,
        })
    }
}

fn outcome(tenant: &str, cause: Cause, detail: String, remedy: Option<String>) -> Outcome {
    Outcome {
        tenant_id: tenant.to_owned(),
        works: cause == Cause::Works,
        cause,
        detail,
        remedy,
        reads: Vec::new(),
    }
}

/// Checks one customer.
pub async fn check(
    graph: &GraphClient,
    known: &Known,
    template: Option<&RoleTemplate>,
    tenant: &str,
) -> Outcome {
    let tenant = tenant.to_ascii_lowercase();
    let Some(rels) = known.relationships.get(&tenant) else {
        return outcome(
            &tenant,
            Cause::NoRelationship,
            "the partner has no GDAP relationship with the customer".into(),
            Some(
                "onboard the customer: `csp-app onboard --customer TENANT --template NAME`".into(),
            ),
        );
    };
    let active: Vec<&DelegatedAdminRelationship> =
        rels.iter().filter(|r| relationship_counts(r)).collect();
    if active.is_empty() {
        let statuses: Vec<String> = rels
            .iter()
            .map(|r| format!("{:?} is {}", r.display_name, r.status))
            .collect();
        let waiting = rels
            .iter()
            .any(|r| r.status == relationship_status::APPROVAL_PENDING);
        return outcome(
            &tenant,
            Cause::RelationshipNotActive,
            format!("no relationship is active ({})", statuses.join("; ")),
            Some(if waiting {
                "the customer's Global Administrator must approve it (`csp-app onboard status` shows the link)".into()
            } else {
                "wait for activation (minutes), or onboard the customer again if it expired or was terminated".into()
            }),
        );
    }
    let (my_roles, any_active, any_pending) = match my_roles(graph, known, &active).await {
        Ok(found) => found,
        Err(e) => return failed(&tenant, e, Vec::new()),
    };
    if !any_active {
        return outcome(
            &tenant,
            Cause::AssignmentPending,
            if any_pending {
                "the access assignments are still pending (Graph applies them within minutes)"
                    .into()
            } else {
                "the active relationship has no access assignment".into()
            },
            Some(if any_pending {
                "wait a few minutes and check again".into()
            } else {
                "assign a security group: `csp-app gdap assign` (or run onboard again)".into()
            }),
        );
    }
    if my_roles.is_empty() {
        return outcome(
            &tenant,
            Cause::UserNotInGroup,
            "the account of the grant is in none of the groups assigned on the active relationship"
                .into(),
            Some("add the account to an assigned security group in the partner tenant".into()),
        );
    }
    let roles: Vec<String> = match template {
        Some(t) => t.roles(),
        None => my_roles.iter().cloned().collect(),
    };
    let mut reads = Vec::new();
    for role in &roles {
        let path = read_for(role);
        let result = graph.get_raw(Tenant::Customer(&tenant), path).await;
        let ok = result.is_ok();
        reads.push(Read {
            role: common::gdap_rules::role_name(role),
            path: path.to_owned(),
            ok,
        });
        if let Err(e) = result {
            return failed(&tenant, e, reads);
        }
    }
    let mut done = outcome(
        &tenant,
        Cause::Works,
        format!("{} read(s) worked", reads.len()),
        None,
    );
    done.reads = reads;
    done
}

/// The roles the account gets through the active assignments of the active relationships,
/// whether any assignment is active, and whether any is pending.
async fn my_roles(
    graph: &GraphClient,
    known: &Known,
    active: &[&DelegatedAdminRelationship],
) -> Result<(BTreeSet<String>, bool, bool), GraphError> {
    let mut my_roles: BTreeSet<String> = BTreeSet::new();
    let mut any_active = false;
    let mut any_pending = false;
    for r in active {
        let list: Vec<_> = graph.list_access_assignments(&r.id).try_collect().await?;
        for a in &list {
            any_pending |= assignment_pending(a);
            if !assignment_counts(a) {
                continue;
            }
            any_active = true;
            let group = a.access_container.access_container_id.to_ascii_lowercase();
            if known.my_groups.contains(&group) {
                my_roles.extend(
                    a.access_details
                        .unified_roles
                        .iter()
                        .map(|u| u.role_definition_id.to_ascii_lowercase()),
                );
            }
        }
    }
    Ok((my_roles, any_active, any_pending))
}

/// A failed token or read, with its cause: Graph's 429, else the failure's remedy.
fn failed(tenant: &str, error: GraphError, reads: Vec<Read>) -> Outcome {
    let throttled = error.status() == Some(429);
    let failure = Failure::from(error);
    let cause = match failure.remedy {
        _ if throttled => Cause::Throttled,
        Remedy::CustomerConsent => Cause::AppNotConsented,
        Remedy::CustomerConditionalAccess | Remedy::ConditionalAccess => Cause::ConditionalAccess,
        _ => Cause::Error,
    };
    let mut o = outcome(tenant, cause, failure.text().to_owned(), failure.advice());
    o.reads = reads;
    o
}
