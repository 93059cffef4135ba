//! The customers page's HTML: consent, access check and onboarding step, escaped.

use askama::Template as _;

use super::pages::{Chrome, CustomersPage};
use super::view::{CustomerQuery, customers};
use crate::access::Cause;
use crate::onboard::journal::Entry;
use crate::watch::State;
use crate::watch::snapshot::LastCycle;
use crate::watch::state::AccessRecord;
use crate::watch::state::Consent;

const NOW: i64 = 1_796_428_800;

fn record(tenant: &str, cause: Cause, consent: Consent, detail: &str) -> AccessRecord {
    AccessRecord {
        tenant_id: tenant.into(),
        cause,
        consent,
        detail: detail.into(),
        remedy: (cause != Cause::Works).then(|| "do <b>this</b>".to_owned()),
        at: NOW - 3_600,
        relationships: String::new(),
        consented_before: false,
    }
}

fn last() -> LastCycle {
    let entry: Entry = serde_json::from_value(serde_json::json!({
        "tenantId": "c3",
        "template": "helpdesk",
        "step": "approval",
        "displayName": "helpdesk-c3",
        "approvalLink": "https://admin.microsoft.com/x?<script>",
        "since": NOW - 3 * 86_400,
    }))
    .unwrap();
    LastCycle {
        at: Some(NOW),
        access: vec![
            record("c1", Cause::Works, Consent::Consented, "1 read(s) worked"),
            record(
                "c2",
                Cause::AppNotConsented,
                Consent::NotConsented,
                "AADSTS65001 <img src=x>",
            ),
        ],
        onboarding: vec![entry],
        ..LastCycle::default()
    }
}

fn render(last: &LastCycle, query: CustomerQuery) -> String {
    CustomersPage {
        chrome: Chrome {
            user: "operator@example.com".into(),
            can_write: false,
            csrf: "csrf".into(),
            active: "customers",
            cycle: None,
        },
        view: customers(last, &query),
        query,
    }
    .render()
    .unwrap()
}

#[test]
fn the_customers_page_shows_consent_access_and_onboarding_escaped() {
    let last = last();
    let html = render(&last, CustomerQuery::default());
    assert!(html.contains("3 customers match"), "{html}");
    assert!(
        html.contains("<dd class=\"consent\">consented</dd>"),
        "{html}"
    );
    assert!(html.contains("<dd class=\"consent\">not consented</dd>"));
    assert!(html.contains("<dd class=\"consent\">not checked yet</dd>"));
    assert!(
        html.contains(">works</span> on 2026-12-04 23:00 UTC"),
        "{html}"
    );
    assert!(html.contains(">appNotConsented</span>"));
    assert!(
        html.contains("Remedy: do &#60;b&#62;this&#60;/b&#62;"),
        "{html}"
    );
    assert!(html.contains("<strong>approval</strong> for 3 days (template helpdesk)"));
    assert!(html.contains("awaiting the customer&#39;s approval; link: https://admin.microsoft.com/x?&#60;script&#62;"), "{html}");
    assert!(
        !html.contains("<img") && !html.contains("<script"),
        "{html}"
    );
    // Filtered by cause; "needs attention" counts the access check.
    let by_cause = |cause: &str, attention: &str| CustomerQuery {
        access: cause.into(),
        attention: attention.into(),
        ..CustomerQuery::default()
    };
    let works = customers(&last, &by_cause("works", ""));
    assert_eq!(works.rows.len(), 1);
    assert_eq!(works.rows[0].tenant, "c1");
    let attention = customers(&last, &by_cause("", "1"));
    assert_eq!(attention.rows.len(), 1);
    assert_eq!(attention.rows[0].tenant, "c2");
    assert_eq!(attention.rows[0].worst, State::Critical);
}
