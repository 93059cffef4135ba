//! GDAP's documented rules, as vocabulary every layer may use: Microsoft Entra's built-in role
//! template IDs (the roles a relationship grants), the display-name limit, the duration bounds
//! and the auto-extension values of `delegatedAdminRelationship`
//! (`docs/microsoft-behaviour.md` §6.2 and §7). The configuration validates role templates
//! against these before anything is sent; the Graph client checks a new relationship with them.
//! Imports nothing of the crate.

/// Role template ID of Global Administrator, which Microsoft does not allow with auto-extension.
pub const GLOBAL_ADMINISTRATOR_ROLE: &str = "62e90394-69f5-4237-9190-012177145e10";

/// The longest display name Graph accepts.
pub const MAX_DISPLAY_NAME: usize = 50;
/// The documented bounds of `duration`: `P1D` … `P2Y` (730 days).
pub const MIN_DAYS: f64 = 1.0;
/// The longest `duration`, in days (`P2Y`).
pub const MAX_DAYS: f64 = 730.0;
/// The documented values of `autoExtendDuration`.
pub const AUTO_EXTEND: [&str; 3] = ["PT0S", "P0D", "P180D"];

/// Built-in Microsoft Entra roles partners commonly grant through GDAP: (template ID, name)
/// ("Microsoft Entra built-in roles", learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
pub const BUILT_IN_ROLES: &[(&str, &str)] = &[
    (GLOBAL_ADMINISTRATOR_ROLE, "Global Administrator"),
    ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
    ("88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"),
    ("9360feb5-f418-4baa-8175-e2a00bac4301", "Directory Writers"),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
    ),
    (
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
        "Intune Administrator",
    ),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    ("5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    (
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
        "License Administrator",
    ),
    (
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
    ),
    (
        "69091246-20e8-4a56-aa4d-066075b2a7a8",
        "Teams Administrator",
    ),
    (
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
    ),
    (
        "f023fd81-a637-4b56-95fd-791ac0226033",
        "Service Support Administrator",
    ),
    ("4a5d8f65-41da-4de4-8968-e035b65339cf", "Reports Reader"),
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
    ),
    (
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
    ),
];

/// A role given by name (case-insensitive, as in [`BUILT_IN_ROLES`]) or by template ID (any
/// GUID, lower-cased); `None` when it is neither.
pub fn role_template_id(name_or_id: &str) -> Option<String> {
    let wanted = name_or_id.trim();
    if uuid::Uuid::parse_str(wanted).is_ok() {
        return Some(wanted.to_ascii_lowercase());
    }
    BUILT_IN_ROLES
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(wanted))
        .map(|(id, _)| (*id).to_owned())
}

/// A built-in role of [`BUILT_IN_ROLES`] by name (case-insensitive) or template ID (any case):
/// `(template ID, name)`; `None` when the table has no such role.
pub fn builtin_role(name_or_id: &str) -> Option<(&'static str, &'static str)> {
    let wanted = name_or_id.trim();
    BUILT_IN_ROLES
        .iter()
        .find(|(id, name)| id.eq_ignore_ascii_case(wanted) || name.eq_ignore_ascii_case(wanted))
        .copied()
}

/// The name of a built-in role template ID, or the ID itself when it is not in
/// [`BUILT_IN_ROLES`].
pub fn role_name(template_id: &str) -> String {
    BUILT_IN_ROLES
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(template_id))
        .map_or_else(|| template_id.to_owned(), |(_, name)| (*name).to_owned())
}

/// The length of an ISO 8601 duration (`PnYnMnWnDTnHnMnS`) in days, counting a year as 365 days
/// and a month as 30 (how Graph reads `P2Y` as 730 days); `None` if it is not one.
pub fn iso8601_days(duration: &str) -> Option<f64> {
    let rest = duration.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut days = 0.0;
    let mut number = String::new();
    for c in date.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        days += n * match c {
            'Y' => 365.0,
            'M' => 30.0,
            'W' => 7.0,
            'D' => 1.0,
            _ => return None,
        };
    }
    if !number.is_empty() {
        return None;
    }
    for c in time.unwrap_or_default().chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        days += n / match c {
            'H' => 24.0,
            'M' => 1_440.0,
            'S' => 86_400.0,
            _ => return None,
        };
    }
    if !number.is_empty() {
        return None;
    }
    Some(days)
}
