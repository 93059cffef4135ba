//! The configuration file `setup` writes, edited in place: the keys `setup` owns are set (or
//! removed), every other key and every comment stays as the operator wrote it. Nothing secret is
//! written. A dry run computes the same edit and reports it as a unified diff.

use std::path::Path;

use common::cloud::{CloudEndpoints, CloudName};
use common::config::{self, AppMode, KeyVaultIdentity, StoreSettings};
use toml_edit::{Array, DocumentMut, Item, Table, TableLike, Value};

use super::report::{Change, Plan, SetupError};
use super::{AdminSession, CertificateChoice, CertificatePlan, SetupOptions, certificate, diff};

/// What a key should be after `setup`.
enum Want {
    Text(String),
    List(Vec<String>),
    Absent,
}

/// The header of a file `setup` creates.
const HEADER: &str = "# Written by `setup` (crate admin). It holds no secret: the private key stays in\n\
# its own file (mode 0600). Check it with `doctor`; see docs/setup-azure.md.\n\
# `setup` edits this file in place: it updates the keys it owns and keeps every other key and\n\
# comment. Relative paths resolve against this file (docs/configuration.md).\n";

pub(super) fn write_configuration(
    session: &AdminSession,
    options: &SetupOptions,
    app_id: Option<&str>,
    certificate: &CertificatePlan,
    plan: &mut Plan,
) -> Result<(), SetupError> {
    let path = &options.config_path;
    let current = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(SetupError::File {
                path: path.clone(),
                source,
            });
        }
    };
    let mut doc: DocumentMut = current
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|e| {
            SetupError::Ambiguous(format!(
                "{} is not valid TOML, so setup cannot edit it in place ({e}); correct it or \
                 write another file with --write-config",
                path.display()
            ))
        })?;
    let wanted = wanted(
        options,
        &session.tenant_id,
        app_id.unwrap_or("(created by setup)"),
        &certificate.key_path,
    );
    let mut changed = Vec::new();
    for (key, want) in &wanted {
        if apply(&mut doc, key, want)? {
            changed.push(key.clone());
        }
    }
    let text = match &current {
        Some(_) => doc.to_string(),
        None => format!("{HEADER}{}\n{doc}", secrets_note(options)),
    };
    let old = current.clone().unwrap_or_default();
    let change = match &current {
        Some(c) if *c == text => Change::Unchanged,
        Some(_) => Change::Update,
        None => Change::Create,
    };
    if change != Change::Unchanged && !plan.dry_run {
        check_written(options, &text)?;
        certificate::write_private(path, text.as_bytes())?;
    }
    let shown = path.display().to_string();
    plan.config_diff = diff::unified(
        &redact(&old),
        &redact(&text),
        &shown,
        &format!("{shown} (after setup)"),
    );
    let detail = if changed.is_empty() {
        shown
    } else {
        format!("{shown}; keys: {}", changed.join(", "))
    };
    plan.config_keys = changed;
    plan.push("configuration file", change, detail);
    Ok(())
}

/// Loads `text` as the binaries will (beside the file, so its relative paths resolve the same)
/// and refuses it when it does not validate or a binary would refuse to start with it.
fn check_written(options: &SetupOptions, text: &str) -> Result<(), SetupError> {
    let path = &options.config_path;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let probe = path.with_file_name(format!(".{name}.setup-check"));
    certificate::write_private(&probe, text.as_bytes())?;
    let loaded = config::load(&config::LoadOptions {
        profile: None,
        config_file: Some(probe.clone()),
        config_dir: options.config_dir.clone(),
        set: Vec::new(),
        log_format: None,
    })
    .and_then(|l| l.validate());
    drop(std::fs::remove_file(&probe));
    let refused =
        |why: String| SetupError::Refused(format!("{} was not written: {why}", path.display()));
    let settings = loaded.map_err(|report| {
        refused(format!(
            "the configuration setup would write does not validate:\n{report}"
        ))
    })?;
    match settings.refusals().first() {
        Some(r) => Err(refused(format!(
            "{} would refuse to start: {}",
            r.binary, r.message
        ))),
        None => Ok(()),
    }
}

/// `text` with the value of every secret key (`app.client_secret`, `store.local.key`, …) a
/// person wrote into the file replaced, so the diff never shows a secret.
fn redact(text: &str) -> String {
    let mut section = String::new();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(header) = trimmed.strip_prefix('[') {
            section = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
        }
        let key = trimmed
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"'))
            .filter(|k| !k.is_empty() && !trimmed.starts_with('#') && !trimmed.starts_with('['));
        let dotted = key.map(|k| {
            if section.is_empty() {
                k.to_owned()
            } else {
                format!("{section}.{k}")
            }
        });
        match (key, dotted) {
            (Some(k), Some(d)) if config::is_secret_key(&d) => {
                let indent = &line[..line.len() - trimmed.len()];
                out.push_str(&format!("{indent}{k} = \"[redacted]\""));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The note on secrets of a new file: the environment variables to set instead.
fn secrets_note(options: &SetupOptions) -> String {
    match &options.store {
        Some(StoreSettings::KeyVault(kv))
            if matches!(kv.identity, KeyVaultIdentity::ClientSecret { .. }) =>
        {
            format!(
                "# Secrets are never written here; set them in the environment:\n#   {} (store.key_vault.client_secret)\n",
                config::env_var_of("store.key_vault.client_secret")
            )
        }
        _ => String::new(),
    }
}

/// The keys `setup` owns, with their values: the app, the partner, the cloud, the consent
/// redirect, and the non-secret store and HTTP keys carried over. Paths are written relative to
/// the directory they resolve against in this file ([`config::path_base`]) when under it.
fn wanted(options: &SetupOptions, tenant: &str, app_id: &str, key: &Path) -> Vec<(String, Want)> {
    let base = config::path_base(&options.config_path, &options.config_dir);
    let path = |p: &Path| Want::Text(config::path_for_file(p, &base).display().to_string());
    let text = |s: &str| Want::Text(s.to_owned());
    let cert = match &options.certificate {
        CertificateChoice::Existing { certificate, .. } => certificate.as_path(),
        CertificateChoice::Generate { path, .. } => path.as_path(),
    };
    let mut out: Vec<(&'static str, Want)> = vec![
        ("mode", Want::Text(options.mode.to_string())),
        ("app.client_id", text(app_id)),
        ("app.display_name", text(&options.display_name)),
        ("app.certificate_path", path(cert)),
        ("app.private_key_path", path(key)),
        ("app.pkcs12_path", Want::Absent),
        ("app.pkcs12_password", Want::Absent),
        ("app.client_secret", Want::Absent),
        ("app.certificate_secret", Want::Absent),
        ("partner.tenant_id", text(tenant)),
    ];
    if options.mode == AppMode::Cpv {
        out.push((
            "partner.allowed_tenants",
            Want::List(options.allowed_tenants.clone()),
        ));
    }
    let c = &options.cloud;
    out.push(("cloud.name", text(c.name.as_str())));
    let custom = c.name == CloudName::Custom;
    for (k, v) in [
        ("cloud.authority_host", c.authority_host.to_string()),
        ("cloud.graph_url", c.graph.to_string()),
        ("cloud.partner_center_url", c.partner_center.to_string()),
        ("cloud.key_vault_dns_suffix", c.key_vault_dns_suffix.clone()),
    ] {
        out.push((k, if custom { Want::Text(v) } else { Want::Absent }));
    }
    // The audiences are written only when they differ from the cloud's own (Microsoft's App ID
    // URIs, which the local profile and production use alike).
    let defaults = CloudEndpoints::preset(c.name).unwrap_or_else(|| {
        CloudEndpoints::custom(
            c.authority_host.clone(),
            c.graph.clone(),
            c.partner_center.clone(),
            c.key_vault_dns_suffix.clone(),
        )
    });
    for (k, v, default) in [
        (
            "cloud.graph_audience",
            &c.graph_audience,
            &defaults.graph_audience,
        ),
        (
            "cloud.partner_center_audience",
            &c.partner_center_audience,
            &defaults.partner_center_audience,
        ),
    ] {
        let want = if v == default {
            Want::Absent
        } else {
            Want::Text(v.clone())
        };
        out.push((k, want));
    }
    out.push((
        "entra.endpoint_version",
        Want::Text(options.endpoint_version.to_string()),
    ));
    out.push(("consent.redirect_url", text(options.redirect_url.as_str())));
    store_keys(options, &path, &mut out);
    if let Some(ca) = &options.ca_bundle {
        out.push(("http.ca_bundle", path(ca)));
    }
    out.into_iter().map(|(k, w)| (k.to_owned(), w)).collect()
}

/// The non-secret store keys carried into the file.
fn store_keys(
    options: &SetupOptions,
    path: &dyn Fn(&Path) -> Want,
    out: &mut Vec<(&'static str, Want)>,
) {
    let text = |s: &str| Want::Text(s.to_owned());
    match &options.store {
        Some(StoreSettings::KeyVault(kv)) => {
            out.push(("store.kind", text("key-vault")));
            out.push(("store.key_vault.vault_url", text(kv.vault_url.as_str())));
            out.push(("store.key_vault.secret_prefix", text(&kv.secret_prefix)));
            out.push((
                "store.key_vault.identity",
                Want::Text(kv.identity.kind().to_string()),
            ));
            if let Some(t) = kv.identity.tenant_id() {
                out.push(("store.key_vault.tenant_id", text(t)));
            }
            if let Some(c) = kv.identity.client_id() {
                out.push(("store.key_vault.client_id", text(c)));
            }
            if let KeyVaultIdentity::ClientCertificate {
                certificate,
                private_key,
                ..
            } = &kv.identity
            {
                out.push(("store.key_vault.certificate_path", path(certificate)));
                out.push(("store.key_vault.private_key_path", path(private_key)));
            }
        }
        Some(StoreSettings::Local(l)) => {
            out.push(("store.kind", text("local")));
            out.push(("store.local.path", path(&l.path)));
            out.push(("store.local.key_file", path(&l.key_file)));
        }
        None => {}
    }
}

/// Sets (or removes) one dotted key, keeping the comment beside its value; `true` when the file
/// changed.
fn apply(doc: &mut DocumentMut, key: &str, want: &Want) -> Result<bool, SetupError> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let name = parts.pop().unwrap_or_default();
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    for section in parts {
        if matches!(want, Want::Absent) && table.get(section).is_none() {
            return Ok(false);
        }
        let item = table.entry(section).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = item.as_table_like_mut().ok_or_else(|| {
            SetupError::Ambiguous(format!(
                "the configuration file's {section} is not a table, so setup cannot set {key}; \
                 correct the file"
            ))
        })?;
    }
    let new = match want {
        Want::Absent => return Ok(table.remove(name).is_some()),
        Want::Text(s) => Value::from(s.as_str()),
        Want::List(l) => Value::Array(l.iter().map(String::as_str).collect::<Array>()),
    };
    match table.get_mut(name) {
        Some(item) if same(item, want) => Ok(false),
        Some(item) => {
            let mut new = new;
            if let Some(old) = item.as_value() {
                *new.decor_mut() = old.decor().clone();
            }
            *item = Item::Value(new);
            Ok(true)
        }
        None => {
            table.insert(name, Item::Value(new));
            Ok(true)
        }
    }
}

fn same(item: &Item, want: &Want) -> bool {
    match want {
        Want::Text(s) => item.as_str() == Some(s.as_str()),
        Want::List(l) => item.as_array().is_some_and(|a| {
            a.len() == l.len() && a.iter().zip(l).all(|(v, w)| v.as_str() == Some(w.as_str()))
        }),
        Want::Absent => false,
    }
}
