//! `[templates.NAME]` (GDAP role templates) and `[customers]`: every problem reported with its
//! key, before anything is sent to Graph (the rules are `docs/microsoft-behaviour.md` §6.2:
//! display names of at most 50 characters and unique, P1D..P2Y, no auto-extension with Global
//! Administrator; roles are Entra's built-in role template IDs, §7).

use std::collections::BTreeMap;

use super::checker::{Checker, set};
use crate::config::templates::DEFAULT_DISPLAY_NAME;
use crate::config::{
    CustomerPermissions, CustomerSettings, DisplayNamePattern, PermissionGrant, RawSettings,
    RawTemplate, RoleTemplate, TemplateAccess,
};
use crate::gdap_rules::{
    GLOBAL_ADMINISTRATOR_ROLE, MAX_DAYS, MAX_DISPLAY_NAME, MIN_DAYS, builtin_role, iso8601_days,
};

/// The duration a template gets when it names none.
const DEFAULT_DURATION: &str = "P730D";

impl RawSettings {
    /// `[customers]`: each excluded entry is a tenant ID or a domain.
    pub(super) fn validate_customers(&self, c: &mut Checker<'_>) -> Option<CustomerSettings> {
        let mut exclude = Vec::new();
        let mut ok = true;
        for (i, entry) in self.customers.exclude.0.iter().enumerate() {
            match tenant_or_domain(entry) {
                Some(t) => exclude.push(t),
                None => {
                    ok = false;
                    c.fail(
                        "customers.exclude",
                        format!("entry {} ({:?}) is not a tenant ID or domain", i + 1, entry.trim()),
                        "give each customer as its tenant ID (a GUID) or its domain (fabrikam.onmicrosoft.com)",
                    );
                }
            }
        }
        ok.then_some(CustomerSettings { exclude })
    }

    /// `[customers] delegated_permissions`, `application_permissions`: each entry
    /// `RESOURCE:PERMISSIONS`, parsed as `consent grant`'s `--delegated` / `--application`.
    pub(super) fn validate_customer_permissions(
        &self,
        c: &mut Checker<'_>,
    ) -> Option<CustomerPermissions> {
        let mut ok = true;
        let mut parse = |key: &str, list: &[String]| -> Vec<PermissionGrant> {
            let mut out = Vec::new();
            for (i, entry) in list.iter().enumerate() {
                match entry.parse::<PermissionGrant>() {
                    Ok(g) => out.push(g),
                    Err(e) => {
                        ok = false;
                        c.fail(
                            key,
                            format!("entry {} is not RESOURCE:PERMISSIONS: {e}", i + 1),
                            "write each entry as RESOURCE:PERMISSIONS, RESOURCE `graph` or the resource application's ID, e.g. \"graph:User.Read.All,Directory.Read.All\"",
                        );
                    }
                }
            }
            out
        };
        let delegated = parse(
            "customers.delegated_permissions",
            &self.customers.delegated_permissions.0,
        );
        let application = parse(
            "customers.application_permissions",
            &self.customers.application_permissions.0,
        );
        ok.then_some(CustomerPermissions {
            delegated,
            application,
        })
    }

    /// `[templates.NAME]`: every template, every problem.
    pub(super) fn validate_templates(
        &self,
        c: &mut Checker<'_>,
    ) -> Option<BTreeMap<String, RoleTemplate>> {
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (name, raw) in &self.templates {
            match template(c, name, raw) {
                Some(t) => {
                    out.insert(name.clone(), t);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// A tenant ID (lower case) or a domain (lower case); `None` when it is neither.
pub fn tenant_or_domain(value: &str) -> Option<String> {
    let v = value.trim();
    if let Ok(id) = uuid::Uuid::parse_str(v) {
        return Some(id.to_string());
    }
    let labels_ok = v.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    (v.contains('.') && labels_ok && v.len() <= 253).then(|| v.to_ascii_lowercase())
}

fn template(c: &mut Checker<'_>, name: &str, raw: &RawTemplate) -> Option<RoleTemplate> {
    let key = |field: &str| format!("templates.{name}.{field}");
    let mut ok = true;
    if !name
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        ok = false;
        c.fail(
            &format!("templates.{name}"),
            format!(
                "the template name {name:?} has characters other than letters, digits, - and _"
            ),
            "rename the section, e.g. [templates.helpdesk]",
        );
    }
    let display_name = DisplayNamePattern(
        set(&raw.display_name)
            .unwrap_or(DEFAULT_DISPLAY_NAME)
            .to_owned(),
    );
    match display_name.longest(name) {
        Err(placeholder) => {
            ok = false;
            c.fail(
                &key("display_name"),
                format!("{placeholder:?} is not a placeholder"),
                "use {template}, {tenant}, {tenant8} or {date}",
            );
        }
        Ok(n) if n > MAX_DISPLAY_NAME => {
            ok = false;
            c.fail(
                &key("display_name"),
                format!(
                    "{:?} gives names of up to {n} characters; Graph accepts at most {MAX_DISPLAY_NAME}",
                    display_name.0
                ),
                "shorten the text, or use {tenant8} (8 characters) instead of {tenant} (36)",
            );
        }
        Ok(_) if !display_name.names_the_tenant() => {
            ok = false;
            c.fail(
                &key("display_name"),
                format!("{:?} is the same for every customer", display_name.0),
                "include {tenant} or {tenant8}: Graph wants relationship display names unique among the partner's relationships",
            );
        }
        Ok(_) => {}
    }
    let duration = set(&raw.duration)
        .unwrap_or(DEFAULT_DURATION)
        .to_ascii_uppercase();
    match iso8601_days(&duration) {
        Some(days) if (MIN_DAYS..=MAX_DAYS).contains(&days) => {}
        Some(_) => {
            ok = false;
            c.fail(
                &key("duration"),
                format!("{duration} is outside P1D..P2Y (1 to 730 days)"),
                "give a duration Graph accepts, e.g. \"P730D\" (the longest) or \"P365D\"",
            );
        }
        None => {
            ok = false;
            c.fail(
                &key("duration"),
                format!("{duration:?} is not an ISO 8601 duration"),
                "write it like \"P730D\" or \"P1Y\"",
            );
        }
    }
    let access = access(c, name, raw, &mut ok);
    let global_admin = access
        .iter()
        .flat_map(|a| &a.roles)
        .any(|r| r == GLOBAL_ADMINISTRATOR_ROLE);
    if raw.auto_extend && global_admin {
        ok = false;
        c.fail(
            &key("auto_extend"),
            "is true with the Global Administrator role, which Graph refuses",
            "set auto_extend = false, or leave Global Administrator out of the template",
        );
    }
    ok.then(|| RoleTemplate {
        name: name.to_owned(),
        description: raw.description.trim().to_owned(),
        display_name,
        duration,
        auto_extend: raw.auto_extend,
        access,
    })
}

/// The access entries: each a group (a GUID, once per template) and known built-in roles.
fn access(
    c: &mut Checker<'_>,
    name: &str,
    raw: &RawTemplate,
    ok: &mut bool,
) -> Vec<TemplateAccess> {
    let key = format!("templates.{name}.access");
    if raw.access.is_empty() {
        *ok = false;
        c.fail(
            &key,
            "is empty: the template grants no role",
            "add [[templates.NAME.access]] entries with group = \"<security group object ID>\" and roles = [\"Directory Readers\", …]",
        );
    }
    let mut out: Vec<TemplateAccess> = Vec::new();
    for (i, entry) in raw.access.iter().enumerate() {
        let at = format!("{key}[{}]", i + 1);
        let group = match uuid::Uuid::parse_str(entry.group.trim()) {
            Ok(g) => g.to_string(),
            Err(_) => {
                *ok = false;
                c.fail(
                    &format!("{at}.group"),
                    format!("{:?} is not a group's object ID (a GUID)", entry.group.trim()),
                    "give the object ID of the security group in the partner tenant (Entra ID > Groups > Overview)",
                );
                continue;
            }
        };
        if out.iter().any(|a| a.group == group) {
            *ok = false;
            c.fail(
                &format!("{at}.group"),
                format!("the group {group} has two entries"),
                "merge their roles into one entry: Graph keeps one access assignment per group",
            );
        }
        if entry.roles.0.is_empty() {
            *ok = false;
            c.fail(
                &format!("{at}.roles"),
                "is empty",
                "name at least one role, e.g. roles = [\"Directory Readers\"]",
            );
        }
        let mut roles: Vec<String> = Vec::new();
        for role in &entry.roles.0 {
            match builtin_role(role) {
                Some((id, _)) if !roles.iter().any(|r| r == id) => roles.push(id.to_owned()),
                Some(_) => {}
                None => {
                    *ok = false;
                    c.fail(
                        &format!("{at}.roles"),
                        format!("{:?} is not a Microsoft Entra built-in role GDAP grants", role.trim()),
                        "use a built-in role's name or template ID (`csp-app templates roles` lists them; docs/microsoft-behaviour.md §7)",
                    );
                }
            }
        }
        out.push(TemplateAccess { group, roles });
    }
    out
}
