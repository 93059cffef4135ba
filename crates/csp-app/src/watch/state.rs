//! The watch's state file: what it remembers between cycles and between runs.
//!
//! A long-running watch reads the file once, at its first cycle, and then keeps the state in
//! memory ([`super::Watcher`]): a write that fails (disk full, a read-only volume) costs the
//! state across a restart, never a notification sent again every cycle. `watch --once` (cron)
//! reads it at each run.
//!
//! A file that is not the watch's JSON is not silently replaced: it is set aside as
//! `<name>.corrupt-<UTC time>` next to it (kept for whoever wants to look), the watch logs where,
//! counts it in `sam_watch_state_errors_total{operation="load"}` and starts afresh. A file that
//! cannot be read at all (a permission, a directory in its place) is left where it is, logged
//! and counted the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::State;

/// The persisted memory of the watch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchState {
    /// Last notified (or first seen) state per `check|subject`.
    #[serde(default)]
    pub states: BTreeMap<String, State>,
    /// When the watch's own keepalive last succeeded, per partner (the watch's clock, Unix
    /// seconds).
    #[serde(default)]
    pub last_keepalive: BTreeMap<String, i64>,
    /// The changes of state the watch recorded (and notified, when a webhook is configured),
    /// oldest first, the latest [`HISTORY_LIMIT`] only: the console's History page.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// The last access check of each watched customer, by lower-case tenant ID
    /// ([`super::access_check`]): a restart does not redo the checks still within
    /// `--access-check-every`.
    #[serde(default)]
    pub access: BTreeMap<String, AccessRecord>,
}

/// The app's consent in a customer tenant, as the access check found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Consent {
    /// Entra issued a token at the customer's authority: the app is consented there.
    Consented,
    /// Entra refused the token with AADSTS65001.
    NotConsented,
    /// The check stopped before the token (no relationship, no active assignment, …) or the
    /// token was refused for another reason (Conditional Access, throttling).
    NotDetermined,
}

impl Consent {
    /// `consented`, `not consented`, `not determined`.
    pub fn label(self) -> &'static str {
        match self {
            Consent::Consented => "consented",
            Consent::NotConsented => "not consented",
            Consent::NotDetermined => "not determined",
        }
    }
}

/// One customer's last access check (no secret: causes, Graph's and Entra's messages, when).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    /// Customer tenant ID (lower case).
    pub tenant_id: String,
    /// What the check found.
    pub cause: crate::access::Cause,
    /// The app's consent in the tenant, as far as the check got.
    pub consent: Consent,
    /// What was found.
    pub detail: String,
    /// What to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    /// When (the watch's clock, Unix seconds).
    pub at: i64,
    /// The customer's relationships (`id=status`, sorted) when checked: a change (a
    /// relationship activated, terminated) makes the check due before its time.
    #[serde(default)]
    pub relationships: String,
    /// The app was seen consented in this tenant at an earlier check: "not consented" now
    /// means the consent was removed, not that it was never given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub consented_before: bool,
}

/// How many changes of state the state file keeps.
pub const HISTORY_LIMIT: usize = 500;

/// One change of state of a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// When (the watch's clock, Unix seconds).
    pub at: i64,
    /// The check.
    pub check: String,
    /// What it is about.
    pub subject: String,
    /// The state before (none: first seen).
    #[serde(default)]
    pub from: Option<State>,
    /// The state after.
    pub to: State,
    /// What was found and what to do.
    #[serde(default)]
    pub message: String,
    /// Whether the webhook was told.
    #[serde(default)]
    pub notified: bool,
}

impl WatchState {
    /// Records changes (oldest first), then drops the oldest beyond [`HISTORY_LIMIT`] once, not
    /// once per change.
    pub fn record_all(&mut self, entries: impl IntoIterator<Item = HistoryEntry>) {
        self.history.extend(entries);
        if self.history.len() > HISTORY_LIMIT {
            let extra = self.history.len() - HISTORY_LIMIT;
            self.history.drain(..extra);
        }
    }
}

/// Something wrong with the state file when it was read.
#[derive(Debug)]
pub enum LoadProblem {
    /// It was not the watch's JSON; it now lives at this path.
    SetAside(PathBuf),
    /// It was not the watch's JSON and could not be moved (the error says why); it will be
    /// replaced by the next successful write.
    NotSetAside(std::io::Error),
    /// It could not be read.
    Unreadable(std::io::Error),
}

impl WatchState {
    /// Reads the state file: a missing file is an empty state; a corrupt one is set aside (see
    /// the module) and an unreadable one logged, both giving an empty state and the problem.
    /// `now` (Unix seconds) names the set-aside file. The watch never stops over its own memory.
    pub fn load(path: &Path, now: i64) -> (Self, Option<LoadProblem>) {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::default(), None),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read the watch state file; starting afresh (it is left as it is)");
                return (Self::default(), Some(LoadProblem::Unreadable(e)));
            }
        };
        let error = match serde_json::from_slice(&bytes) {
            Ok(state) => return (state, None),
            Err(e) => e,
        };
        let aside = set_aside_path(path, now);
        match std::fs::rename(path, &aside) {
            Ok(()) => {
                tracing::error!(path = %path.display(), set_aside = %aside.display(), error = %error, "the watch state file is not valid; set it aside and starting afresh");
                (Self::default(), Some(LoadProblem::SetAside(aside)))
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %error, rename_error = %e, "the watch state file is not valid and cannot be set aside; starting afresh");
                (Self::default(), Some(LoadProblem::NotSetAside(e)))
            }
        }
    }

    /// Writes the state file (owner-only, atomically: a failed write leaves the old file).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        common::files::write_private_with(path, |file| {
            serde_json::to_writer_pretty(file, self).map_err(std::io::Error::other)
        })
    }
}

/// `<path>.corrupt-<YYYYMMDDTHHMMSSZ>` (no colon: valid on every file system), with `-N` added
/// when that name is taken.
pub fn set_aside_path(path: &Path, now: i64) -> PathBuf {
    let stamp = time::OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| now.to_string());
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{stamp}"));
    let base = PathBuf::from(name);
    let mut candidate = base.clone();
    let mut n = 1;
    while candidate.exists() {
        let mut name = base.as_os_str().to_owned();
        name.push(format!("-{n}"));
        candidate = PathBuf::from(name);
        n += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_428_800; // 2026-12-05T00:00:00Z

    #[test]
    fn a_corrupt_state_file_is_set_aside_with_its_content_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch-state.json");
        std::fs::write(&path, b"{\"states\": {\"gdap|r1\": \"warn").unwrap();
        let (state, problem) = WatchState::load(&path, NOW);
        assert_eq!(state, WatchState::default());
        let Some(LoadProblem::SetAside(aside)) = problem else {
            panic!("{problem:?}")
        };
        assert_eq!(
            aside,
            dir.path().join("watch-state.json.corrupt-20261205T000000Z")
        );
        assert_eq!(
            std::fs::read(&aside).unwrap(),
            b"{\"states\": {\"gdap|r1\": \"warn"
        );
        assert!(!path.exists());
        // A second corruption in the same second keeps the first one.
        std::fs::write(&path, b"42").unwrap();
        let (_, problem) = WatchState::load(&path, NOW);
        let Some(LoadProblem::SetAside(second)) = problem else {
            panic!("{problem:?}")
        };
        assert_eq!(
            second,
            dir.path()
                .join("watch-state.json.corrupt-20261205T000000Z-1")
        );
        assert!(aside.exists());
    }

    #[test]
    fn a_missing_file_is_an_empty_state_and_a_directory_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let (state, problem) = WatchState::load(&dir.path().join("none.json"), NOW);
        assert_eq!(state, WatchState::default());
        assert!(problem.is_none());
        let (_, problem) = WatchState::load(dir.path(), NOW);
        assert!(matches!(problem, Some(LoadProblem::Unreadable(_))));
        assert!(dir.path().is_dir());
    }

    #[test]
    fn a_saved_state_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut state = WatchState::default();
        state.states.insert("gdap|r1".into(), State::Warning);
        state.last_keepalive.insert("p".into(), 7);
        state.save(&path).unwrap();
        let (read, problem) = WatchState::load(&path, NOW);
        assert!(problem.is_none());
        assert_eq!(read, state);
        assert!(WatchState::default().save(dir.path()).is_err());
    }
}
