//! The validation report: every problem, each with its key, origin and fix.

use std::fmt;

/// One configuration problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The dotted key, e.g. `app.client_id`.
    pub key: String,
    /// Where the value came from: a file path, an environment variable, a flag, or "built-in default".
    pub origin: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

/// Every problem found in a configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigReport {
    /// The problems, in key order.
    pub problems: Vec<ConfigProblem>,
}

impl ConfigReport {
    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Keys with problems.
    pub fn keys(&self) -> Vec<&str> {
        self.problems.iter().map(|p| p.key.as_str()).collect()
    }
}

impl fmt::Display for ConfigReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "configuration error: {n} problem{} found",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, p) in self.problems.iter().enumerate() {
            writeln!(f)?;
            writeln!(f, "  {}. {} (from {})", i + 1, p.key, p.origin)?;
            writeln!(f, "     problem: {}", p.problem)?;
            writeln!(f, "     fix:     {}", p.fix)?;
        }
        write!(
            f,
            "\nEvery key is documented in config/default.toml. Environment variables override files: \
             SAM_<SECTION>__<KEY>, e.g. SAM_APP__CLIENT_ID."
        )
    }
}

impl std::error::Error for ConfigReport {}
