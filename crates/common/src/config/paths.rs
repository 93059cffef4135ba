//! Relative paths in a configuration file resolve against the file, not the working directory:
//!
//! - in a file of the configuration directory (`default.toml`, `<profile>.toml`, or a
//!   `--config FILE` kept there), against the configuration directory's parent, the deployment's
//!   root (`config/` under it; `.sam-local/` and `secrets/` beside it);
//! - in any other `--config FILE`, against that file's directory.
//!
//! Paths from built-in defaults, the built-in local profile, environment variables and `--set`
//! stay relative to the working directory. So a binary started from another directory with
//! `--config /srv/sam/production.toml` finds `/srv/sam/secrets/app.pem` for
//! `certificate_path = "secrets/app.pem"`.

use std::path::{Component, Path, PathBuf};

use figment::{Figment, Source};

use super::RawSettings;

/// The keys that hold a file path.
pub const PATH_KEYS: &[&str] = &[
    "app.certificate_path",
    "app.private_key_path",
    "app.pkcs12_path",
    "store.local.path",
    "store.local.key_file",
    "store.key_vault.certificate_path",
    "store.key_vault.private_key_path",
    "store.key_vault.federated_token_file",
    "http.ca_bundle",
];

/// The directory that relative paths written in `file` resolve against, given the
/// configuration directory `config_dir` (see the module docs). Relative when both are.
pub fn path_base(file: &Path, config_dir: &Path) -> PathBuf {
    let parent = file.parent().unwrap_or_else(|| Path::new(""));
    if same_dir(parent, config_dir) {
        return config_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
    }
    parent.to_path_buf()
}

/// `path` (relative to the working directory, or absolute) as it is to be written in a file whose
/// paths resolve against `base`: relative to `base` when it lies under it, else absolute.
pub fn path_for_file(path: &Path, base: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    let absolute = normalize(&cwd.join(path));
    let base = normalize(&cwd.join(base));
    match absolute.strip_prefix(&base) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => absolute,
    }
}

/// Rewrites each relative path that a file set against that file's base.
pub(super) fn resolve(figment: &Figment, raw: &mut RawSettings, config_dir: &Path) {
    for key in PATH_KEYS {
        let Some(Source::File(file)) = figment.find_metadata(key).and_then(|m| m.source.as_ref())
        else {
            continue;
        };
        let base = path_base(file, config_dir);
        if let Some(value) = field(raw, key)
            && !value.trim().is_empty()
            && Path::new(value.as_str()).is_relative()
            && !base.as_os_str().is_empty()
        {
            *value = base.join(value.as_str()).display().to_string();
        }
    }
}

fn field<'a>(raw: &'a mut RawSettings, key: &str) -> Option<&'a mut String> {
    Some(match key {
        "app.certificate_path" => &mut raw.app.certificate_path,
        "app.private_key_path" => &mut raw.app.private_key_path,
        "app.pkcs12_path" => &mut raw.app.pkcs12_path,
        "store.local.path" => &mut raw.store.local.path,
        "store.local.key_file" => &mut raw.store.local.key_file,
        "store.key_vault.certificate_path" => &mut raw.store.key_vault.certificate_path,
        "store.key_vault.private_key_path" => &mut raw.store.key_vault.private_key_path,
        "store.key_vault.federated_token_file" => &mut raw.store.key_vault.federated_token_file,
        "http.ca_bundle" => &mut raw.http.ca_bundle,
        _ => return None,
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
    };
    canonical(a) == canonical(b)
}

/// `.` and `..` removed lexically (no file-system access).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
