//! The keys the configuration knows: every dotted key, which of them hold secrets, and the
//! closest known key to a misspelt one.

use std::collections::BTreeSet;

use super::RawSettings;

/// Keys whose values are secrets: never printed, never written to a file, and better set
/// through the environment.
pub(crate) const SECRET_KEYS: &[&str] = &[
    "app.client_secret",
    "app.pkcs12_password",
    "consent.cookie_key",
    "store.local.key",
    "store.key_vault.client_secret",
    "watch.console.client_secret",
];

/// Whether a dotted key holds a secret (never printed; best set through the environment).
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// The environment variable that sets a dotted key: `store.local.key` → `SAM_STORE__LOCAL__KEY`.
pub fn env_var_of(key: &str) -> String {
    format!(
        "{}{}",
        super::ENV_PREFIX,
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// The keys of each `[templates.NAME]`, written with `*` for the name.
const TEMPLATE_KEYS: &[&str] = &[
    "templates.*.description",
    "templates.*.display_name",
    "templates.*.duration",
    "templates.*.auto_extend",
    "templates.*.access",
];

/// Every key the configuration knows, e.g. `store.key_vault.vault_url`; the keys of a named
/// section such as `[templates.NAME]` are written with `*` for the name (see [`generic_key`]).
pub fn known_keys() -> BTreeSet<String> {
    let value = serde_json::to_value(RawSettings::default()).unwrap_or_default();
    let mut keys = BTreeSet::new();
    collect_keys(&value, String::new(), &mut keys);
    keys.extend(TEMPLATE_KEYS.iter().map(|k| (*k).to_owned()));
    keys
}

/// A key with the name of a named section replaced by `*`: `templates.helpdesk.duration` →
/// `templates.*.duration`; other keys as they are.
pub fn generic_key(key: &str) -> String {
    match key.split_once('.') {
        Some(("templates", rest)) => match rest.split_once('.') {
            Some((_, field)) => format!("templates.*.{field}"),
            None => key.to_owned(),
        },
        _ => key.to_owned(),
    }
}

/// The top-level keys and sections: `mode`, `app`, `partner`, `cloud`, ….
pub(crate) fn top_level_keys() -> BTreeSet<String> {
    known_keys()
        .into_iter()
        .map(|k| k.split('.').next().unwrap_or_default().to_owned())
        .collect()
}

/// The sections (`app`, `store.local`, …): keys that hold other keys.
pub(crate) fn sections(known: &BTreeSet<String>) -> BTreeSet<String> {
    known
        .iter()
        .filter_map(|k| k.rsplit_once('.').map(|(s, _)| s.to_owned()))
        .collect()
}

fn collect_keys(value: &serde_json::Value, prefix: String, keys: &mut BTreeSet<String>) {
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_object() {
                collect_keys(v, key, keys);
            } else {
                keys.insert(key);
            }
        }
    }
}

/// The known key closest to `key` (at most three edits away), to suggest for a misspelling.
pub(crate) fn closest<'a>(key: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), k))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("client_idd", "client_id"), 1);
        assert_eq!(edit_distance("clientid", "client_id"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn a_misspelt_key_suggests_the_closest_known_key() {
        let known = known_keys();
        assert_eq!(closest("app.client_idd", &known), Some("app.client_id"));
        assert_eq!(closest("something.else.entirely", &known), None);
    }

    #[test]
    fn every_secret_key_is_a_known_key() {
        let known = known_keys();
        for key in SECRET_KEYS {
            assert!(known.contains(*key), "{key}");
        }
        assert_eq!(env_var_of("store.local.key"), "SAM_STORE__LOCAL__KEY");
    }
}
