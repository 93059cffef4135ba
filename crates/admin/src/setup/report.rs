//! What `setup` reports: each step and what it did, and why it stopped.

use std::path::PathBuf;

use common::graph::GraphError;
use serde::Serialize;
use url::Url;

/// Why `setup` stopped.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The admin sign-in failed.
    #[error("sign-in failed: {message}")]
    SignIn {
        /// What Entra (or the flow) said.
        message: String,
    },
    /// A Graph call failed.
    #[error("{request} failed: {source}{}", graph_remedy(source.status()))]
    Graph {
        /// Method and collection.
        request: &'static str,
        /// What Graph (or the transport) said.
        source: GraphError,
    },
    /// A required permission is not offered by its API (renamed or withdrawn: permission drift).
    #[error(
        "{resource} offers no delegated permission {permission}; the rules in common::rules need updating (nothing was registered)"
    )]
    PermissionNotFound {
        /// The resource API.
        resource: String,
        /// The permission value.
        permission: String,
    },
    /// The certificate is unusable.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Something `setup` cannot decide alone.
    #[error("{0}")]
    Ambiguous(String),
    /// What `setup` was asked would write a configuration a binary refuses.
    #[error("{0}")]
    Refused(String),
}

pub(super) fn graph_error(request: &'static str) -> impl Fn(GraphError) -> SetupError {
    move |source| SetupError::Graph { request, source }
}

pub(super) fn graph_remedy(status: Option<u16>) -> &'static str {
    match status.unwrap_or_default() {
        401 | 403 => {
            ". Sign in as a Global Administrator or Application Administrator of the partner tenant"
        }
        429 => ". Graph is throttling: wait and run setup again (it resumes where it stopped)",
        _ => "",
    }
}

/// What a step did (or, in a dry run, would do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Created.
    Create,
    /// Changed.
    Update,
    /// Already right.
    Unchanged,
}

/// One step of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// What the step is about.
    pub target: String,
    /// Create, update or unchanged.
    pub change: Change,
    /// What was found or done.
    pub detail: String,
}

/// The result of [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct SetupReport {
    /// A dry run (nothing changed).
    pub dry_run: bool,
    /// The partner tenant.
    pub tenant_id: String,
    /// Who signed in.
    pub signed_in_as: Option<String>,
    /// The app (client) ID; `None` in a dry run that would create it.
    pub app_id: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The configuration file.
    pub config_path: PathBuf,
    /// The keys of the configuration file that setup changed (or would change).
    pub config_keys: Vec<String>,
    /// The edit of the configuration file as a unified diff (empty: unchanged).
    pub config_diff: String,
    /// Where a partner admin consents (the partner-consent app's landing page).
    pub consent_page: Url,
}

impl SetupReport {
    /// Whether anything was (or would be) changed.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.change != Change::Unchanged)
    }

    /// The human-readable report.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let verb = |c: Change| match (c, self.dry_run) {
            (Change::Create, true) => "would create",
            (Change::Create, false) => "created",
            (Change::Update, true) => "would update",
            (Change::Update, false) => "updated",
            (Change::Unchanged, _) => "unchanged",
        };
        out.push_str(&format!(
            "{} for partner tenant {}{}\n\n",
            if self.dry_run {
                "Set-up plan (dry run: nothing changed)"
            } else {
                "Set-up"
            },
            self.tenant_id,
            self.signed_in_as
                .as_deref()
                .map(|u| format!(" (signed in as {u})"))
                .unwrap_or_default()
        ));
        for s in &self.steps {
            out.push_str(&format!(
                "  {:<13} {:<34} {}\n",
                verb(s.change),
                s.target,
                s.detail
            ));
        }
        out.push('\n');
        if self.dry_run && !self.config_diff.is_empty() {
            out.push_str("The configuration file would change (not written):\n\n");
            out.push_str(&self.config_diff);
            out.push('\n');
        }
        if !self.has_changes() {
            out.push_str("No changes: the partner tenant already matches the rules.\n");
        }
        if let Some(app) = &self.app_id {
            out.push_str(&format!("Application (client) ID: {app}\n"));
        }
        out.push_str(&format!("Configuration: {}\n", self.config_path.display()));
        out.push_str(&format!(
            "Consent link (a Global Admin + Admin Agent of the partner, with MFA; run partner-consent there): {}\n",
            self.consent_page
        ));
        out
    }
}

/// The steps of a run, and whether it changes anything.
pub(super) struct Plan {
    pub(super) dry_run: bool,
    pub(super) steps: Vec<Step>,
    /// The configuration file's edit (unified diff).
    pub(super) config_diff: String,
    /// The configuration keys changed.
    pub(super) config_keys: Vec<String>,
}

impl Plan {
    pub(super) fn push(&mut self, target: &str, change: Change, detail: impl Into<String>) {
        self.steps.push(Step {
            target: target.into(),
            change,
            detail: detail.into(),
        });
    }
}
