//! Typed GDAP role templates (`[templates.NAME]`) and the customer selection's configured part
//! (`[customers]`): what validation produces from [`RawTemplate`](super::RawTemplate) and
//! [`RawCustomers`](super::RawCustomers).

use serde::Serialize;

use crate::gdap_rules::role_name;

/// Customers every fan-out leaves out unless the command line overrides it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CustomerSettings {
    /// Tenant IDs (lower case) or domains (lower case).
    pub exclude: Vec<String>,
}

/// A GDAP role template: the relationship `onboard` creates and its access assignments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleTemplate {
    /// The template's name (`[templates.NAME]`).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The relationship's display-name pattern.
    pub display_name: DisplayNamePattern,
    /// ISO 8601 duration (P1D..P2Y).
    pub duration: String,
    /// Whether the relationship extends itself by 180 days at its end date.
    pub auto_extend: bool,
    /// The access assignments, one per security group.
    pub access: Vec<TemplateAccess>,
}

/// One access assignment of a template: a partner security group and the roles its members get.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateAccess {
    /// Object ID of the security group in the partner tenant (lower case).
    pub group: String,
    /// Role template IDs (lower case), in the configured order.
    pub roles: Vec<String>,
}

impl RoleTemplate {
    /// Every role the relationship grants: the union of the access entries' roles, each once,
    /// in first-seen order.
    pub fn roles(&self) -> Vec<String> {
        let mut roles: Vec<String> = Vec::new();
        for role in self.access.iter().flat_map(|a| &a.roles) {
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        roles
    }

    /// The roles by name (built-in names; an unknown ID as itself).
    pub fn role_names(&self) -> Vec<String> {
        self.roles().iter().map(|r| role_name(r)).collect()
    }

    /// Graph's `autoExtendDuration` of the template: `P180D` or `PT0S`.
    pub fn auto_extend_duration(&self) -> &'static str {
        if self.auto_extend { "P180D" } else { "PT0S" }
    }

    /// The relationship's display name for a customer, on a day (`YYYYMMDD`).
    pub fn display_name_for(&self, tenant_id: &str, date: &str) -> String {
        self.display_name.render(&self.name, tenant_id, date)
    }
}

/// A display-name pattern: text with `{template}`, `{tenant}`, `{tenant8}` and `{date}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayNamePattern(pub String);

/// The placeholders of a display-name pattern and the longest text each stands for
/// (`None`: the template's name).
pub const PLACEHOLDERS: &[(&str, Option<usize>)] = &[
    ("{template}", None),
    ("{tenant}", Some(36)),
    ("{tenant8}", Some(8)),
    ("{date}", Some(8)),
];

/// The pattern used when a template gives none.
pub const DEFAULT_DISPLAY_NAME: &str = "{template}-{tenant}";

impl DisplayNamePattern {
    /// The display name for a customer.
    pub fn render(&self, template: &str, tenant_id: &str, date: &str) -> String {
        let tenant = tenant_id.to_ascii_lowercase();
        let short: String = tenant.chars().take(8).collect();
        self.0
            .replace("{template}", template)
            .replace("{tenant8}", &short)
            .replace("{tenant}", &tenant)
            .replace("{date}", date)
    }

    /// The most characters a rendered name can have, for a template named `template`; an
    /// unknown placeholder (any other `{…}`) is returned as the error.
    pub fn longest(&self, template: &str) -> Result<usize, String> {
        let mut rest = self.0.as_str();
        let mut length = 0;
        while let Some(open) = rest.find('{') {
            length += rest[..open].chars().count();
            let tail = &rest[open..];
            let Some(close) = tail.find('}') else {
                return Err(tail.to_owned());
            };
            let placeholder = &tail[..=close];
            match PLACEHOLDERS.iter().find(|(p, _)| *p == placeholder) {
                Some((_, Some(n))) => length += n,
                Some((_, None)) => length += template.chars().count(),
                None => return Err(placeholder.to_owned()),
            }
            rest = &tail[close + 1..];
        }
        Ok(length + rest.chars().count())
    }

    /// Whether a rendered name differs per customer (Graph wants display names unique among
    /// the partner's relationships).
    pub fn names_the_tenant(&self) -> bool {
        self.0.contains("{tenant}") || self.0.contains("{tenant8}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_renders_and_measures_its_longest_name() {
        let p = DisplayNamePattern("{template}-{tenant8}-{date}".into());
        assert_eq!(
            p.render(
                "helpdesk",
                "ABCDEF12-0000-0000-0000-000000000000",
                "20261204"
            ),
            "helpdesk-abcdef12-20261204"
        );
        assert_eq!(p.longest("helpdesk"), Ok(8 + 1 + 8 + 1 + 8));
        assert_eq!(
            DisplayNamePattern("x {customer}".into()).longest("t"),
            Err("{customer}".into())
        );
        assert!(p.names_the_tenant());
        assert!(!DisplayNamePattern("{template}".into()).names_the_tenant());
    }
}
