//! The rows of the console's pages, built from the last cycle's results
//! ([`LastCycle`]) only: no API call per page view. Times are the watch's clock at that cycle, so
//! "days left" is as of the cycle (the page says when it ran).
//!
//! Nothing here carries a secret: grant metadata (who consented, when, MFA), findings' messages
//! (what the webhook is sent), GDAP relationships as Graph lists them.

use std::collections::BTreeMap;

use common::graph::role_name;

use super::super::access_check::ACCESS;
use super::super::relationship::Relationship;
use super::super::snapshot::LastCycle;
use super::super::{Finding, State, checks};
use super::customer_status::{AccessCell, OnboardingCell, Status};

/// Seconds in a day.
pub const DAY: i64 = 86_400;
/// How far ahead the expiries page looks.
pub const HORIZON_DAYS: i64 = 180;
/// Customers per page.
pub const PAGE_SIZE: usize = 50;
/// Findings listed under "needs attention" at most (the worst; the rest are counted).
pub const MAX_ATTENTION: usize = 200;
/// Rows of the expiries table at most (the timeline shows them all).
pub const MAX_EXPIRY_ROWS: usize = 500;

/// `YYYY-MM-DD` (UTC) of a Unix time.
pub fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// `YYYY-MM-DD HH:MM UTC`: as the findings' messages write times.
pub use crate::watch::access_check::when as date_time;

/// Whole days in `seconds` (rounded down; negative when past).
pub fn days(seconds: i64) -> i64 {
    seconds.div_euclid(DAY)
}

/// How bad a state is, worst first (critical, unknown, warning, then the fine ones).
pub fn severity(state: State) -> u8 {
    match state {
        State::Critical => 0,
        State::Unknown => 1,
        State::Warning => 2,
        State::Skipped => 3,
        State::Ok => 4,
    }
}

/// One partner on the overview.
#[derive(Debug)]
pub struct PartnerRow {
    /// Partner tenant ID.
    pub tenant: String,
    /// Who consented (UPN), or "unknown".
    pub consented_by: String,
    /// When.
    pub consented_at: String,
    /// Whether the consent used MFA.
    pub mfa: bool,
    /// The last rotation of the refresh token.
    pub rotated_at: String,
    /// Days before the 90-day inactivity expiry, as of the cycle.
    pub days_left: Option<i64>,
    /// The refresh-token finding's state.
    pub token_state: State,
    /// The last keepalive: its state and what it said.
    pub keepalive: Option<(State, String)>,
}

/// One finding that needs attention.
#[derive(Debug)]
pub struct FindingRow<'a> {
    /// The finding.
    pub finding: &'a Finding,
    /// The customer it is about, for a link to the customers page.
    pub customer: Option<String>,
}

/// One credential of the app (certificate or secret).
#[derive(Debug)]
pub struct CredentialRow<'a> {
    /// The finding.
    pub finding: &'a Finding,
    /// Days left.
    pub days_left: Option<i64>,
}

/// The overview page's content.
#[derive(Debug)]
pub struct Overview<'a> {
    /// Partners, by tenant ID.
    pub partners: Vec<PartnerRow>,
    /// Shown partners at most (the rest are counted).
    pub partners_total: usize,
    /// The app's (and the Key Vault app's) credentials.
    pub credentials: Vec<CredentialRow<'a>>,
    /// Findings not ok, worst first, [`MAX_ATTENTION`] at most.
    pub attention: Vec<FindingRow<'a>>,
    /// How many findings are not ok.
    pub attention_total: usize,
    /// Findings in total.
    pub findings_total: usize,
}

/// The overview: `max_partners` partners at most.
pub fn overview(last: &LastCycle, max_partners: usize) -> Overview<'_> {
    let now = last.at.unwrap_or_default();
    let by_subject = |check: &str| -> BTreeMap<&str, &Finding> {
        last.findings
            .iter()
            .filter(|f| f.check == check)
            .map(|f| (&*f.subject, f))
            .collect()
    };
    let tokens = by_subject(checks::REFRESH_TOKEN);
    let keepalive = by_subject(checks::KEEPALIVE);
    let partners = last
        .partners
        .iter()
        .take(max_partners)
        .map(|m| {
            let token = tokens.get(m.tenant_id.as_str());
            let left = token
                .and_then(|f| f.seconds_left)
                .unwrap_or(m.rotated_at + common::rules::REFRESH_TOKEN_INACTIVITY_SECS - now);
            PartnerRow {
                tenant: m.tenant_id.clone(),
                consented_by: m.user.clone().unwrap_or_else(|| "unknown".into()),
                consented_at: date(m.consented_at),
                mfa: m.mfa,
                rotated_at: date_time(m.rotated_at),
                days_left: Some(days(left)),
                token_state: token.map_or(State::Unknown, |f| f.state),
                keepalive: keepalive
                    .get(m.tenant_id.as_str())
                    .map(|f| (f.state, f.message.clone())),
            }
        })
        .collect();
    let credentials = last
        .findings
        .iter()
        .filter(|f| f.check == checks::CREDENTIALS && f.seconds_left.is_some())
        .map(|f| CredentialRow {
            finding: f,
            days_left: f.seconds_left.map(days),
        })
        .collect();
    let mut attention: Vec<FindingRow<'_>> = last
        .findings
        .iter()
        .filter(|f| f.state.needs_attention())
        .map(|f| FindingRow {
            finding: f,
            customer: (f.check == ACCESS && &*f.subject != "memberships")
                .then(|| f.subject.to_string()),
        })
        .collect();
    attention.sort_by_key(|r| {
        (
            severity(r.finding.state),
            r.finding.seconds_left.unwrap_or(i64::MAX),
        )
    });
    let attention_total = attention.len();
    attention.truncate(MAX_ATTENTION);
    // The customers of the GDAP findings shown only: one pass, no index of every relationship.
    let shown: BTreeMap<&str, usize> = attention
        .iter()
        .enumerate()
        .filter(|(_, row)| row.finding.check == checks::GDAP)
        .map(|(i, row)| (&*row.finding.subject, i))
        .collect();
    if !shown.is_empty() {
        for r in last
            .relationships
            .iter()
            .filter(|r| !r.customer_id.is_empty())
        {
            if let Some(&i) = shown.get(&*r.id)
                && let Some(row) = attention.get_mut(i)
            {
                row.customer = Some(r.customer_id.to_string());
            }
        }
    }
    Overview {
        partners,
        partners_total: last.partners.len(),
        credentials,
        attention,
        attention_total,
        findings_total: last.findings_total,
    }
}

/// One GDAP relationship of a customer.
#[derive(Debug)]
pub struct RelationshipRow {
    /// Its display name.
    pub name: String,
    /// Its roles, by name.
    pub roles: Vec<String>,
    /// `active`, `expired`, …
    pub status: String,
    /// When it ends.
    pub ends: String,
    /// Days left, as of the cycle.
    pub days_left: Option<i64>,
    /// Auto-extension, e.g. `180 days`, or `off`.
    pub auto_extend: String,
    /// The watch's finding about it.
    pub state: Option<State>,
}

/// One customer.
#[derive(Debug)]
pub struct CustomerRow {
    /// Tenant ID.
    pub tenant: String,
    /// Display name (as Graph lists it in the relationship).
    pub name: String,
    /// Its relationships.
    pub relationships: Vec<RelationshipRow>,
    /// The worst state of its findings.
    pub worst: State,
    /// The app's consent in the tenant, from the last access check.
    pub consent: &'static str,
    /// The last access check.
    pub access: Option<AccessCell>,
    /// The onboarding step, when the journal has the customer.
    pub onboarding: Option<OnboardingCell>,
}

/// What the customers page is asked (`?q=&status=&access=&attention=1&page=`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct CustomerQuery {
    /// Text in the name or the tenant ID (case-insensitive).
    pub q: String,
    /// Only customers with a relationship of this status.
    pub status: String,
    /// Only customers whose last access check found this cause (`works`, …).
    pub access: String,
    /// Only customers with a finding that needs attention (`1`).
    pub attention: String,
    /// Page number, from 1.
    pub page: usize,
}

/// A page of customers.
#[derive(Debug)]
pub struct Customers {
    /// The customers of this page.
    pub rows: Vec<CustomerRow>,
    /// How many match.
    pub matching: usize,
    /// This page (from 1).
    pub page: usize,
    /// Pages.
    pub pages: usize,
}

fn relationship_row(r: &Relationship, now: i64, state: Option<State>) -> RelationshipRow {
    let (end, auto) = (r.end, r.auto_extend_days);
    RelationshipRow {
        name: r.display_name.to_string(),
        roles: r.roles.iter().map(|id| role_name(id)).collect(),
        status: r.status.to_string(),
        ends: end.map(date).unwrap_or_else(|| "—".into()),
        days_left: end.map(|e| days(e - now)),
        auto_extend: auto.map_or_else(|| "off".into(), |d| format!("{d:.0} days")),
        state,
    }
}

/// The customers matching `query`, one page of [`PAGE_SIZE`].
pub fn customers(last: &LastCycle, query: &CustomerQuery) -> Customers {
    let now = last.at.unwrap_or_default();
    // A cycle's snapshot is sorted by customer already, which a stable sort only checks.
    let mut sorted: Vec<&Relationship> = last.relationships.iter().map(|r| &**r).collect();
    sorted.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    let mut by_customer: Vec<(&str, &[&Relationship])> = sorted
        .chunk_by(|a, b| a.customer_id == b.customer_id)
        .filter_map(|group| Some((&*group.first()?.customer_id, group)))
        .collect();
    let status_of = Status::new(last);
    let mut extra: Vec<(&str, &[&Relationship])> = status_of
        .tenants()
        .filter(|t| by_customer.binary_search_by(|(c, _)| (*c).cmp(t)).is_err())
        .map(|t| (t, &[][..]))
        .collect();
    if !extra.is_empty() {
        by_customer.append(&mut extra);
        by_customer.sort_by(|a, b| a.0.cmp(b.0));
        by_customer.dedup_by(|a, b| a.0 == b.0);
    }
    let cause = query.access.trim();
    let needle = query.q.trim().to_lowercase();
    let status = query.status.trim();
    let attention = query.attention == "1";
    let matching: Vec<(&str, &[&Relationship])> = by_customer
        .iter()
        .filter(|(tenant, rels)| {
            let name = rels
                .iter()
                .find_map(|r| r.customer_name.as_deref())
                .unwrap_or("");
            (needle.is_empty()
                || tenant.to_lowercase().contains(&needle)
                || name.to_lowercase().contains(&needle))
                && (status.is_empty() || rels.iter().any(|r| &*r.status == status))
                && (cause.is_empty()
                    || status_of.cause(tenant).is_some_and(|c| c.as_str() == cause))
                && (!attention
                    || rels
                        .iter()
                        .any(|r| r.state.is_some_and(State::needs_attention))
                    || status_of
                        .access(tenant)
                        .is_some_and(|a| a.state.needs_attention()))
        })
        .copied()
        .collect();
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let page = query.page.clamp(1, pages);
    let rows = matching
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|(tenant, rels)| {
            let relationships: Vec<RelationshipRow> = rels
                .iter()
                .map(|r| relationship_row(r, now, r.state))
                .collect();
            let access = status_of.access(tenant);
            let worst = relationships
                .iter()
                .filter_map(|r| r.state)
                .chain(access.as_ref().map(|a| a.state))
                .min_by_key(|s| severity(*s))
                .unwrap_or(State::Ok);
            CustomerRow {
                tenant: (*tenant).to_owned(),
                name: rels
                    .iter()
                    .find_map(|r| r.customer_name.as_deref())
                    .unwrap_or(tenant)
                    .to_owned(),
                relationships,
                worst,
                consent: status_of.consent(tenant),
                access,
                onboarding: status_of.onboarding(tenant),
            }
        })
        .collect();
    Customers {
        rows,
        matching: matching.len(),
        page,
        pages,
    }
}

/// What expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A partner's refresh token (90 days of inactivity).
    RefreshToken,
    /// An app certificate or secret.
    Credential,
    /// A GDAP relationship.
    Gdap,
}

impl Kind {
    /// Every kind, in the timeline's lane order.
    pub const ALL: [Kind; 3] = [Kind::RefreshToken, Kind::Credential, Kind::Gdap];

    /// The lane's label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::RefreshToken => "Refresh tokens",
            Kind::Credential => "Certificates and secrets",
            Kind::Gdap => "GDAP relationships",
        }
    }
}

/// One thing that expires within the horizon.
#[derive(Debug)]
pub struct Expiry {
    /// What kind.
    pub kind: Kind,
    /// What (partner, credential, relationship and customer).
    pub what: String,
    /// When.
    pub at: i64,
    /// Days left, as of the cycle.
    pub days_left: i64,
    /// Whether it extends itself (GDAP auto-extension).
    pub auto_extends: bool,
}

/// Everything that expires within [`HORIZON_DAYS`] of the cycle, soonest first.
pub fn expiries(last: &LastCycle) -> Vec<Expiry> {
    let now = last.at.unwrap_or_default();
    let horizon = HORIZON_DAYS * DAY;
    let mut out = Vec::new();
    for f in last.findings.iter() {
        let kind = match f.check {
            checks::REFRESH_TOKEN => Kind::RefreshToken,
            checks::CREDENTIALS => Kind::Credential,
            _ => continue,
        };
        if let Some(left) = f.seconds_left.filter(|l| *l <= horizon) {
            out.push(Expiry {
                kind,
                what: f.subject.to_string(),
                at: now + left,
                days_left: days(left),
                auto_extends: false,
            });
        }
    }
    for r in last.relationships.iter().filter(|r| &*r.status == "active") {
        let Some(end) = r.end else {
            continue;
        };
        if end - now > horizon {
            continue;
        }
        let who = r.customer_name.as_deref().unwrap_or_default();
        out.push(Expiry {
            kind: Kind::Gdap,
            what: format!("{} ({who})", r.display_name),
            at: end,
            days_left: days(end - now),
            auto_extends: r.auto_extend_days.is_some(),
        });
    }
    out.sort_by_key(|e| e.at);
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::watch::relationship::Interner;

    const NOW: i64 = 1_796_428_800;

    fn finding(check: &'static str, subject: &str, state: State, left: Option<i64>) -> Finding {
        Finding {
            check,
            subject: subject.into(),
            state,
            message: format!("{subject} is {}", state.as_str()),
            seconds_left: left,
        }
    }

    fn relationship(id: &str, customer: &str, name: &str, days: i64) -> Relationship {
        Interner::default().keep(serde_json::from_value(serde_json::json!({
            "id": id,
            "displayName": format!("rel {id}"),
            "status": "active",
            "customer": {"tenantId": customer, "displayName": name},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "f2ef992c-3afb-46b9-b7cf-a126ee74c451"}]},
            "autoExtendDuration": "PT0S",
            "endDateTime": time::OffsetDateTime::from_unix_timestamp(NOW + days * DAY).unwrap()
                .format(&time::format_description::well_known::Rfc3339).unwrap(),
        }))
        .unwrap())
    }

    fn last() -> LastCycle {
        LastCycle {
            at: Some(NOW),
            findings: vec![
                finding(checks::GDAP, "r1", State::Warning, Some(20 * DAY)),
                finding(checks::GDAP, "r2", State::Critical, Some(3 * DAY)),
                finding(checks::KEEPALIVE, "p", State::Unknown, None),
                finding(checks::REFRESH_TOKEN, "p", State::Ok, Some(80 * DAY)),
            ],
            findings_total: 4,
            relationships: vec![
                Relationship {
                    state: Some(State::Warning),
                    ..relationship("r1", "c1", "Fabrikam", 20)
                },
                Relationship {
                    state: Some(State::Critical),
                    ..relationship("r2", "c2", "Northwind", 3)
                },
                relationship("r3", "c3", "Tailspin", 400),
            ]
            .into_iter()
            .map(Arc::new)
            .collect(),
            ..LastCycle::default()
        }
    }

    #[test]
    fn findings_not_ok_come_worst_first_and_gdap_ones_name_their_customer() {
        let last = last();
        let view = overview(&last, 10);
        let order: Vec<(&str, Option<&str>)> = view
            .attention
            .iter()
            .map(|r| (&*r.finding.subject, r.customer.as_deref()))
            .collect();
        assert_eq!(order, [("r2", Some("c2")), ("p", None), ("r1", Some("c1"))]);
    }

    #[test]
    fn customers_are_searched_filtered_and_paged() {
        let last = last();
        let all = customers(&last, &CustomerQuery::default());
        assert_eq!(all.matching, 3);
        assert_eq!(all.rows[1].worst, State::Critical);
        assert_eq!(all.rows[0].relationships[0].roles, ["Global Reader"]);
        let query = |q: &str, attention: &str| CustomerQuery {
            q: q.into(),
            attention: attention.into(),
            ..CustomerQuery::default()
        };
        assert_eq!(customers(&last, &query("NORTH", "")).rows[0].tenant, "c2");
        assert_eq!(customers(&last, &query("", "1")).matching, 2);
        assert_eq!(customers(&last, &query("nobody", "")).pages, 1);
    }

    #[test]
    fn expiries_within_180_days_soonest_first() {
        let last = last();
        let items = expiries(&last);
        let what: Vec<(Kind, i64)> = items.iter().map(|e| (e.kind, e.days_left)).collect();
        assert_eq!(
            what,
            [(Kind::Gdap, 3), (Kind::Gdap, 20), (Kind::RefreshToken, 80)]
        );
    }
}
