//! Microsoft Graph's throttling of identity and access requests (docs/microsoft-behaviour.md
//! §0b, §6.4): a budget per application and tenant pair in each 10 seconds, so one busy
//! customer tenant is throttled while the others are not. The emulator counts every Graph
//! request of an application in a tenant as one unit in a sliding window; over the budget,
//! `graph::throttle` answers 429 with `Retry-After` (seconds until the oldest counted request
//! leaves the window). Independent of injected faults (`faults`), which stay for tests of other
//! answers.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The budget (the seed's `[graph_throttling]` section).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct GraphThrottleSettings {
    /// Requests one application may make in one tenant in each window; 0: no limit. Default
    /// 3,500: Microsoft's budget for a small tenant (under 50 users) in resource units, each
    /// request counted as one unit.
    pub requests_per_window: u32,
    /// The window in seconds (10, as Microsoft's limits are stated).
    pub window_secs: u64,
}

impl Default for GraphThrottleSettings {
    fn default() -> Self {
        Self {
            requests_per_window: 3_500,
            window_secs: 10,
        }
    }
}

impl GraphThrottleSettings {
    /// `requests` per 10 seconds for each application and tenant.
    pub fn per_10s(requests: u32) -> Self {
        Self {
            requests_per_window: requests,
            window_secs: 10,
        }
    }
}

/// The requests counted per (application, tenant) in the current window.
#[derive(Debug, Default)]
pub struct Throttle {
    settings: Mutex<GraphThrottleSettings>,
    windows: Mutex<HashMap<String, VecDeque<i64>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Throttle {
    /// A throttle with `settings` and nothing counted.
    pub fn new(settings: GraphThrottleSettings) -> Self {
        Self {
            settings: Mutex::new(settings),
            windows: Mutex::default(),
        }
    }

    /// The budget in force.
    pub fn settings(&self) -> GraphThrottleSettings {
        lock(&self.settings).clone()
    }

    /// Change the budget (what was counted stays counted).
    pub fn set_settings(&self, settings: GraphThrottleSettings) {
        *lock(&self.settings) = settings;
    }

    /// Count a request of `app` in `tenant` at `now_ms`; `Some(retry_after_secs)` when it is over
    /// the budget (it is then not counted).
    pub fn admit(&self, app: &str, tenant: &str, now_ms: i64) -> Option<u64> {
        let GraphThrottleSettings {
            requests_per_window: limit,
            window_secs,
        } = self.settings();
        if limit == 0 {
            return None;
        }
        let window_ms = i64::try_from(window_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
        let key = format!(
            "{}|{}",
            app.to_ascii_lowercase(),
            tenant.to_ascii_lowercase()
        );
        let mut windows = lock(&self.windows);
        let times = windows.entry(key).or_default();
        while times.front().is_some_and(|t| *t + window_ms <= now_ms) {
            times.pop_front();
        }
        if times.len() >= limit as usize {
            let oldest = times.front().copied().unwrap_or(now_ms);
            let wait_ms = (oldest + window_ms - now_ms).max(1);
            return Some(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1));
        }
        times.push_back(now_ms);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_app_and_tenant_has_its_own_budget() {
        let t = Throttle::new(GraphThrottleSettings::per_10s(2));
        assert_eq!(t.admit("a", "t1", 0), None);
        assert_eq!(t.admit("a", "t1", 1_000), None);
        assert_eq!(t.admit("a", "t1", 2_000), Some(8));
        assert_eq!(t.admit("a", "T2", 2_000), None, "another tenant");
        assert_eq!(t.admit("b", "t1", 2_000), None, "another application");
        assert_eq!(
            t.admit("A", "t1", 10_000),
            None,
            "the first left the window"
        );
        assert_eq!(t.admit("a", "t1", 10_500), Some(1));
    }

    #[test]
    fn zero_is_no_limit() {
        let t = Throttle::new(GraphThrottleSettings::per_10s(0));
        assert!((0..10_000).all(|i| t.admit("a", "t", i).is_none()));
    }
}
