//! Applying replicated changes to the directory: [`State::replicate`] runs at the start of every
//! token request and every request that identifies a bearer (Graph, Partner Center, Key Vault),
//! so a change is visible to the first request after it is due.

use super::Change;
use crate::model::seed::PermissionSeed;
use crate::model::state::State;

impl State {
    /// The emulator's clock in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        i64::try_from(self.now_datetime().unix_timestamp_nanos() / 1_000_000)
            .unwrap_or(i64::MAX / 2)
    }

    /// Make `change` visible after the configured replication delay (at once when it is 0).
    pub fn replicate_later(&self, change: Change) {
        match self.replication.draw_ms() {
            0 => self.apply_change(change),
            delay => {
                let due = self
                    .now_ms()
                    .saturating_add(i64::try_from(delay).unwrap_or(i64::MAX / 4));
                tracing::debug!(delay_ms = delay, "directory change queued for replication");
                self.replication.push(due, change);
            }
        }
    }

    /// Apply every change that is due on the emulator's clock.
    pub fn replicate(&self) {
        for change in self.replication.take_due(self.now_ms()) {
            self.apply_change(change);
        }
    }

    fn apply_change(&self, change: Change) {
        match change {
            Change::Consent {
                tenant,
                app_id,
                service_principal,
                grants,
            } => {
                if let Some(sp) = service_principal {
                    let mut dir = self.directory_mut();
                    if dir.service_principal(&sp.tenant, &sp.app_id).is_none() {
                        dir.service_principals.push(sp);
                    }
                }
                self.grant_consent(&tenant, &app_id, None, &grants);
            }
            Change::AppRole {
                tenant,
                principal,
                resource_app,
                role,
            } => {
                let mut dir = self.directory_mut();
                let Some(sp) = dir.service_principals.iter_mut().find(|s| {
                    s.tenant.eq_ignore_ascii_case(&tenant)
                        && s.object_id.eq_ignore_ascii_case(&principal)
                }) else {
                    return;
                };
                match sp
                    .app_roles
                    .iter_mut()
                    .find(|p| p.resource.eq_ignore_ascii_case(&resource_app))
                {
                    Some(p) if p.scopes.iter().any(|r| r.eq_ignore_ascii_case(&role)) => {}
                    Some(p) => p.scopes.push(role),
                    None => sp.app_roles.push(PermissionSeed {
                        resource: resource_app,
                        scopes: vec![role],
                    }),
                }
            }
        }
    }
}
