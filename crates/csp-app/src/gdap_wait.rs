//! Waiting for GDAP changes Graph completes later (docs/microsoft-behaviour.md §6.2a): a
//! relationship the customer approved becomes `active` through `approved` and `activating`, a
//! terminated one goes through `terminationRequested` and `terminating`, an access assignment
//! is `pending` before `active`. Every wait is bounded ([`WaitPolicy`]), prints a line on
//! stderr for each new state it sees, and is skipped with `--no-wait`. The `gdap` commands use
//! it; a command that chains several GDAP steps (onboarding) waits through the same functions.

use std::io::Write;
use std::time::Duration;

use cli_kit::Failure;
use common::graph::{
    DelegatedAdminAccessAssignment, DelegatedAdminRelationship, GraphClient, Progress, WaitError,
    WaitPolicy, assignment_status, relationship_status, wait_for,
};

/// A waiter: the Graph client, how long to wait, and where progress goes.
pub struct Waiter<'a> {
    graph: &'a GraphClient,
    policy: WaitPolicy,
    err: &'a mut dyn Write,
}

impl std::fmt::Debug for Waiter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Whether a relationship in `status` is (or is on its way to being) active: `Done` when
/// active, `Waiting` while activating, `Failed` (with what to do) otherwise.
pub fn until_active(id: &str, status: &str) -> Progress {
    if status.eq_ignore_ascii_case(relationship_status::ACTIVE) {
        Progress::Done
    } else if relationship_status::is_activating(status) {
        Progress::Waiting(status.to_owned())
    } else if status.eq_ignore_ascii_case(relationship_status::APPROVAL_PENDING)
        || status.eq_ignore_ascii_case(relationship_status::CREATED)
    {
        Progress::Failed(format!(
            "relationship {id} is {status}: it becomes active only after the customer's Global Administrator approves it (`csp-app gdap lock-for-approval {id}` prints the link)"
        ))
    } else {
        Progress::Failed(format!(
            "relationship {id} is {status} and will not become active: create a new relationship for the customer to approve"
        ))
    }
}

/// Whether a relationship in `status` is terminated (or on its way there).
pub fn until_terminated(id: &str, status: &str) -> Progress {
    if status.eq_ignore_ascii_case(relationship_status::TERMINATED) {
        Progress::Done
    } else if status.eq_ignore_ascii_case(relationship_status::TERMINATION_REQUESTED)
        || status.eq_ignore_ascii_case(relationship_status::TERMINATING)
    {
        Progress::Waiting(status.to_owned())
    } else {
        Progress::Failed(format!(
            "relationship {id} is {status}, not being terminated"
        ))
    }
}

/// Whether an access assignment in `status` is (or is on its way to being) active.
pub fn assignment_until_active(id: &str, status: &str) -> Progress {
    if status.eq_ignore_ascii_case(assignment_status::ACTIVE) {
        Progress::Done
    } else if status.eq_ignore_ascii_case(assignment_status::PENDING) {
        Progress::Waiting(status.to_owned())
    } else {
        Progress::Failed(format!(
            "access assignment {id} is {status}: it will not become active; create it again with `csp-app gdap assign`"
        ))
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

impl<'a> Waiter<'a> {
    /// A waiter with `budget` in all.
    pub fn new(graph: &'a GraphClient, budget: Duration, err: &'a mut dyn Write) -> Self {
        Waiter {
            graph,
            policy: WaitPolicy {
                budget,
                ..WaitPolicy::default()
            },
            err,
        }
    }

    /// A failure of a wait, saying what was awaited and what to do.
    fn failure(&self, what: &str, e: WaitError) -> Failure {
        match e {
            WaitError::Graph(e) => e.into(),
            WaitError::Failed(why) => Failure::new(why),
            WaitError::TimedOut { last, waited } => Failure::new(format!(
                "{what} is still {last} after {}s: Graph completes it later on its own; check again later (or wait longer with --wait-timeout)",
                secs(waited)
            )),
        }
    }

    /// Reads relationship `id` until `judge` is done with it.
    pub async fn relationship(
        &mut self,
        id: &str,
        wanted: &str,
        judge: fn(&str, &str) -> Progress,
    ) -> Result<DelegatedAdminRelationship, Failure> {
        let graph = self.graph;
        self.wait(
            &format!("relationship {id}"),
            wanted,
            || graph.get_delegated_admin_relationship(id),
            |r: &DelegatedAdminRelationship| judge(id, &r.status),
        )
        .await
    }

    /// Reads access assignment `aid` of relationship `id` until it is active.
    pub async fn assignment(
        &mut self,
        id: &str,
        aid: &str,
    ) -> Result<DelegatedAdminAccessAssignment, Failure> {
        let graph = self.graph;
        self.wait(
            &format!("access assignment {aid}"),
            "active",
            || graph.get_access_assignment(id, aid),
            |a: &DelegatedAdminAccessAssignment| assignment_until_active(aid, &a.status),
        )
        .await
    }

    /// Reads relationship `id` until its `autoExtendDuration` is `wanted`.
    pub async fn auto_extension(
        &mut self,
        id: &str,
        wanted: &str,
    ) -> Result<DelegatedAdminRelationship, Failure> {
        let graph = self.graph;
        self.wait(
            &format!("the auto-extension of relationship {id}"),
            wanted,
            || graph.get_delegated_admin_relationship(id),
            |r: &DelegatedAdminRelationship| match r.auto_extend_duration.as_deref() {
                Some(d) if d.eq_ignore_ascii_case(wanted) => Progress::Done,
                other => Progress::Waiting(other.unwrap_or("unset").to_owned()),
            },
        )
        .await
    }

    /// The one wait: `read` until `judge` says done, each new state a line on stderr
    /// ("waiting for {what} to be {wanted}: {state} ({n}s)").
    async fn wait<T, F, Fut>(
        &mut self,
        what: &str,
        wanted: &str,
        read: F,
        judge: impl Fn(&T) -> Progress,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, common::graph::GraphError>>,
    {
        let err = &mut *self.err;
        let result = wait_for(&self.policy, read, judge, |state, waited| {
            let _ = writeln!(
                err,
                "waiting for {what} to be {wanted}: {state} ({}s)",
                secs(waited)
            );
        })
        .await;
        result.map_err(|e| self.failure(what, e))
    }
}
