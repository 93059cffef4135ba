//! Which customers a fan-out runs over, the same for every command that runs over customers
//! (`users list`, `onboard`, `access check`, …): `--customer` (repeatable), `--all-customers`,
//! `--tenants-file FILE`, `--exclude`, and the configured `[customers] exclude` list, which applies
//! unless `--no-default-exclude` is given. [`SelectionArgs`] is the clap part, [`Selection`] what
//! it resolves to (checked before anything is written), [`parse_tenants_file`] the file's format.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use clap::Args;
use common::config::{CustomerSettings, tenant_or_domain};

use crate::Failure;

/// The customer selection on the command line: one of `--customer`, `--tenants-file` or
/// `--all-customers` is required.
#[derive(Clone, Debug, Default, Args)]
#[group(id = "selection", required = true, multiple = true, args = ["customers", "all_customers", "tenants_file"])]
pub struct SelectionArgs {
    /// A customer: its tenant ID or domain (repeatable).
    #[arg(long = "customer", value_name = "TENANT")]
    pub customers: Vec<String>,
    /// Every customer of the partner (Partner Center's list and Graph's delegated admin
    /// customers).
    #[arg(long, conflicts_with_all = ["customers", "tenants_file"])]
    pub all_customers: bool,
    /// A file of customers: one tenant ID or domain per line; blank lines and `#` comments are
    /// ignored.
    #[arg(long, value_name = "FILE")]
    pub tenants_file: Option<PathBuf>,
    /// Leave these customers out (tenant IDs or domains; repeatable or comma-separated), in
    /// addition to the configured `[customers] exclude`.
    #[arg(long, value_delimiter = ',', value_name = "TENANT")]
    pub exclude: Vec<String>,
    /// Ignore the configured `[customers] exclude` list.
    #[arg(long)]
    pub no_default_exclude: bool,
}

/// Which customers, before the exclusions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every customer of the partner.
    All,
    /// These customers (tenant IDs or domains, lower case, each once, in the order given).
    Listed(Vec<String>),
}

/// A resolved, valid selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Which customers.
    pub scope: Scope,
    /// Customers left out (tenant IDs or domains, lower case).
    pub exclude: BTreeSet<String>,
    /// How many of the exclusions come from the configuration.
    pub configured_exclusions: usize,
}

/// A line of a tenants file that is neither a tenant nor a comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantsFileError {
    /// 1-based line number.
    pub line: usize,
    /// The text of the line (trimmed, comment removed).
    pub text: String,
}

impl fmt::Display for TenantsFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {:?} is not a tenant ID (a GUID) or a domain",
            self.line,
            crate::output::printable(&self.text)
        )
    }
}

/// Parses a tenants file: one tenant ID or domain per line, `#` starting a comment (whole line
/// or after the value), blank lines ignored; each tenant once (lower case), in file order.
/// Every bad line is reported.
pub fn parse_tenants_file(text: &str) -> Result<Vec<String>, Vec<TenantsFileError>> {
    let mut tenants = Vec::new();
    let mut seen = BTreeSet::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let value = line.split('#').next().unwrap_or_default().trim();
        let value = value.trim_start_matches('\u{feff}').trim();
        if value.is_empty() {
            continue;
        }
        match tenant_or_domain(value) {
            Some(t) => {
                if seen.insert(t.clone()) {
                    tenants.push(t);
                }
            }
            None => errors.push(TenantsFileError {
                line: i + 1,
                text: value.to_owned(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(tenants)
    } else {
        Err(errors)
    }
}

impl SelectionArgs {
    /// Resolves the selection against the configuration's exclusions; every problem (a bad
    /// `--customer`, a bad line of the file, no selection at all) is a configuration failure
    /// (exit 2) before anything runs.
    pub fn resolve(&self, configured: &CustomerSettings) -> Result<Selection, Failure> {
        let mut problems = Vec::new();
        let mut listed = Vec::new();
        for c in &self.customers {
            match tenant_or_domain(c) {
                Some(t) if !listed.contains(&t) => listed.push(t),
                Some(_) => {}
                None => problems.push(format!(
                    "--customer {:?} is not a tenant ID (a GUID) or a domain",
                    crate::output::printable(c)
                )),
            }
        }
        if let Some(path) = &self.tenants_file {
            match std::fs::read_to_string(path) {
                Ok(text) => match parse_tenants_file(&text) {
                    Ok(tenants) => {
                        for t in tenants {
                            if !listed.contains(&t) {
                                listed.push(t);
                            }
                        }
                    }
                    Err(errors) => problems.extend(
                        errors
                            .iter()
                            .map(|e| format!("--tenants-file {}: {e}", path.display())),
                    ),
                },
                Err(e) => problems.push(format!(
                    "--tenants-file {}: cannot be read ({e})",
                    path.display()
                )),
            }
        }
        let mut exclude = BTreeSet::new();
        for e in &self.exclude {
            match tenant_or_domain(e) {
                Some(t) => {
                    exclude.insert(t);
                }
                None => problems.push(format!(
                    "--exclude {:?} is not a tenant ID (a GUID) or a domain",
                    crate::output::printable(e)
                )),
            }
        }
        let mut configured_exclusions = 0;
        if !self.no_default_exclude {
            for e in &configured.exclude {
                if exclude.insert(e.clone()) {
                    configured_exclusions += 1;
                }
            }
        }
        let scope = if self.all_customers {
            Scope::All
        } else if listed.is_empty() && problems.is_empty() {
            problems.push(
                "no customer selected: give --customer TENANT (repeatable), --tenants-file FILE \
                 or --all-customers"
                    .to_owned(),
            );
            Scope::Listed(Vec::new())
        } else {
            Scope::Listed(listed)
        };
        if !problems.is_empty() {
            return Err(Failure::config(problems.join("\n")));
        }
        Ok(Selection {
            scope,
            exclude,
            configured_exclusions,
        })
    }
}

impl Selection {
    /// Whether a customer (its tenant ID, and its domain when known) is selected.
    pub fn admits(&self, tenant_id: &str, domain: Option<&str>) -> bool {
        let tenant = tenant_id.to_ascii_lowercase();
        let excluded = self.exclude.contains(&tenant)
            || domain.is_some_and(|d| self.exclude.contains(&d.to_ascii_lowercase()));
        if excluded {
            return false;
        }
        match &self.scope {
            Scope::All => true,
            Scope::Listed(list) => {
                list.contains(&tenant)
                    || domain.is_some_and(|d| list.contains(&d.to_ascii_lowercase()))
            }
        }
    }

    /// The listed customers that are not excluded (`None` for every customer).
    pub fn listed(&self) -> Option<Vec<String>> {
        match &self.scope {
            Scope::All => None,
            Scope::Listed(list) => Some(
                list.iter()
                    .filter(|t| !self.exclude.contains(*t))
                    .cloned()
                    .collect(),
            ),
        }
    }

    /// One line saying which customers a run covers, printed before a run that writes.
    pub fn describe(&self) -> String {
        let scope = match self.listed() {
            None => "every customer of the partner".to_owned(),
            Some(list) => {
                let shown: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
                let more = list.len().saturating_sub(shown.len());
                format!(
                    "{} customer{} ({}{})",
                    list.len(),
                    if list.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if more > 0 {
                        format!(", and {more} more")
                    } else {
                        String::new()
                    }
                )
            }
        };
        let exclusions = if self.exclude.is_empty() {
            "none excluded".to_owned()
        } else {
            let list: Vec<&str> = self.exclude.iter().map(String::as_str).collect();
            format!(
                "excluding {} ({} from the configuration's [customers] exclude)",
                list.join(", "),
                self.configured_exclusions
            )
        };
        crate::output::printable(&format!("customers: {scope}; {exclusions}"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
    const B: &str = "bbbbbbbb-0000-0000-0000-000000000002";

    #[test]
    fn a_tenants_file_has_ids_domains_comments_and_blank_lines() {
        let text = format!(
            "# customers of the week\n{A}\n\n  Fabrikam.onmicrosoft.com  # moved\n{}\n",
            A.to_uppercase()
        );
        assert_eq!(
            parse_tenants_file(&text),
            Ok(vec![A.to_owned(), "fabrikam.onmicrosoft.com".to_owned()])
        );
    }

    #[test]
    fn every_bad_line_is_named() {
        let errors = parse_tenants_file(&format!("{A}\nnot a tenant\n\n{B}\nfoo\n")).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![2, 5]
        );
        assert_eq!(
            errors[0].to_string(),
            "line 2: \"not a tenant\" is not a tenant ID (a GUID) or a domain"
        );
    }

    #[test]
    fn the_configured_exclusions_apply_unless_overridden() {
        let configured = CustomerSettings {
            exclude: vec![B.to_owned()],
        };
        let args = SelectionArgs {
            customers: vec![A.into(), B.into()],
            ..SelectionArgs::default()
        };
        let selection = args.resolve(&configured).unwrap();
        assert_eq!(selection.listed(), Some(vec![A.to_owned()]));
        assert!(!selection.admits(B, None));
        let all = SelectionArgs {
            all_customers: true,
            exclude: vec!["fabrikam.onmicrosoft.com".into()],
            no_default_exclude: true,
            ..SelectionArgs::default()
        }
        .resolve(&configured)
        .unwrap();
        assert!(all.admits(B, None));
        assert!(!all.admits(A, Some("Fabrikam.onmicrosoft.com")));
        assert!(
            all.describe().contains("every customer"),
            "{}",
            all.describe()
        );
    }

    #[test]
    fn no_selection_or_a_bad_customer_is_a_configuration_failure() {
        let none = SelectionArgs::default()
            .resolve(&CustomerSettings::default())
            .unwrap_err();
        assert_eq!(none.exit(), crate::Exit::Config);
        let bad = SelectionArgs {
            customers: vec!["x y".into()],
            ..SelectionArgs::default()
        }
        .resolve(&CustomerSettings::default())
        .unwrap_err();
        assert!(
            bad.message.contains("--customer \"x y\""),
            "{}",
            bad.message
        );
    }

    fn guid() -> impl Strategy<Value = String> {
        any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string())
    }

    /// A line: a tenant (maybe upper case, padded, with a trailing comment), a comment or blank.
    fn line() -> impl Strategy<Value = (Option<String>, String)> {
        prop_oneof![
            (guid(), any::<bool>(), "[ \t]{0,3}", "[ -~&&[^#]]{0,20}").prop_map(
                |(g, upper, pad, comment)| {
                    let shown = if upper { g.to_uppercase() } else { g.clone() };
                    (Some(g), format!("{pad}{shown}{pad} # {comment}"))
                }
            ),
            "[ -~]{0,30}".prop_map(|c| (None, format!("#{c}"))),
            "[ \t]{0,4}".prop_map(|b| (None, b)),
        ]
    }

    proptest! {
        #[test]
        fn tenants_come_back_in_order_once_each(lines in prop::collection::vec(line(), 0..40)) {
            let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
            let mut expected: Vec<String> = Vec::new();
            for t in lines.iter().filter_map(|(t, _)| t.clone()) {
                if !expected.contains(&t) {
                    expected.push(t);
                }
            }
            prop_assert_eq!(parse_tenants_file(&text.join("\n")), Ok(expected));
        }

        #[test]
        fn a_bad_line_is_reported_with_its_number(
            lines in prop::collection::vec(line(), 0..20),
            at in 0usize..20,
            junk in "[a-z]{1,10} [a-z]{1,10}",
        ) {
            let mut text: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
            let at = at.min(text.len());
            text.insert(at, junk.clone());
            let errors = parse_tenants_file(&text.join("\n")).unwrap_err();
            prop_assert_eq!(errors, vec![TenantsFileError { line: at + 1, text: junk }]);
        }

        #[test]
        fn the_parser_never_panics(text in "\\PC{0,400}") {
            let _ = parse_tenants_file(&text);
        }
    }
}
