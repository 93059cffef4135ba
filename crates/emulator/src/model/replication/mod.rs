//! Directory replication (docs/microsoft-behaviour.md §6.6): Entra ID is eventually consistent, so
//! an object written through one API is visible to Graph reads and to the token service only
//! after a while. Here a change waits in a queue for a delay drawn from [`ReplicationSettings`]
//! (a fixed delay or a random range, on the emulator's clock) and is applied to the directory
//! when a request arrives after it is due ([`crate::model::state::State::replicate`], in
//! [`apply`]). With a delay of 0 (the default) every change is applied at once, as before.
//!
//! What waits: an application consent's service principal and tenant-wide delegated grant
//! (Partner Center's `applicationconsents`), and an app-role assignment (Graph
//! `appRoleAssignedTo`). During the window the customer's authority answers AADSTS65001 to the
//! partner user and AADSTS700016 to the application's client-credentials request, and Graph
//! `servicePrincipals` answers 404 (or an empty list), because the objects are not there yet.

pub mod apply;
pub mod settings;

pub use settings::ReplicationSettings;

use crate::model::seed::{PermissionSeed, ServicePrincipalSeed};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A directory change that is not visible yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// An application consent: the app's service principal in the customer tenant (`None`
    /// when one was there already) and the tenant-wide delegated grant of `grants`.
    Consent {
        /// Customer tenant ID (as the directory spells it).
        tenant: String,
        /// The consented app's ID (as registered).
        app_id: String,
        /// The new service principal.
        service_principal: Option<ServicePrincipalSeed>,
        /// The delegated permissions per resource.
        grants: Vec<PermissionSeed>,
    },
    /// An app-role assignment: `role` of `resource_app` granted to the service principal
    /// `principal` (object ID) of `tenant`.
    AppRole {
        /// Tenant ID.
        tenant: String,
        /// The client service principal's object ID.
        principal: String,
        /// The resource app's ID.
        resource_app: String,
        /// The role's value.
        role: String,
    },
}

impl Change {
    fn tenant(&self) -> &str {
        match self {
            Change::Consent { tenant, .. } | Change::AppRole { tenant, .. } => tenant,
        }
    }
}

/// The changes waiting to replicate, each with the time (emulator clock, ms since the epoch)
/// it becomes visible.
#[derive(Debug)]
pub struct Replication {
    settings: Mutex<ReplicationSettings>,
    queue: Mutex<Vec<(i64, Change)>>,
    /// The earliest due time in the queue (`i64::MAX` when empty): requests check it without
    /// taking the lock.
    next_due: AtomicI64,
}

impl Default for Replication {
    fn default() -> Self {
        Self::new(ReplicationSettings::default())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Replication {
    /// An empty queue with `settings`.
    pub fn new(settings: ReplicationSettings) -> Self {
        Self {
            settings: Mutex::new(settings),
            queue: Mutex::default(),
            next_due: AtomicI64::new(i64::MAX),
        }
    }

    /// The delays in force.
    pub fn settings(&self) -> ReplicationSettings {
        lock(&self.settings).clone()
    }

    /// Change the delays of later changes (those waiting keep theirs).
    pub fn set_settings(&self, settings: ReplicationSettings) {
        *lock(&self.settings) = settings;
    }

    /// The delay of a new change, in milliseconds (0: apply it at once).
    pub fn draw_ms(&self) -> u64 {
        lock(&self.settings).draw_ms()
    }

    /// Queue `change`, visible from `due_ms`.
    pub fn push(&self, due_ms: i64, change: Change) {
        let mut queue = lock(&self.queue);
        queue.push((due_ms, change));
        self.next_due.fetch_min(due_ms, Ordering::Relaxed);
    }

    /// Remove and return the changes due at `now_ms`, oldest first.
    pub fn take_due(&self, now_ms: i64) -> Vec<Change> {
        if self.next_due.load(Ordering::Relaxed) > now_ms {
            return Vec::new();
        }
        let mut queue = lock(&self.queue);
        let (mut due, rest): (Vec<_>, Vec<_>) = queue.drain(..).partition(|(t, _)| *t <= now_ms);
        *queue = rest;
        let next = queue.iter().map(|(t, _)| *t).min().unwrap_or(i64::MAX);
        self.next_due.store(next, Ordering::Relaxed);
        due.sort_by_key(|(t, _)| *t);
        due.into_iter().map(|(_, c)| c).collect()
    }

    /// Whether a change matching `test` is waiting.
    pub fn any_pending(&self, test: impl Fn(&Change) -> bool) -> bool {
        lock(&self.queue).iter().any(|(_, c)| test(c))
    }

    /// Drop the waiting changes of `tenant` matching `test` (a consent deleted before it
    /// replicated); returns how many.
    pub fn cancel(&self, tenant: &str, test: impl Fn(&Change) -> bool) -> usize {
        let mut queue = lock(&self.queue);
        let before = queue.len();
        queue.retain(|(_, c)| !(c.tenant().eq_ignore_ascii_case(tenant) && test(c)));
        before - queue.len()
    }

    /// Changes waiting.
    pub fn pending(&self) -> usize {
        lock(&self.queue).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn role(tenant: &str, r: &str) -> Change {
        Change::AppRole {
            tenant: tenant.into(),
            principal: "p".into(),
            resource_app: "g".into(),
            role: r.into(),
        }
    }

    #[test]
    fn changes_come_out_when_due_in_order() {
        let q = Replication::new(ReplicationSettings::fixed(Duration::from_secs(1)));
        q.push(2_000, role("t", "b"));
        q.push(1_000, role("t", "a"));
        assert!(q.take_due(999).is_empty());
        assert_eq!(q.take_due(1_500), vec![role("t", "a")]);
        assert_eq!(q.pending(), 1);
        assert_eq!(q.take_due(5_000), vec![role("t", "b")]);
        assert!(q.take_due(i64::MAX - 1).is_empty());
    }

    #[test]
    fn a_range_draws_within_its_bounds_and_parses() {
        let s = ReplicationSettings::parse("1-10").expect("range");
        assert_eq!(
            s,
            ReplicationSettings::range(Duration::from_secs(1), Duration::from_secs(10))
        );
        for _ in 0..100 {
            let d = s.draw_ms();
            assert!((1_000..=10_000).contains(&d), "{d}");
        }
        assert_eq!(s.longest(), Duration::from_secs(10));
        assert_eq!(ReplicationSettings::parse("0").expect("zero").draw_ms(), 0);
        assert_eq!(
            ReplicationSettings::parse("2.5s").expect("fixed").draw_ms(),
            2_500
        );
        assert!(ReplicationSettings::parse("5-1").is_err());
        assert!(ReplicationSettings::parse("soon").is_err());
    }

    #[test]
    fn cancel_drops_only_the_tenants_matching_changes() {
        let q = Replication::default();
        q.push(1, role("t", "a"));
        q.push(1, role("u", "a"));
        assert_eq!(q.cancel("T", |_| true), 1);
        assert_eq!(q.take_due(10), vec![role("u", "a")]);
    }
}
