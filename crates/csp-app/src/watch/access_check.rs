//! The customers the watch covers, and the access check in the watch.
//!
//! **Selection.** The watch takes the fan-outs' customer selection ([`cli_kit::Selection`]);
//! without one it covers every customer minus the configured `[customers] exclude`. The GDAP
//! check still lists every relationship (one listing), then [`CustomerWatch::restrict`] drops
//! the relationships, findings and gauges of customers the selection leaves out, so nothing is
//! reported (or shown by the console) about them. The watch matches customers by tenant ID: a
//! domain in the selection reaches the access check (whose token authority accepts it) but
//! matches no relationship.
//!
//! **Access check.** [`CustomerWatch::access`] runs [`crate::access::check`] (the same check as
//! `csp-app access check`, without its printing) on its own schedule: each customer at most once
//! per `--access-check-every` (default 24 h; `off` disables it), because it costs a delegated
//! token at the customer's authority (one refresh-token redemption) and a Graph read per role.
//! A customer is checked again before its time when its relationships changed (one activated,
//! expired, was terminated: their `id=status` list differs) and at the next cycle after a
//! `throttled` or `error` result. Results (cause, remedy, when) are kept in the watch state file
//! ([`super::state::AccessRecord`]), so a restart does not redo them; at most `concurrency`
//! customers are checked at once. Which customers: those listed by `--customer` /
//! `--tenants-file`, else every (selected) customer with a GDAP relationship as the cycle's GDAP
//! check listed it (a customer with none has no delegated access to check); when that listing
//! failed the stored results are reported and nothing is re-checked.
//!
//! Each result is a finding (check `access`, subject the customer tenant), notified on change
//! like every other: `works` ok; `noRelationship`, `relationshipNotActive` and
//! `assignmentPending` warning (onboarding not finished, or waiting on Microsoft or the
//! customer); `userNotInGroup`, `appNotConsented` and `conditionalAccess` critical (access is
//! broken until someone acts); `throttled` and `error` unknown (the check could not tell; retried
//! at the next cycle, which comes sooner). And a gauge `sam_customer_access{customer,cause}` = 1
//! (tenant IDs and fixed words only).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use cli_kit::{Selection, SelectionArgs};
use common::config::Settings;
use common::graph::{DelegatedAdminRelationship, GraphClient};
use futures::{StreamExt as _, TryStreamExt as _};

use super::checks;
use super::metrics::Sample;
use super::outcome::Outcome;
use super::state::{AccessRecord, Consent, WatchState};
use super::{Finding, State};
use crate::access::{Cause, Known};
use crate::onboard::journal::{Entry, Journal};

/// The access check's name (`check` of its findings and of `sam_check_errors_total`).
pub const ACCESS: &str = "access";

/// Customers checked at once by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The default interval of the access check on the command line (24 h).
pub const DEFAULT_EVERY: i64 = 86_400;

/// Why the access check is skipped when Graph refuses to list the account's groups.
/// (`GET /me/memberOf` needs `User.Read` at least: docs/microsoft-behaviour.md §6.3.)
/// Why a customer the app was never consented in is `skipped` unless access is expected there.
const NOT_CONSENTED_SKIPPED: &str = "; skipped: the app has not been consented in this customer, and nothing says it should be (the customer is not named with --customer / --tenants-file nor onboarded with `csp-app onboard`); to use delegated access there, consent the app with `csp-app consent grant --customer ID`";

const MEMBERSHIPS_SKIPPED: &str = "skipped: listing the groups of the account of the grant (GET /me/memberOf) needs User.Read (delegated, Microsoft Graph), which the partner's consent does not hold; to check access, add User.Read to the app and have the partner's admin agent consent again";

/// Which customers the watch covers and how it checks their access.
#[derive(Clone, Debug)]
pub struct CustomerWatch {
    /// The customers covered.
    pub selection: Selection,
    /// Seconds between two access checks of a customer; `None`: no access check.
    pub access_every: Option<i64>,
    /// Customers checked at once.
    pub concurrency: usize,
    /// The onboarding journal the console shows steps from (read only; a missing file is
    /// fine).
    pub journal: PathBuf,
}

impl CustomerWatch {
    /// Every customer minus the configured exclusions, no access check (the command line turns
    /// it on by default), the onboarding journal at `onboard`'s default path.
    pub fn from_settings(settings: &Settings) -> Self {
        let all = SelectionArgs {
            all_customers: true,
            ..SelectionArgs::default()
        };
        let selection = all
            .resolve(&settings.customers)
            .unwrap_or_else(|_| Selection {
                scope: cli_kit::selection::Scope::All,
                exclude: settings.customers.exclude.iter().cloned().collect(),
                configured_exclusions: settings.customers.exclude.len(),
            });
        Self {
            selection,
            access_every: None,
            concurrency: DEFAULT_CONCURRENCY,
            journal: crate::onboard::journal_path(settings, None),
        }
    }

    fn admits_customer(&self, customer: &str) -> bool {
        self.selection.admits(customer, None)
    }

    /// Drops what the cycle found about customers the selection leaves out: their GDAP
    /// relationships, the findings about those and the gauges labelled with either.
    pub fn restrict(&self, out: &mut Outcome) {
        let dropped: HashSet<Arc<str>> = out
            .relationships
            .iter()
            .filter(|r| !self.admits_customer(&r.customer_id))
            .map(|r| r.id.clone())
            .collect();
        if dropped.is_empty() {
            return;
        }
        out.relationships.retain(|r| !dropped.contains(&r.id));
        out.own.retain(|r| !dropped.contains(r.id.as_str()));
        out.findings
            .retain(|f| !(f.check == checks::GDAP && dropped.contains(&*f.subject)));
        out.gauges.retain(|s| {
            !s.labels.iter().any(|(name, value)| {
                (*name == "relationship" && dropped.contains(value.as_str()))
                    || (*name == "customer" && !self.selection.admits(value, None))
            })
        });
    }

    /// The customers whose access the watch checks (lower case).
    fn targets(
        &self,
        by_customer: &HashMap<String, Vec<DelegatedAdminRelationship>>,
    ) -> Vec<String> {
        match self.selection.listed() {
            Some(list) => list,
            None => by_customer
                .keys()
                .filter(|t| !t.is_empty() && self.selection.admits(t, None))
                .cloned()
                .collect::<BTreeSet<String>>()
                .into_iter()
                .collect(),
        }
    }

    /// The access check of the customers due (see the module), its findings and gauges; the
    /// results of every covered customer, for the console.
    pub async fn access(
        &self,
        graph: &GraphClient,
        state: &mut WatchState,
        out: &mut Outcome,
        now: i64,
        onboarding: &[Entry],
    ) -> Vec<AccessRecord> {
        let Some(every) = self.access_every else {
            return Vec::new();
        };
        let listed = !out.errors.contains(&checks::GDAP);
        let mut by_customer: HashMap<String, Vec<DelegatedAdminRelationship>> = HashMap::new();
        for r in &out.own {
            if let Some(c) = &r.customer {
                by_customer
                    .entry(c.tenant_id.to_ascii_lowercase())
                    .or_default()
                    .push(r.clone());
            }
        }
        let targets: Vec<String> = if listed {
            self.targets(&by_customer)
        } else {
            state
                .access
                .keys()
                .filter(|t| self.selection.admits(t, None))
                .cloned()
                .collect()
        };
        if listed {
            let due: Vec<String> = targets
                .iter()
                .filter(|t| {
                    let relationships = fingerprint(by_customer.get(*t));
                    is_due(state.access.get(*t), &relationships, now, every)
                })
                .cloned()
                .collect();
            if !due.is_empty() {
                self.check(graph, by_customer, &due, state, out, now).await;
            }
            let kept: HashSet<&String> = targets.iter().collect();
            state.access.retain(|t, _| kept.contains(t));
        }
        let records: Vec<AccessRecord> = targets
            .iter()
            .filter_map(|t| state.access.get(t).cloned())
            .collect();
        // Where access is expected: customers named by the selection or onboarded with
        // `onboard`. Elsewhere an app never seen consented is not a fault (a CSP consents its
        // app only in the customers it automates; a fresh `setup` has consented it nowhere).
        let named: HashSet<String> = self
            .selection
            .listed()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let expected = |tenant: &str| {
            named.contains(tenant)
                || onboarding
                    .iter()
                    .any(|e| e.tenant_id.eq_ignore_ascii_case(tenant))
        };
        for record in &records {
            report(record, out, expected(&record.tenant_id));
        }
        records
    }

    /// Checks `due` (at most [`Self::concurrency`] at once) and stores the results.
    async fn check(
        &self,
        graph: &GraphClient,
        by_customer: HashMap<String, Vec<DelegatedAdminRelationship>>,
        due: &[String],
        state: &mut WatchState,
        out: &mut Outcome,
        now: i64,
    ) {
        let groups: Result<HashSet<String>, _> = graph
            .list_my_member_of()
            .map_ok(|o| o.id.to_ascii_lowercase())
            .try_collect()
            .await;
        let my_groups = match groups {
            Ok(g) => g,
            Err(e) if e.status() == Some(403) => {
                push(
                    out,
                    "memberships",
                    State::Skipped,
                    MEMBERSHIPS_SKIPPED.into(),
                );
                return;
            }
            Err(e) => {
                push(
                    out,
                    "memberships",
                    State::Unknown,
                    format!("cannot list the groups of the account of the grant: {e}"),
                );
                failed(out);
                return;
            }
        };
        let known = Known {
            relationships: by_customer,
            my_groups,
        };
        let outcomes: Vec<crate::access::Outcome> = futures::stream::iter(due.iter())
            .map(|t| crate::access::check(graph, &known, None, t))
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        for o in outcomes {
            let consented_before = state
                .access
                .get(&o.tenant_id)
                .is_some_and(|r| r.consented_before || r.consent == Consent::Consented);
            let record = AccessRecord {
                consented_before,
                consent: consent_of(&o),
                relationships: fingerprint(known.relationships.get(&o.tenant_id)),
                tenant_id: o.tenant_id,
                cause: o.cause,
                detail: o.detail,
                remedy: o.remedy,
                at: now,
            };
            state.access.insert(record.tenant_id.clone(), record);
        }
    }

    /// The onboarding journal's entries of the covered customers (none when there is no
    /// journal; a damaged one is logged and shows nothing).
    pub fn onboarding(&self) -> Vec<Entry> {
        match Journal::read(&self.journal) {
            Ok(journal) => journal
                .entries()
                .filter(|e| self.selection.admits(&e.tenant_id, None))
                .cloned()
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e.message, "the console shows no onboarding step");
                Vec::new()
            }
        }
    }
}

/// The finding's state for a cause (see the module).
pub fn state_of(cause: Cause) -> State {
    match cause {
        Cause::Works => State::Ok,
        Cause::NoRelationship | Cause::RelationshipNotActive | Cause::AssignmentPending => {
            State::Warning
        }
        Cause::UserNotInGroup | Cause::AppNotConsented | Cause::ConditionalAccess => {
            State::Critical
        }
        Cause::Throttled | Cause::Error => State::Unknown,
    }
}

/// Whether a result may pass by itself (checked again at the next cycle).
fn transient(cause: Cause) -> bool {
    matches!(cause, Cause::Throttled | Cause::Error)
}

/// Whether a customer is due: never checked, checked `every` ago or more, relationships
/// changed since, or the last result could not tell.
fn is_due(last: Option<&AccessRecord>, relationships: &str, now: i64, every: i64) -> bool {
    last.is_none_or(|r| {
        now - r.at >= every || r.relationships != relationships || transient(r.cause)
    })
}

/// The customer's relationships as `id=status`, sorted.
fn fingerprint(relationships: Option<&Vec<DelegatedAdminRelationship>>) -> String {
    let mut list: Vec<String> = relationships
        .into_iter()
        .flatten()
        .map(|r| format!("{}={}", r.id, r.status))
        .collect();
    list.sort();
    list.join(",")
}

/// The app's consent as far as the check got: a token at the customer's authority (a read that
/// worked, or access that works) proves it; AADSTS65001 `consent_required` disproves it
/// (docs/microsoft-behaviour.md §9).
fn consent_of(o: &crate::access::Outcome) -> Consent {
    match o.cause {
        Cause::Works => Consent::Consented,
        Cause::AppNotConsented => Consent::NotConsented,
        _ if o.reads.iter().any(|r| r.ok) => Consent::Consented,
        _ => Consent::NotDetermined,
    }
}

/// `YYYY-MM-DD HH:MM UTC`.
pub fn when(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

fn push(out: &mut Outcome, subject: &str, state: State, message: String) {
    out.findings.push(Finding {
        check: ACCESS,
        subject: subject.into(),
        state,
        message,
        seconds_left: None,
    });
}

fn failed(out: &mut Outcome) {
    if !out.errors.contains(&ACCESS) {
        out.errors.push(ACCESS);
    }
    out.transient = true;
}

/// A stored result as a finding and a gauge.
fn report(record: &AccessRecord, out: &mut Outcome, expected: bool) {
    let never_consented = record.cause == Cause::AppNotConsented && !record.consented_before;
    let state = if never_consented && !expected {
        State::Skipped
    } else {
        state_of(record.cause)
    };
    let mut message = format!(
        "access check ({}, {}): {}",
        record.cause.as_str(),
        when(record.at),
        record.detail
    );
    if state == State::Skipped {
        message.push_str(NOT_CONSENTED_SKIPPED);
    } else if let Some(remedy) = &record.remedy {
        message.push_str(&format!("; remedy: {remedy}"));
    }
    push(out, &record.tenant_id, state, message);
    if transient(record.cause) {
        failed(out);
    }
    out.gauges.push(Sample::new(
        "sam_customer_access",
        &[
            ("customer", record.tenant_id.as_str()),
            ("cause", record.cause.as_str()),
        ],
        1,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cause: Cause, at: i64) -> AccessRecord {
        AccessRecord {
            tenant_id: "c".into(),
            cause,
            consent: Consent::NotDetermined,
            detail: String::new(),
            remedy: None,
            at,
            relationships: "r1=active".into(),
            consented_before: false,
        }
    }

    #[test]
    fn a_customer_is_due_when_never_checked_late_changed_or_undetermined() {
        let day = 86_400;
        assert!(is_due(None, "", 0, day));
        let works = record(Cause::Works, 1_000);
        assert!(!is_due(Some(&works), "r1=active", 1_000 + day - 1, day));
        assert!(is_due(Some(&works), "r1=active", 1_000 + day, day));
        assert!(is_due(Some(&works), "r1=terminated", 1_001, day));
        assert!(is_due(
            Some(&record(Cause::Throttled, 1_000)),
            "r1=active",
            1_001,
            day
        ));
    }

    #[test]
    fn an_app_never_consented_is_skipped_where_access_is_not_expected_a_removed_one_is_critical() {
        let state = |record: &AccessRecord, expected: bool| {
            let mut out = Outcome::default();
            report(record, &mut out, expected);
            (out.findings[0].state, out.findings[0].message.clone())
        };
        let never = record(Cause::AppNotConsented, 1_000);
        let (skipped, message) = state(&never, false);
        assert_eq!(skipped, State::Skipped);
        assert!(
            message.contains("csp-app consent grant --customer"),
            "{message}"
        );
        assert_eq!(state(&never, true).0, State::Critical);
        let removed = AccessRecord {
            consented_before: true,
            ..never
        };
        assert_eq!(state(&removed, false).0, State::Critical);
        assert_eq!(
            state(&record(Cause::UserNotInGroup, 1), false).0,
            State::Critical
        );
    }

    #[test]
    fn causes_grade_as_documented() {
        assert_eq!(state_of(Cause::Works), State::Ok);
        assert_eq!(state_of(Cause::AssignmentPending), State::Warning);
        assert_eq!(state_of(Cause::AppNotConsented), State::Critical);
        assert_eq!(state_of(Cause::Throttled), State::Unknown);
        for cause in Cause::ALL {
            assert_eq!(Cause::parse(cause.as_str()), Some(cause));
        }
    }
}
