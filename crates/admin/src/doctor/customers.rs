//! `customers.application_permissions` (CPV): the application permissions the app holds in each
//! customer tenant of a partner, compared with `[customers] application_permissions`.
//!
//! A CPV's app, unlike a CSP's, is consented in customer tenants through Partner Center's
//! application consent, often with application permissions (`cpv-app consent grant
//! --application`). The customers are listed as `consent verify --all-customers` lists them
//! ([`crate::consent::ops::resolve`], one Partner Center listing, `[customers] exclude` left
//! out); the roles of each are read from the `roles` of the app's own app-only Graph token in
//! that tenant ([`App::graph_roles`]): one token request per customer, no Graph call. More
//! roles than configured fail (least privilege), fewer warn, and a customer where the app is
//! not consented (AADSTS700016) warns when anything is configured.

use std::collections::BTreeSet;

use cli_kit::Run;
use common::config::Settings;
use common::remedy::Remedy;
use common::tokens::TokenBroker;
use futures::StreamExt as _;

use super::report::{Check, Status, Unread, check};
use crate::consent::grants::{GrantMatch, Grants};
use crate::consent::ops::{Targets, resolve};
use crate::consent::{App, AppOptions};

/// The check's identifier.
pub const ID: &str = "customers.application_permissions";

/// Customers read at once.
const CONCURRENCY: usize = 16;

/// Problem customers listed in the detail; the rest are counted.
const SHOWN: usize = 10;

/// What one customer holds, compared with what is configured.
enum Found {
    /// Exactly the configured application permissions.
    AsConfigured,
    /// Some configured ones are missing (and none beyond them).
    Missing(Vec<String>),
    /// Roles beyond the configured set (and the configured ones missing, if any).
    Extra {
        extra: Vec<String>,
        missing: Vec<String>,
    },
    /// The app has no service principal there (AADSTS700016).
    NotConsented,
    /// The roles could not be read.
    Unreadable(String),
}

/// `customers.application_permissions` for `partner` (CPV mode).
pub(super) async fn application_permissions_check(
    settings: &Settings,
    http: &reqwest::Client,
    partner: &str,
    named: &[String],
) -> Check {
    let skip = |detail: String, fix: Option<String>| check(ID, Status::Skip, detail, fix);
    let broker = match TokenBroker::from_settings(settings, http.clone()).await {
        Ok(b) => b,
        Err(e) => {
            return unread(format!("cannot build the token broker: {e}"), None);
        }
    };
    if broker.status(partner).await.meta.is_none() {
        return skip(
            format!("not checked: no consent stored for partner tenant {partner}"),
            None,
        );
    }
    let run = Run {
        settings: settings.clone(),
        http: http.clone(),
        broker,
    };
    let app = match App::new(
        run,
        AppOptions {
            consent_rate: crate::consent::cli::PARTNER_CENTER_CONSENT_RPS,
            tool: "cpv-app",
        },
    ) {
        Ok(app) => app,
        Err(f) => return unread(f.message, None),
    };
    if let Err(f) = app.check_partner(partner).await {
        return skip(
            format!(
                "not checked: partner {partner}'s stored grant gives no Partner Center token to list its customers ({})",
                f.message
            ),
            Some("see token.partner_center".into()),
        );
    }
    let targets = Targets {
        partners: vec![partner.to_owned()],
        customers: Vec::new(),
        all: true,
        exclude: excluded(settings),
        check_membership: false,
    };
    let (mut jobs, failed) = resolve(&app, &targets).await;
    if let Some(f) = failed.first() {
        return unread(
            format!(
                "cannot list the customers of partner {partner}: {}",
                f.detail
            ),
            None,
        );
    }
    // `--customer`: those of the partner's customers (one listing, no call per customer; a
    // customer of another partner is that partner's to check).
    if !named.is_empty() {
        let named: BTreeSet<String> = named.iter().map(|c| c.to_ascii_lowercase()).collect();
        jobs.retain(|(_, c)| named.contains(c));
        if jobs.is_empty() {
            return skip(
                format!(
                    "not checked: no customer named with --customer is a customer of partner {partner}"
                ),
                None,
            );
        }
    }
    if jobs.is_empty() {
        return skip(
            format!("not checked: partner {partner} has no customers"),
            None,
        );
    }
    let expected = Grants::new(&settings.customer_permissions.application);
    let app = &app;
    let expected = &expected;
    let mut found: Vec<(String, Found)> = futures::stream::iter(jobs)
        .map(|(_, customer)| async move {
            let found = customer_roles(app, &customer, expected).await;
            (customer, found)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    found.sort_by(|a, b| a.0.cmp(&b.0));
    summarise(settings, app, partner, &found)
}

/// `[customers] exclude` (tenant IDs and domains, lower case), as every fan-out leaves out.
fn excluded(settings: &Settings) -> BTreeSet<String> {
    settings.customers.exclude.iter().cloned().collect()
}

async fn customer_roles(app: &App, customer: &str, expected: &Grants) -> Found {
    match app.graph_roles(customer).await {
        Ok(roles) => match expected.compare_graph(&roles) {
            GrantMatch::Same => Found::AsConfigured,
            GrantMatch::Different { missing, extra } if extra.is_empty() => Found::Missing(missing),
            GrantMatch::Different { missing, extra } => Found::Extra { extra, missing },
        },
        Err(f) if f.remedy == Remedy::CustomerConsent => Found::NotConsented,
        Err(f) => Found::Unreadable(f.message),
    }
}

/// A failed check that could not read what it checks (the report's `cannot read`).
fn unread(detail: String, fix: Option<String>) -> Check {
    Check {
        unread: Some(Unread::Failed),
        ..check(ID, Status::Fail, format!("cannot read: {detail}"), fix)
    }
}

/// One line with the counts, each problem customer listed (at most [`SHOWN`]), and the fixes.
fn summarise(settings: &Settings, app: &App, partner: &str, found: &[(String, Found)]) -> Check {
    let count = |f: fn(&Found) -> bool| found.iter().filter(|(_, x)| f(x)).count();
    let as_configured = count(|x| matches!(x, Found::AsConfigured));
    let missing = count(|x| matches!(x, Found::Missing(_)));
    let extra = count(|x| matches!(x, Found::Extra { .. }));
    let not_consented = count(|x| matches!(x, Found::NotConsented));
    let unreadable = count(|x| matches!(x, Found::Unreadable(_)));
    let configured = &settings.customer_permissions;
    let expected = if configured.application.is_empty() {
        "none".to_owned()
    } else {
        Grants::new(&configured.application).to_string()
    };
    let mut parts = vec![format!("{as_configured} as configured ({expected})")];
    for (n, what) in [
        (missing, "missing application permissions"),
        (
            extra,
            "with application permissions beyond the configured ones",
        ),
        (not_consented, "where the app is not consented"),
        (unreadable, "that could not be read"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let total = found.len();
    let mut detail = format!(
        "{total} customer{}: {}",
        if total == 1 { "" } else { "s" },
        parts.join(", ")
    );
    // Unconsented customers are a problem only when the app is meant to be consented there.
    let consent_expected = !configured.is_empty();
    let problems: Vec<String> = found
        .iter()
        .filter_map(|(c, x)| {
            let what = match x {
                Found::AsConfigured => return None,
                Found::NotConsented if !consent_expected => return None,
                Found::Missing(m) => format!("missing {}", m.join(",")),
                Found::Extra { extra, missing } if missing.is_empty() => {
                    format!("also holds {}", extra.join(","))
                }
                Found::Extra { extra, missing } => format!(
                    "also holds {}, missing {}",
                    extra.join(","),
                    missing.join(",")
                ),
                Found::NotConsented => "not consented".to_owned(),
                Found::Unreadable(e) => format!("cannot read: {e}"),
            };
            Some(format!("{}: {what}", app.customer_label(c)))
        })
        .collect();
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(SHOWN).map(String::as_str).collect();
        detail.push_str(&format!(" — {}", shown.join("; ")));
        if problems.len() > SHOWN {
            detail.push_str(&format!("; and {} more", problems.len() - SHOWN));
        }
    }
    let fix = fixes(
        settings,
        partner,
        extra,
        missing + not_consented * usize::from(consent_expected),
        unreadable,
    );
    let status = if extra > 0 || unreadable > 0 {
        Status::Fail
    } else if missing > 0 || (consent_expected && not_consented > 0) {
        Status::Warn
    } else {
        Status::Pass
    };
    Check {
        unread: (extra == 0 && unreadable > 0).then_some(Unread::Failed),
        ..check(ID, status, detail, fix)
    }
}

/// The fixes of the problems counted: `extra` customers holding more, `to_grant` missing
/// permissions or the consent, `unreadable` not read.
fn fixes(
    settings: &Settings,
    partner: &str,
    extra: usize,
    to_grant: usize,
    unreadable: usize,
) -> Option<String> {
    let app = &settings.app.display_name;
    let mut fixes = Vec::new();
    if extra > 0 {
        fixes.push(format!(
            "least privilege: revoke the extra application permissions in each such customer's Entra ID > Enterprise applications > {app} > Permissions, or re-run `cpv-app consent grant --partner {partner} --customer TENANT --reset` (it removes those not configured); if they are needed, add them to customers.application_permissions"
        ));
    }
    if to_grant > 0 {
        fixes.push(format!(
            "grant what is configured: `cpv-app consent grant --partner {partner} --customer TENANT` (customers.delegated_permissions and application_permissions are its default)"
        ));
    }
    if unreadable > 0 {
        fixes.push(
            "check the app's credential (see app.credential) and the network, then run doctor again"
                .to_owned(),
        );
    }
    (!fixes.is_empty()).then(|| fixes.join("; "))
}
