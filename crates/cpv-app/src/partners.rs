//! `partners list`: every partner whose consent is (or should be) stored, with its consent
//! metadata and whether its refresh token still works — each partner checked on its own, so one
//! expired token shows up as that partner's line, with its re-consent link.

use std::io::Write;
use std::process::ExitCode;

use cli_kit::output::{self, OutputFormat, Row};
use common::remedy::Remedy;
use serde::Serialize;

use admin::consent::App;
use admin::consent::report::exit_code;

/// A Unix time as RFC 3339, or `-`.
fn rfc3339(unix: i64) -> String {
    output::rfc3339(unix).unwrap_or_else(|| "-".into())
}

/// One partner's line.
#[derive(Clone, Debug, Serialize)]
pub struct PartnerRow {
    /// The partner tenant.
    pub partner: String,
    /// Whether a consent is stored.
    pub consented: bool,
    /// When the admin agent consented (RFC 3339).
    pub consented_at: Option<String>,
    /// Who consented.
    pub consented_by: Option<String>,
    /// Whether the consent sign-in used MFA.
    pub mfa: Option<bool>,
    /// When the stored refresh token was issued (the consent or the latest rotation).
    pub rotated_at: Option<String>,
    /// `works`, `re-consent needed`, `mfa required`, `not consented` or `failing`.
    pub token: &'static str,
    /// Whether the token works.
    pub ok: bool,
    /// The error and its remedy.
    pub detail: String,
    /// The remedy of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
    /// Where the partner's admin agent consents again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_url: Option<String>,
}

impl Row for PartnerRow {
    fn headers() -> &'static [&'static str] {
        &["PARTNER", "CONSENTED", "BY", "MFA", "TOKEN", "DETAIL"]
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.partner.clone(),
            self.consented_at.clone().unwrap_or_else(|| "-".into()),
            self.consented_by.clone().unwrap_or_else(|| "-".into()),
            match self.mfa {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "-".into(),
            },
            self.token.to_owned(),
            self.detail.clone(),
        ]
    }
}

async fn check(app: &App, partner: &str) -> PartnerRow {
    let status = app.broker().status(partner).await;
    let mut row = PartnerRow {
        partner: partner.to_owned(),
        consented: status.meta.is_some(),
        consented_at: status.meta.as_ref().map(|m| rfc3339(m.consented_at)),
        consented_by: status.meta.as_ref().and_then(|m| m.user.clone()),
        mfa: status.meta.as_ref().map(|m| m.mfa),
        rotated_at: status.meta.as_ref().map(|m| rfc3339(m.rotated_at)),
        token: "works",
        ok: true,
        detail: String::new(),
        remedy: None,
        consent_url: None,
    };
    if let Err(f) = app.check_partner(partner).await {
        row.token = match (row.consented, f.remedy) {
            (false, _) => "not consented",
            (_, r) if r.ends_grant() => "re-consent needed",
            (_, Remedy::Mfa) => "mfa required",
            _ => "failing",
        };
        row.ok = false;
        row.detail = f.message;
        row.remedy = Some(f.remedy);
        row.consent_url = f.consent_url;
    } else if status.meta.as_ref().is_some_and(|m| !m.mfa) {
        // Partner Center refuses App + User calls without MFA (enforced since April 2026).
        row.token = "mfa required";
        row.ok = false;
        row.detail = format!(
            "the consent was given without multi-factor authentication, which Partner Center refuses: an admin agent of partner {partner} must consent again, signing in with MFA, at {}",
            app.consent_page()
        );
        row.remedy = Some(Remedy::Mfa);
        row.consent_url = Some(app.consent_page().to_string());
    }
    row
}

/// `partners list`.
pub async fn list(
    app: &App,
    partners: &[String],
    format: OutputFormat,
    out: &mut dyn Write,
) -> ExitCode {
    let rows: Vec<PartnerRow> =
        futures::future::join_all(partners.iter().map(|p| check(app, p))).await;
    if output::write_rows(out, format, &rows).is_err() {
        return ExitCode::FAILURE;
    }
    exit_code(rows.iter().map(|r| (r.ok, r.remedy)))
}
