//! Per-customer and per-partner results, the run summary, and the exit status they give.

use std::collections::BTreeMap;
use std::process::ExitCode;

use cli_kit::output::Row;
use cli_kit::{Exit, Failure};
use common::remedy::Remedy;
use serde::Serialize;

/// What happened to one customer (or to a whole partner, when `customer` is absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The consent was created.
    Granted,
    /// A consent with the same grants was already there.
    AlreadyGranted,
    /// The consent was deleted and created again (`--reset`).
    Reset,
    /// The consent was removed.
    Removed,
    /// There was no consent to remove.
    Absent,
    /// The application's app-only token works in the customer tenant.
    Verified,
    /// It failed; see the detail.
    Failed,
}

impl Outcome {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::AlreadyGranted => "already-granted",
            Self::Reset => "reset",
            Self::Removed => "removed",
            Self::Absent => "absent",
            Self::Verified => "verified",
            Self::Failed => "failed",
        }
    }
}

/// One line of a consent report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CustomerResult {
    /// The partner tenant.
    pub partner: String,
    /// The customer tenant; absent when the whole partner failed (e.g. its token expired).
    pub customer: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// Details, or the error with its remedy.
    pub detail: String,
    /// The remedy of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
    /// Where the partner's admin agent consents again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_url: Option<String>,
}

impl CustomerResult {
    /// A success.
    pub fn ok(partner: &str, customer: &str, outcome: Outcome, detail: impl Into<String>) -> Self {
        Self {
            partner: partner.to_owned(),
            customer: Some(customer.to_owned()),
            outcome,
            detail: detail.into(),
            remedy: None,
            consent_url: None,
        }
    }

    /// A failure of one customer, or of the whole partner when `customer` is `None`.
    pub fn failed(partner: &str, customer: Option<&str>, failure: Failure) -> Self {
        Self {
            partner: partner.to_owned(),
            customer: customer.map(str::to_owned),
            outcome: Outcome::Failed,
            detail: failure.message,
            remedy: Some(failure.remedy),
            consent_url: failure.consent_url,
        }
    }

    /// Whether it succeeded.
    pub fn is_ok(&self) -> bool {
        self.outcome != Outcome::Failed
    }
}

impl Row for CustomerResult {
    fn headers() -> &'static [&'static str] {
        &["PARTNER", "CUSTOMER", "OUTCOME", "DETAIL"]
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.partner.clone(),
            self.subject().to_owned(),
            self.outcome.as_str().to_owned(),
            self.detail.clone(),
        ]
    }
}

impl CustomerResult {
    /// The customer, or `(partner)` for a failure of the whole partner.
    fn subject(&self) -> &str {
        self.customer.as_deref().unwrap_or("(partner)")
    }

    /// The remedy's advice, with the consent page when there is one.
    fn advice(&self) -> Option<String> {
        let advice = self.remedy.and_then(Remedy::advice)?;
        Some(match &self.consent_url {
            Some(url) => format!("{advice} (consent page: {url})"),
            None => advice.to_owned(),
        })
    }

    /// The failure as a table shows it: without the remedy's advice that ends it (printed once
    /// under the table) and without the `partner P: ` the PARTNER column already says.
    fn failure_text(&self) -> &str {
        let text = self
            .remedy
            .and_then(Remedy::advice)
            .and_then(|a| self.detail.strip_suffix(a))
            .and_then(|m| m.strip_suffix("; "))
            .unwrap_or(&self.detail);
        text.strip_prefix(&format!("partner {}: ", self.partner))
            .unwrap_or(text)
    }

    /// What makes two failures the same: the text with the customer's ID replaced and
    /// Entra's trace and correlation IDs (different on every request) left out.
    fn failure_key(&self) -> String {
        let mut key = self.failure_text().to_owned();
        if let Some(customer) = &self.customer {
            key = key.replace(customer.as_str(), "CUSTOMER");
        }
        while let Some(start) = key.find(" (trace ID ") {
            let Some(len) = key[start..].find(')') else {
                break;
            };
            key.replace_range(start..=start + len, "");
        }
        key
    }
}

/// Writes a consent report as a table for people: one row per result; a failure identical to
/// an earlier one (but for the customer) says so instead of repeating its text; each remedy
/// once under the table, with how many failures it fixes; then the summary line.
pub fn write_table(
    out: &mut dyn std::io::Write,
    results: &[CustomerResult],
    summary: &Summary,
) -> std::io::Result<()> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut remedies: Vec<(String, usize)> = Vec::new();
    let mut rows = Vec::with_capacity(results.len());
    for r in results {
        let mut cells = r.cells();
        if !r.is_ok() {
            let key = r.failure_key();
            cells[3] = match seen.iter().find(|(k, _)| *k == key) {
                Some((_, first)) => format!("same failure as {first}"),
                None => {
                    seen.push((key, format!("{} above", r.subject())));
                    r.failure_text().to_owned()
                }
            };
            if let Some(advice) = r.advice() {
                match remedies.iter_mut().find(|(a, _)| *a == advice) {
                    Some((_, n)) => *n += 1,
                    None => remedies.push((advice, 1)),
                }
            }
        }
        rows.push(TableRow(cells));
    }
    cli_kit::output::write_table(out, &rows)?;
    if !remedies.is_empty() {
        writeln!(out)?;
    }
    for (advice, n) in remedies {
        let failures = if n == 1 { "failure" } else { "failures" };
        writeln!(out, "remedy ({n} {failures}): {advice}")?;
    }
    writeln!(out, "\n{}", summary.line())
}

/// A row of [`write_table`], its cells already written.
#[derive(Serialize)]
struct TableRow(Vec<String>);

impl Row for TableRow {
    fn headers() -> &'static [&'static str] {
        CustomerResult::headers()
    }

    fn cells(&self) -> Vec<String> {
        self.0.clone()
    }
}

/// Totals of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Results per outcome.
    pub outcomes: BTreeMap<&'static str, usize>,
    /// Partner Center requests sent (every attempt).
    pub partner_center_calls: u64,
    /// Microsoft Graph requests sent.
    pub graph_calls: u64,
    /// 429 answers waited out.
    pub throttled: u64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

impl Summary {
    /// Counts the outcomes of `results`.
    pub fn count(results: &[CustomerResult]) -> BTreeMap<&'static str, usize> {
        let mut map = BTreeMap::new();
        for r in results {
            *map.entry(r.outcome.as_str()).or_insert(0) += 1;
        }
        map
    }

    /// One line for the table output.
    pub fn line(&self) -> String {
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        format!(
            "{}; {} Partner Center and {} Graph requests, {} throttled (429) and waited out, {:.1} s",
            if outcomes.is_empty() {
                "nothing to do".to_owned()
            } else {
                outcomes.join(", ")
            },
            self.partner_center_calls,
            self.graph_calls,
            self.throttled,
            self.elapsed_ms as f64 / 1000.0
        )
    }
}

/// The exit status of a run: 3 when a partner must consent again, else 4 when some results
/// failed and others succeeded, 1 when all failed, 0 when none failed.
pub fn exit_code<'a>(results: impl IntoIterator<Item = (bool, Option<Remedy>)> + 'a) -> ExitCode {
    let (mut ok, mut failed, mut reconsent) = (0usize, 0usize, false);
    for (is_ok, remedy) in results {
        if is_ok {
            ok += 1;
        } else {
            failed += 1;
            reconsent |= remedy.is_some_and(Remedy::needs_consent);
        }
    }
    if reconsent {
        Exit::Reconsent
    } else if failed == 0 {
        Exit::Success
    } else if ok > 0 {
        Exit::Partial
    } else {
        Exit::Failure
    }
    .into()
}

/// [`exit_code`] of customer results.
pub fn exit_code_of(results: &[CustomerResult]) -> ExitCode {
    exit_code(results.iter().map(|r| (r.is_ok(), r.remedy)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_rank_reconsent_then_partial_then_failure() {
        assert_eq!(exit_code([]), ExitCode::SUCCESS);
        assert_eq!(exit_code([(true, None)]), ExitCode::SUCCESS);
        assert_eq!(exit_code([(false, Some(Remedy::None))]), ExitCode::FAILURE);
        assert_eq!(
            exit_code([(true, None), (false, Some(Remedy::None))]),
            Exit::Partial.into()
        );
        assert_eq!(
            exit_code([(true, None), (false, Some(Remedy::Reconsent))]),
            Exit::Reconsent.into()
        );
        assert_eq!(
            exit_code([(false, Some(Remedy::Mfa))]),
            Exit::Reconsent.into()
        );
    }
}
