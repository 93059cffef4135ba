//! The onboarding journal: where each customer stands, in a file that survives `kill -9`.
//!
//! The file is owner-only (0600) JSON lines, one line per change: a customer's whole entry,
//! the last line of a tenant winning. A change is appended and flushed to disk (`sync_data`)
//! before the step it records goes on, so a killed run loses at most a line being written
//! (a torn last line is ignored when read). Many customers recording at once share one flush
//! ([`Syncer`]: whoever flushes covers every line written before it), so a 1,000-customer run
//! does not wait for 8,000 flushes one after another. Opening compacts it: the current entries are
//! written to a new file that replaces the old one atomically ([`common::files::write_private`]).
//! Appending one line per change keeps a 1,000-customer run from rewriting the whole file at
//! every step. One run at a time: the file is not locked across processes (see the README).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cli_kit::Failure;
use serde::{Deserialize, Serialize};

/// Where a customer stands: the next thing to do (or `done` / `failed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    /// Create the relationship (or adopt one with the recorded display name).
    Create,
    /// Lock it for the customer's approval.
    Lock,
    /// The customer's Global Administrator must approve it (the link is recorded).
    Approval,
    /// Approved: Graph is activating it.
    Activation,
    /// Create the template's access assignments.
    Assign,
    /// Wait until every assignment is active.
    Assignments,
    /// Consent the app in the customer tenant.
    Consent,
    /// Prove access from the customer's side.
    Check,
    /// Onboarded.
    Done,
    /// Stopped: see `error` and `remedy`; a rerun tries the step again.
    Failed,
}

impl Step {
    /// What this step waits for, as `onboard status` says it.
    pub fn awaited(self) -> &'static str {
        match self {
            Step::Create => "creating the relationship",
            Step::Lock => "locking the relationship for approval",
            Step::Approval => "waiting for the customer's approval",
            Step::Activation => "waiting for Graph to activate the relationship",
            Step::Assign => "creating the access assignments",
            Step::Assignments => "waiting for the access assignments to be active",
            Step::Consent => "consenting the app in the customer tenant",
            Step::Check => "checking access from the customer's side",
            Step::Done => "nothing: onboarded",
            Step::Failed => "a fix, then a rerun",
        }
    }
}

/// One customer's journal entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Customer tenant ID (lower case).
    pub tenant_id: String,
    /// The template applied.
    pub template: String,
    /// The next step (or done / failed).
    pub step: Step,
    /// The step that failed, when `step` is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<Step>,
    /// The relationship's display name, chosen before it is created (how a rerun finds a
    /// relationship created just before a kill).
    pub display_name: String,
    /// The relationship, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_id: Option<String>,
    /// Where the customer approves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_link: Option<String>,
    /// Access assignment IDs by group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub assignments: BTreeMap<String, String>,
    /// When the entry reached its current step (Unix seconds).
    pub since: i64,
    /// Why it failed (no secret: Graph's and Partner Center's messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    /// A relationship already there (adopted, or differing from the template: then the
    /// difference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The journal file and its entries.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
    file: Option<std::fs::File>,
    written: Arc<AtomicU64>,
}

/// Flushes the journal's appended lines to disk, one flush for all the lines written before
/// it (group commit).
#[derive(Debug)]
pub struct Syncer {
    path: PathBuf,
    file: Arc<std::fs::File>,
    written: Arc<AtomicU64>,
    synced: tokio::sync::Mutex<u64>,
}

impl Syncer {
    /// Returns once line `seq` (from [`Journal::append`]) is on disk.
    pub async fn sync_through(&self, seq: u64) -> Result<(), Failure> {
        let mut synced = self.synced.lock().await;
        if *synced >= seq {
            return Ok(());
        }
        let upto = self.written.load(Ordering::SeqCst);
        let file = Arc::clone(&self.file);
        let io = |e: std::io::Error| {
            Failure::new(format!(
                "cannot write the onboarding journal {}: {e}",
                self.path.display()
            ))
        };
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|e| io(std::io::Error::other(e.to_string())))?
            .map_err(io)?;
        *synced = upto;
        Ok(())
    }
}

impl Journal {
    /// Reads the journal (an absent file is empty) without changing it.
    pub fn read(path: &Path) -> Result<Self, Failure> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(Failure::new(format!(
                    "cannot read the onboarding journal {}: {e}",
                    path.display()
                )));
            }
        };
        let mut entries = BTreeMap::new();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str::<Entry>(line) {
                Ok(e) => {
                    entries.insert(e.tenant_id.clone(), e);
                }
                // A line torn by a kill can only be the last one.
                Err(_) if i + 1 == lines.len() => {}
                Err(e) => {
                    return Err(Failure::new(format!(
                        "the onboarding journal {} is damaged at line {}: {e}; move it aside to start over (relationships already created are adopted by their display names)",
                        path.display(),
                        i + 1
                    )));
                }
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            entries,
            file: None,
            written: Arc::default(),
        })
    }

    /// Reads and compacts the journal, then keeps it open for appending.
    pub fn open(path: &Path) -> Result<Self, Failure> {
        let mut journal = Self::read(path)?;
        let io = |e: std::io::Error| {
            Failure::new(format!(
                "cannot write the onboarding journal {}: {e}",
                path.display()
            ))
        };
        let mut text = Vec::new();
        for entry in journal.entries.values() {
            serde_json::to_writer(&mut text, entry).map_err(|e| io(e.into()))?;
            text.push(b'\n');
        }
        common::files::write_private(path, &text).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io)?;
        journal.file = Some(file);
        Ok(journal)
    }

    /// A customer's entry.
    pub fn get(&self, tenant_id: &str) -> Option<&Entry> {
        self.entries.get(tenant_id)
    }

    /// Every entry, by tenant.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Records an entry: appended and flushed to disk before this returns.
    pub fn record(&mut self, entry: Entry) -> Result<(), Failure> {
        self.append(entry)?;
        let path = self.path.display().to_string();
        self.file
            .as_ref()
            .map(std::fs::File::sync_data)
            .transpose()
            .map_err(|e| {
                Failure::new(format!("cannot write the onboarding journal {path}: {e}"))
            })?;
        Ok(())
    }

    /// Appends an entry (in the file, not yet flushed: [`Syncer::sync_through`] the number
    /// returned before the step it records goes on).
    pub fn append(&mut self, entry: Entry) -> Result<u64, Failure> {
        let mut line = serde_json::to_vec(&entry)
            .map_err(|e| Failure::new(format!("cannot encode a journal entry: {e}")))?;
        line.push(b'\n');
        let path = self.path.display().to_string();
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Failure::new("the onboarding journal is open read-only"))?;
        file.write_all(&line).map_err(|e| {
            Failure::new(format!("cannot write the onboarding journal {path}: {e}"))
        })?;
        self.entries.insert(entry.tenant_id.clone(), entry);
        Ok(self.written.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// The flusher of this (open) journal.
    pub fn syncer(&self) -> Result<Syncer, Failure> {
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| Failure::new("the onboarding journal is open read-only"))?
            .try_clone()
            .map_err(|e| {
                Failure::new(format!(
                    "cannot write the onboarding journal {}: {e}",
                    self.path.display()
                ))
            })?;
        Ok(Syncer {
            path: self.path.clone(),
            file: Arc::new(file),
            written: Arc::clone(&self.written),
            synced: tokio::sync::Mutex::new(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &str, step: Step) -> Entry {
        Entry {
            tenant_id: tenant.into(),
            template: "t".into(),
            step,
            failed_at: None,
            display_name: format!("t-{tenant}"),
            relationship_id: None,
            approval_link: None,
            assignments: BTreeMap::new(),
            since: 0,
            error: None,
            remedy: None,
            note: None,
        }
    }

    #[test]
    fn the_last_line_wins_a_torn_line_is_ignored_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let mut j = Journal::open(&path).unwrap();
        j.record(entry("a", Step::Create)).unwrap();
        j.record(entry("a", Step::Lock)).unwrap();
        j.record(entry("b", Step::Create)).unwrap();
        drop(j);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"tenantId\": \"c\", \"tem");
        std::fs::write(&path, text).unwrap();
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.get("a").unwrap().step, Step::Lock);
        assert_eq!(j.entries().count(), 2);
        drop(j);
        // Appended lines flushed together read back the same way.
        let mut j = Journal::open(&path).unwrap();
        let syncer = j.syncer().unwrap();
        j.append(entry("b", Step::Lock)).unwrap();
        let seq = j.append(entry("a", Step::Approval)).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(syncer.sync_through(seq))
            .unwrap();
        drop(j);
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.get("a").unwrap().step, Step::Approval);
        assert_eq!(j.get("b").unwrap().step, Step::Lock);
        assert_eq!(j.entries().count(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
