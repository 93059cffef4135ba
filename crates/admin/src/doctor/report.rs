//! What `doctor` reports: each check's status, detail and fix, and the worst of them as the
//! exit status.

use common::graph::GraphError;
use serde::Serialize;

use cli_kit::Exit;

/// The result of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not run (what it needs is missing); says so and how to include it.
    Skip,
    /// Fine.
    Pass,
    /// Works now, needs attention.
    Warn,
    /// Broken.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Skip => "SKIP",
            Self::Pass => "PASS",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Stable identifier, for monitoring (`app.permissions`, `token.partner_center`, …).
    pub id: &'static str,
    /// Pass, warn, fail or skip.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do (absent when nothing is needed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Why the check could not read what it checks, when that is why it failed.
    #[serde(skip)]
    pub unread: Option<Unread>,
}

/// Why a check could not read what it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unread {
    /// The service refused (403): the caller lacks a permission; no retry changes that.
    Refused,
    /// Anything else (an outage, a timeout): it may pass.
    Failed,
}

impl Unread {
    /// Why Graph's `e` kept a check from reading.
    pub fn of(e: &GraphError) -> Self {
        if e.status() == Some(403) {
            Self::Refused
        } else {
            Self::Failed
        }
    }
}

/// A failed check that could not read what it checks: `detail` as before, typed by [`Unread`].
pub fn cannot_read(id: &'static str, what: &str, e: &GraphError) -> Check {
    Check {
        unread: Some(Unread::of(e)),
        ..check(id, Status::Fail, format!("{what}: {e}"), None)
    }
}

/// Every finding.
#[derive(Clone, Debug, Serialize)]
pub struct DoctorReport {
    /// The worst status (`skip` counts as `pass`).
    pub status: Status,
    /// The findings in order.
    pub checks: Vec<Check>,
}

impl DoctorReport {
    pub(super) fn new(checks: Vec<Check>) -> Self {
        let status = checks
            .iter()
            .map(|c| c.status)
            .max()
            .map_or(Status::Pass, |s| s.max(Status::Pass));
        Self { status, checks }
    }

    /// The check with `id`.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The exit status, in the CLIs' one meaning of each code ([`Exit`]): 0 every check
    /// passed or was skipped, 4 a warning (works now, needs attention: as `watch --once`), 1 a
    /// check failed. A configuration that does not load exits 2 before any check runs.
    pub fn exit(&self) -> Exit {
        match self.status {
            Status::Skip | Status::Pass => Exit::Success,
            Status::Warn => Exit::Partial,
            Status::Fail => Exit::Failure,
        }
    }

    /// The human-readable report.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!(
                "{}  {:<32} {}\n",
                c.status.label(),
                c.id,
                c.detail
            ));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("      {:<32} fix: {fix}\n", ""));
            }
        }
        let count = |s| self.checks.iter().filter(|c| c.status == s).count();
        out.push_str(&format!(
            "\n{}: {} passed, {} warnings, {} failed, {} skipped\n",
            self.status.label(),
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail),
            count(Status::Skip)
        ));
        out
    }
}

/// A finding.
pub fn check(
    id: &'static str,
    status: Status,
    detail: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check {
        id,
        status,
        detail: detail.into(),
        fix,
        unread: None,
    }
}
