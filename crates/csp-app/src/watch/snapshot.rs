//! What the last cycle found, kept whole for the operator console ([`super::console`]): its
//! pages read this and never call an API themselves. Grant metadata only (who consented, when,
//! MFA): no token ever reaches it.

use std::sync::Arc;

use common::tokens::GrantMetadata;

use super::checks;
use super::outcome::Outcome;
use super::relationship::Relationship;
use super::state::{AccessRecord, HistoryEntry};
use super::{Finding, State};
use crate::onboard::journal::Entry;

/// The last cycle's results.
#[derive(Clone, Debug, Default)]
pub struct LastCycle {
    /// When it completed (the watch's clock); `None` before the first cycle.
    pub at: Option<i64>,
    /// When it started: what the GDAP gauges count from.
    pub started: i64,
    /// The findings the console shows: every one but the GDAP findings that are ok. A
    /// relationship carries its finding's state ([`Relationship::state`]); at 100,000
    /// relationships those findings were most of the list, held between cycles for nothing.
    pub findings: Vec<Finding>,
    /// How many findings the cycle had.
    pub findings_total: usize,
    /// The stored partners' grants.
    pub partners: Vec<GrantMetadata>,
    /// The GDAP relationships listed (empty when the GDAP check could not run), by customer
    /// (a cycle's snapshot is sorted by customer tenant ID).
    pub relationships: Vec<Arc<Relationship>>,
    /// Checks that could not (fully) run.
    pub errors: Vec<&'static str>,
    /// The recorded changes of state, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The last access check of each covered customer (empty when the check is off).
    pub access: Vec<AccessRecord>,
    /// The onboarding journal's entries of the covered customers, read at the cycle.
    pub onboarding: Vec<Entry>,
}

impl LastCycle {
    /// The snapshot of a cycle that ran from `started` to `now` (takes the cycle's lists).
    pub fn new(
        out: &mut Outcome,
        findings: &[Finding],
        (started, now): (i64, i64),
        history: Vec<HistoryEntry>,
    ) -> Self {
        let mut relationships = std::mem::take(&mut out.relationships);
        // Grouped by customer once here, not at each page view ([`Self::relationships`]); in
        // place (a stable sort would take a buffer of half the list).
        relationships
            .sort_unstable_by(|a, b| (&a.customer_id, &a.id).cmp(&(&b.customer_id, &b.id)));
        Self {
            at: Some(now),
            started,
            findings: findings
                .iter()
                .filter(|f| !(f.check == checks::GDAP && f.state == State::Ok))
                .cloned()
                .collect(),
            findings_total: findings.len(),
            partners: std::mem::take(&mut out.partners),
            relationships,
            errors: out.errors.clone(),
            history,
            access: Vec::new(),
            onboarding: Vec::new(),
        }
    }
}
