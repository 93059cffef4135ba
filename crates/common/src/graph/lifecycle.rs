//! GDAP's asynchronous lifecycle: the documented statuses of relationships, access
//! assignments, requests and operations, the reads that follow them, and [`wait_for`], the one
//! bounded poll every client that waits for Graph to finish a change uses (docs/microsoft-behaviour.md §6.2a).
//!
//! Graph answers a change at once and completes it later: a relationship approved by the
//! customer is `approved`, then `activating`, then `active`; a `terminate` request leaves it
//! `terminationRequested`, then `terminating`, then `terminated`; an access assignment is
//! `pending` before `active` and `deleting` before `deleted`
//! ("delegatedAdminRelationshipStatus", "delegatedAdminAccessAssignmentStatus",
//! "delegatedAdminRelationshipRequestStatus", Microsoft Graph v1.0 reference).

use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{
    DelegatedAdminAccessAssignment, DelegatedAdminRelationshipRequest, GraphClient, GraphError,
};
use crate::http::Tenant;
use crate::http::transport::segment;

/// Relationship statuses (`delegatedAdminRelationshipStatus`).
pub mod relationship_status {
    /// Created by the partner.
    pub const CREATED: &str = "created";
    /// Locked for approval, waiting for the customer.
    pub const APPROVAL_PENDING: &str = "approvalPending";
    /// Approved by the customer, not yet activating.
    pub const APPROVED: &str = "approved";
    /// Being activated.
    pub const ACTIVATING: &str = "activating";
    /// Delegated access works.
    pub const ACTIVE: &str = "active";
    /// Being expired.
    pub const EXPIRING: &str = "expiring";
    /// Ended at its end date.
    pub const EXPIRED: &str = "expired";
    /// A termination was requested.
    pub const TERMINATION_REQUESTED: &str = "terminationRequested";
    /// Being terminated.
    pub const TERMINATING: &str = "terminating";
    /// Ended by either party.
    pub const TERMINATED: &str = "terminated";

    /// Statuses Graph leaves by itself, without anyone acting: a client waits them out.
    pub fn is_transitional(status: &str) -> bool {
        [
            APPROVED,
            ACTIVATING,
            EXPIRING,
            TERMINATION_REQUESTED,
            TERMINATING,
        ]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(status))
    }

    /// Statuses on the way to `active` (the customer approved).
    pub fn is_activating(status: &str) -> bool {
        [APPROVED, ACTIVATING]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(status))
    }

    /// Statuses a relationship never leaves.
    pub fn is_final(status: &str) -> bool {
        [EXPIRED, TERMINATED]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(status))
    }
}

/// Access-assignment statuses (`delegatedAdminAccessAssignmentStatus`).
pub mod assignment_status {
    /// Created, not yet in effect: its group's members do not hold the roles yet.
    pub const PENDING: &str = "pending";
    /// In effect.
    pub const ACTIVE: &str = "active";
    /// Being deleted.
    pub const DELETING: &str = "deleting";
    /// Deleted.
    pub const DELETED: &str = "deleted";
    /// Failed.
    pub const ERROR: &str = "error";
}

/// A long-running operation on a relationship (`delegatedAdminRelationshipOperation`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminRelationshipOperation {
    /// Operation ID.
    #[serde(default)]
    pub id: String,
    /// `delegatedAdminAccessAssignmentUpdate`, …
    #[serde(default)]
    pub operation_type: String,
    /// `notStarted`, `running`, `succeeded`, `failed`.
    #[serde(default)]
    pub status: String,
    /// The payload (a JSON string).
    #[serde(default)]
    pub data: String,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Reads that follow GDAP's asynchronous changes.
impl GraphClient {
    /// One access assignment.
    ///
    /// `GET …/delegatedAdminRelationships/{id}/accessAssignments/{aid}` — "Get
    /// delegatedAdminAccessAssignment" (delegatedadminaccessassignment-get.md).
    pub async fn get_access_assignment(
        &self,
        relationship_id: &str,
        assignment_id: &str,
    ) -> Result<DelegatedAdminAccessAssignment, GraphError> {
        let url = self.url(&format!(
            "tenantRelationships/delegatedAdminRelationships/{}/accessAssignments/{}",
            segment(relationship_id)?,
            segment(assignment_id)?
        ));
        self.call(
            Tenant::Partner,
            Method::GET,
            url,
            None,
            None,
            "an access assignment",
        )
        .await
    }

    /// One request made on a relationship.
    ///
    /// `GET …/delegatedAdminRelationships/{id}/requests/{rid}` — "Get
    /// delegatedAdminRelationshipRequest" (delegatedadminrelationshiprequest-get.md).
    pub async fn get_relationship_request(
        &self,
        relationship_id: &str,
        request_id: &str,
    ) -> Result<DelegatedAdminRelationshipRequest, GraphError> {
        let url = self.url(&format!(
            "tenantRelationships/delegatedAdminRelationships/{}/requests/{}",
            segment(relationship_id)?,
            segment(request_id)?
        ));
        self.call(
            Tenant::Partner,
            Method::GET,
            url,
            None,
            None,
            "a relationship request",
        )
        .await
    }

    /// The long-running operations of a relationship, following every page.
    ///
    /// `GET …/delegatedAdminRelationships/{id}/operations` — "List operations"
    /// (delegatedadminrelationship-list-operations.md).
    pub fn list_relationship_operations(
        &self,
        relationship_id: &str,
    ) -> BoxStream<'static, Result<DelegatedAdminRelationshipOperation, GraphError>> {
        match segment(relationship_id) {
            Ok(id) => self.collection(
                None,
                self.url(&format!(
                    "tenantRelationships/delegatedAdminRelationships/{id}/operations"
                )),
            ),
            Err(e) => super::refused(e.into()),
        }
    }

    /// One long-running operation.
    ///
    /// `GET …/delegatedAdminRelationships/{id}/operations/{oid}` — "Get
    /// delegatedAdminRelationshipOperation" (delegatedadminrelationshipoperation-get.md).
    pub async fn get_relationship_operation(
        &self,
        relationship_id: &str,
        operation_id: &str,
    ) -> Result<DelegatedAdminRelationshipOperation, GraphError> {
        let url = self.url(&format!(
            "tenantRelationships/delegatedAdminRelationships/{}/operations/{}",
            segment(relationship_id)?,
            segment(operation_id)?
        ));
        self.call(
            Tenant::Partner,
            Method::GET,
            url,
            None,
            None,
            "an operation",
        )
        .await
    }
}

/// How long and how often to wait for Graph to finish a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitPolicy {
    /// The most to wait in all.
    pub budget: Duration,
    /// The first pause between reads; it doubles up to [`Self::max_interval`].
    pub first_interval: Duration,
    /// The longest pause between reads.
    pub max_interval: Duration,
}

impl Default for WaitPolicy {
    /// Ten minutes in all, reading after 1 s, 2 s, 4 s, … then every 30 s.
    fn default() -> Self {
        WaitPolicy {
            budget: Duration::from_secs(600),
            first_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(30),
        }
    }
}

/// What one read tells a waiter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Done: the wanted state.
    Done,
    /// Still on the way, in this state (the label progress lines show).
    Waiting(String),
    /// It will never get there (a final state that is not the wanted one), and why.
    Failed(String),
}

/// How a wait ended when it did not reach the wanted state.
#[derive(Debug)]
pub enum WaitError {
    /// A read failed.
    Graph(GraphError),
    /// It reached a state it never leaves.
    Failed(String),
    /// The budget ran out in this state.
    TimedOut {
        /// The last state seen.
        last: String,
        /// How long it waited.
        waited: Duration,
    },
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::Graph(e) => write!(f, "{e}"),
            WaitError::Failed(why) => f.write_str(why),
            WaitError::TimedOut { last, waited } => write!(
                f,
                "still {last} after {}s (Microsoft usually completes it within minutes)",
                waited.as_secs()
            ),
        }
    }
}

impl std::error::Error for WaitError {}

impl From<GraphError> for WaitError {
    fn from(e: GraphError) -> Self {
        WaitError::Graph(e)
    }
}

/// Reads with `read` until `judge` says [`Progress::Done`] (returning the last value), a
/// final state, or the policy's budget; `on_change(state, elapsed)` hears of every new state
/// seen while waiting (for progress lines). The first read is immediate.
pub async fn wait_for<T, F, Fut>(
    policy: &WaitPolicy,
    mut read: F,
    judge: impl Fn(&T) -> Progress,
    mut on_change: impl FnMut(&str, Duration),
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GraphError>>,
{
    let started = Instant::now();
    let mut pause = policy.first_interval;
    let mut last = String::new();
    loop {
        let value = read().await?;
        match judge(&value) {
            Progress::Done => return Ok(value),
            Progress::Failed(why) => return Err(WaitError::Failed(why)),
            Progress::Waiting(state) => {
                let waited = started.elapsed();
                if state != last {
                    on_change(&state, waited);
                    last = state;
                }
                if waited >= policy.budget {
                    return Err(WaitError::TimedOut { last, waited });
                }
                let left = policy.budget.saturating_sub(waited);
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(policy.max_interval);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_told_apart() {
        use relationship_status::*;
        assert!(is_transitional("activating") && is_transitional("terminationRequested"));
        assert!(!is_transitional("active") && !is_transitional("approvalPending"));
        assert!(is_activating("approved") && !is_activating("active"));
        assert!(is_final("terminated") && !is_final("terminating"));
    }

    #[tokio::test]
    async fn a_wait_reports_each_new_state_and_ends_done_failed_or_timed_out() {
        let policy = WaitPolicy {
            budget: Duration::from_millis(200),
            first_interval: Duration::from_millis(1),
            max_interval: Duration::from_millis(4),
        };
        let judge = |s: &&str| match *s {
            "active" => Progress::Done,
            "expired" => Progress::Failed("expired".into()),
            other => Progress::Waiting(other.to_owned()),
        };
        let states = ["approved", "approved", "activating", "active"];
        let mut i = 0;
        let mut seen = Vec::new();
        let got = wait_for(
            &policy,
            || {
                let s = states[i.min(3)];
                i += 1;
                async move { Ok::<_, GraphError>(s) }
            },
            judge,
            |s, _| seen.push(s.to_owned()),
        )
        .await
        .unwrap();
        assert_eq!(
            (got, seen),
            ("active", vec!["approved".into(), "activating".into()])
        );
        let failed = wait_for(&policy, || async { Ok("expired") }, judge, |_, _| {}).await;
        assert!(matches!(failed, Err(WaitError::Failed(_))));
        let stuck = wait_for(&policy, || async { Ok("activating") }, judge, |_, _| {}).await;
        assert!(
            matches!(stuck, Err(WaitError::TimedOut { ref last, .. }) if last == "activating"),
            "{stuck:?}"
        );
    }
}
