//! Checks that each turn one raw value into a typed one, or record a problem naming the key,
//! where the value came from and the fix.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::config::{ConfigProblem, Words};

/// Collects problems while the sections are validated.
pub(super) struct Checker<'a> {
    origin: &'a dyn Fn(&str) -> String,
    pub(super) problems: Vec<ConfigProblem>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(origin: &'a dyn Fn(&str) -> String) -> Self {
        Self {
            origin,
            problems: Vec::new(),
        }
    }

    /// Parses an enumerated value; an empty value is `default`, when there is one. `hint`
    /// follows the list of accepted values in the fix.
    pub(super) fn word<T: Words>(
        &mut self,
        key: &str,
        value: &str,
        default: Option<T>,
        hint: &str,
    ) -> Option<T> {
        if value.trim().is_empty()
            && let Some(default) = default
        {
            return Some(default);
        }
        match T::parse_word(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(key, e.problem(), format!("{}{hint}", e.fix()));
                None
            }
        }
    }

    pub(super) fn fail(&mut self, key: &str, problem: impl Into<String>, fix: impl Into<String>) {
        self.problems.push(ConfigProblem {
            key: key.into(),
            origin: (self.origin)(key),
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    pub(super) fn url(&mut self, key: &str, value: &str, fix: &str) -> Option<Url> {
        let value = value.trim();
        if value.is_empty() {
            self.fail(key, "is empty", fix);
            return None;
        }
        match Url::parse(value) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Some(u),
            Ok(u) => {
                self.fail(
                    key,
                    format!("{value:?} uses the scheme {:?}", u.scheme()),
                    fix,
                );
                None
            }
            Err(e) => {
                self.fail(key, format!("{value:?} is not a URL ({e})"), fix);
                None
            }
        }
    }

    pub(super) fn https_url(&mut self, key: &str, value: &str, fix: &str) -> Option<Url> {
        let url = self.url(key, value, fix)?;
        if url.scheme() != "https" {
            self.fail(
                key,
                format!("{value:?} is not https"),
                format!("{fix}; Microsoft endpoints and Key Vault require https"),
            );
            return None;
        }
        Some(url)
    }

    pub(super) fn duration(&mut self, key: &str, value: &str) -> Option<Duration> {
        match humantime::parse_duration(value.trim()) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.fail(
                    key,
                    "is zero",
                    "give a positive duration such as \"30s\" or \"2m\"",
                );
                None
            }
            Err(e) => {
                self.fail(
                    key,
                    format!("{value:?} is not a duration ({e})"),
                    "write a duration such as \"10s\", \"500ms\" or \"2m\"",
                );
                None
            }
        }
    }

    pub(super) fn readable_file(&mut self, key: &str, value: &str, what: &str) -> Option<PathBuf> {
        let path = PathBuf::from(value.trim());
        match std::fs::File::open(&path) {
            Ok(_) if path.is_file() => Some(path),
            Ok(_) => {
                self.fail(
                    key,
                    format!("{} is not a regular file", path.display()),
                    format!("point it at the {what}"),
                );
                None
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.fail(
                    key,
                    format!("the file {} does not exist", path.display()),
                    format!("point it at the {what}, or create it"),
                );
                None
            }
            Err(e) => {
                self.fail(
                    key,
                    format!("the file {} cannot be read: {e}", path.display()),
                    format!(
                        "give this process read access to the {what} (e.g. chmod/chown), or move it"
                    ),
                );
                None
            }
        }
    }

    pub(super) fn tenant(&mut self, key: &str, value: &str, allow_multi: bool) -> Option<String> {
        let v = value.trim();
        let is_guid = uuid::Uuid::parse_str(v).is_ok();
        let is_domain = v.contains('.')
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let is_multi = matches!(v, "common" | "organizations");
        if is_guid || is_domain || (allow_multi && is_multi) {
            Some(v.to_owned())
        } else {
            let fix = if allow_multi {
                "use \"common\", \"organizations\", the partner tenant ID (a GUID) or its domain (contoso.onmicrosoft.com)"
            } else {
                "use the tenant ID (a GUID, Entra ID > Overview > Tenant ID) or its domain (contoso.onmicrosoft.com)"
            };
            self.fail(
                key,
                if v.is_empty() {
                    "is empty".to_owned()
                } else {
                    format!("{v:?} is not a tenant ID or domain")
                },
                fix,
            );
            None
        }
    }
}

/// The trimmed value, unless it is empty.
pub(super) fn set(value: &str) -> Option<&str> {
    let v = value.trim();
    (!v.is_empty()).then_some(v)
}

/// Decodes base64 in any of the usual alphabets and paddings.
pub(super) fn decode_base64(value: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let v = value.trim();
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(v))
        .ok()
}
