//! Writing a configuration file from [`RawSettings`]: the same keys the loader reads, so what is
//! written loads back to the same settings.

use toml::{Table, Value};

use super::RawSettings;
use super::keys::{env_var_of, is_secret_key};
use super::{KeyVaultIdentityKind, StoreKind};

/// Renders `raw` as a TOML configuration file, headed by `header` (each line becomes a `#`
/// comment).
///
/// - A key whose value is empty is left out when its built-in default is empty too ("unset");
///   when the default is not empty it is written as `""`, so that loading gives the empty value
///   back.
/// - Secret keys (see [`is_secret_key`](super::is_secret_key)) are never written: the header
///   names the environment variable to set instead, for each secret that is set in `raw` or
///   that the configured Key Vault identity needs.
///
/// Loading the result through [`load`](super::load) (as `--config FILE`, over no other file)
/// gives back `raw` with its secrets cleared.
pub fn render_toml(raw: &RawSettings, header: &str) -> String {
    let defaults = to_table(&RawSettings::default());
    let mut table = to_table(raw);
    let mut secrets = Vec::new();
    prune(&mut table, Some(&defaults), "", &mut secrets);
    let needs_kv_secret = raw.store.kind.parse() == Ok(StoreKind::KeyVault)
        && raw.store.key_vault.identity.parse() == Ok(KeyVaultIdentityKind::ClientSecret);
    if needs_kv_secret && !secrets.iter().any(|k| k == "store.key_vault.client_secret") {
        secrets.push("store.key_vault.client_secret".to_owned());
    }

    let mut out = String::new();
    for line in header.lines() {
        out.push_str(comment(line).as_str());
    }
    if !secrets.is_empty() {
        out.push_str("# Secrets are never written here; set them in the environment:\n");
        for key in &secrets {
            out.push_str(&format!("#   {} ({key})\n", env_var_of(key)));
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&toml::to_string_pretty(&table).unwrap_or_default());
    out
}

fn comment(line: &str) -> String {
    if line.trim().is_empty() {
        "#\n".to_owned()
    } else {
        format!("# {line}\n")
    }
}

fn to_table(raw: &RawSettings) -> Table {
    // Every field is a string, a list of strings or a section of them: TOML holds them all.
    Table::try_from(raw).unwrap_or_default()
}

/// Drops unset values, secrets (recording their keys) and sections left empty.
fn prune(table: &mut Table, defaults: Option<&Table>, prefix: &str, secrets: &mut Vec<String>) {
    table.retain(|name, value| {
        let key = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        let default = defaults.and_then(|d| d.get(name));
        if is_secret_key(&key) {
            if !is_empty(value) {
                secrets.push(key);
            }
            return false;
        }
        match value {
            Value::Table(inner) => {
                prune(inner, default.and_then(Value::as_table), &key, secrets);
                !inner.is_empty()
            }
            _ => !is_empty(value) || default.is_some_and(|d| !is_empty(d)),
        }
    });
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Table(t) => t.is_empty(),
        _ => false,
    }
}
