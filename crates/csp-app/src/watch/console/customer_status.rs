//! What the customers page shows beside the GDAP relationships: the app's consent in the
//! customer tenant and the last access check (from the watch's access check,
//! [`crate::watch::access_check`]), and the onboarding step when the onboarding journal has the
//! customer (read at the cycle). Messages are Graph's, Entra's and the journal's: no secret.

use std::collections::BTreeMap;

use crate::access::Cause;
use crate::onboard::journal::{Entry, Step};
use crate::watch::State;
use crate::watch::access_check::{state_of, when};
use crate::watch::snapshot::LastCycle;
use crate::watch::state::AccessRecord;

/// A customer's last access check.
#[derive(Debug)]
pub struct AccessCell {
    /// The cause (`works`, `appNotConsented`, …).
    pub cause: &'static str,
    /// Its state (as the finding's).
    pub state: State,
    /// When it ran.
    pub when: String,
    /// What was found.
    pub detail: String,
    /// What to do.
    pub remedy: Option<String>,
}

/// A customer's onboarding step.
#[derive(Debug)]
pub struct OnboardingCell {
    /// The step (`approval`, `done`, …).
    pub step: String,
    /// How long it has been at it, as of the cycle.
    pub age: String,
    /// What it waits for.
    pub awaiting: String,
    /// The template applied.
    pub template: String,
}

/// The last cycle's access checks and onboarding entries, by customer tenant (lower case).
#[derive(Debug)]
pub struct Status<'a> {
    access: BTreeMap<String, &'a AccessRecord>,
    onboarding: BTreeMap<String, &'a Entry>,
    now: i64,
}

impl<'a> Status<'a> {
    /// Indexes `last`.
    pub fn new(last: &'a LastCycle) -> Self {
        Self {
            access: last
                .access
                .iter()
                .map(|r| (r.tenant_id.to_ascii_lowercase(), r))
                .collect(),
            onboarding: last
                .onboarding
                .iter()
                .map(|e| (e.tenant_id.to_ascii_lowercase(), e))
                .collect(),
            now: last.at.unwrap_or_default(),
        }
    }

    /// Customers with an access check or an onboarding entry.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.access
            .keys()
            .chain(self.onboarding.keys())
            .map(String::as_str)
    }

    /// The cause of the customer's last access check.
    pub fn cause(&self, tenant: &str) -> Option<Cause> {
        self.access
            .get(&tenant.to_ascii_lowercase())
            .map(|r| r.cause)
    }

    /// The customer's last access check.
    pub fn access(&self, tenant: &str) -> Option<AccessCell> {
        let r = self.access.get(&tenant.to_ascii_lowercase())?;
        Some(AccessCell {
            cause: r.cause.as_str(),
            state: state_of(r.cause),
            when: when(r.at),
            detail: r.detail.clone(),
            remedy: r.remedy.clone(),
        })
    }

    /// The app's consent in the customer tenant: `consented`, `not consented`, `not determined`
    /// (the check stopped before the token), or `not checked yet`.
    pub fn consent(&self, tenant: &str) -> &'static str {
        self.access
            .get(&tenant.to_ascii_lowercase())
            .map_or("not checked yet", |r| r.consent.label())
    }

    /// The customer's onboarding step.
    pub fn onboarding(&self, tenant: &str) -> Option<OnboardingCell> {
        let e = self.onboarding.get(&tenant.to_ascii_lowercase())?;
        let age = age(self.now - e.since);
        let awaiting = match e.step {
            Step::Approval => match &e.approval_link {
                Some(link) => format!("the customer's approval; link: {link}"),
                None => "the customer's approval".to_owned(),
            },
            Step::Failed => {
                let mut text = format!(
                    "a fix ({} failed: {})",
                    e.failed_at.map_or("a step", Step::awaited),
                    e.error.as_deref().unwrap_or("")
                );
                if let Some(remedy) = &e.remedy {
                    text.push_str(&format!("; remedy: {remedy}"));
                }
                text
            }
            step => step.awaited().to_owned(),
        };
        Some(OnboardingCell {
            step: serde_json::to_value(e.step)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            age,
            awaiting,
            template: e.template.clone(),
        })
    }
}

/// `3 days`, `5 hours`, `40 seconds`.
fn age(seconds: i64) -> String {
    let secs = seconds.max(0);
    let (n, unit) = match secs {
        s if s >= 86_400 => (s / 86_400, "day"),
        s if s >= 3_600 => (s / 3_600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
