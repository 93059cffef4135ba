//! `[cloud]`: a national cloud's preset endpoints, overridden key by key, or every endpoint of
//! a `custom` cloud. The audiences (`cloud.graph_audience`, `cloud.partner_center_audience`) are
//! optional everywhere: a preset's own, or Microsoft's global App ID URIs for `custom`.

use url::Url;

use super::checker::{Checker, set};
use crate::cloud::{CloudEndpoints, CloudName};
use crate::config::RawSettings;

impl RawSettings {
    /// `[cloud]`: the named cloud's endpoints with the overrides applied.
    pub(super) fn validate_cloud(&self, c: &mut Checker<'_>) -> Option<CloudEndpoints> {
        let name = c.word::<CloudName>("cloud.name", &self.cloud.name, None, "")?;
        let custom = name == CloudName::Custom;
        let mut base = CloudEndpoints::preset(name).unwrap_or_else(|| {
            let unset = Url::parse("https://invalid.invalid").expect("static URL");
            CloudEndpoints::custom(unset.clone(), unset.clone(), unset, String::new())
        });
        let mut ok = true;
        let fix_custom = |what: &str| {
            format!("with cloud.name = \"custom\" every endpoint must be given: set {what}")
        };
        for (key, value, slot) in [
            (
                "cloud.authority_host",
                &self.cloud.authority_host,
                &mut base.authority_host,
            ),
            ("cloud.graph_url", &self.cloud.graph_url, &mut base.graph),
            (
                "cloud.partner_center_url",
                &self.cloud.partner_center_url,
                &mut base.partner_center,
            ),
        ] {
            match (set(value), custom) {
                (Some(v), _) => match c.https_url(key, v, "give the https base URL") {
                    Some(u) => *slot = u,
                    None => ok = false,
                },
                (None, true) => {
                    c.fail(key, "is empty", fix_custom(key));
                    ok = false;
                }
                (None, false) => {}
            }
        }
        for (key, value, slot) in [
            (
                "cloud.graph_audience",
                &self.cloud.graph_audience,
                &mut base.graph_audience,
            ),
            (
                "cloud.partner_center_audience",
                &self.cloud.partner_center_audience,
                &mut base.partner_center_audience,
            ),
        ] {
            if let Some(v) = set(value) {
                match audience(c, key, v) {
                    Some(uri) => *slot = uri,
                    None => ok = false,
                }
            }
        }
        match (set(&self.cloud.key_vault_dns_suffix), custom) {
            (Some(v), _) if v.contains('/') || v.starts_with('.') => {
                c.fail(
                    "cloud.key_vault_dns_suffix",
                    format!("{v:?} is not a DNS suffix"),
                    "write just the suffix, e.g. vault.azure.net (optionally with :port)",
                );
                ok = false;
            }
            (Some(v), _) => base.key_vault_dns_suffix = v.to_owned(),
            (None, true) => {
                c.fail(
                    "cloud.key_vault_dns_suffix",
                    "is empty",
                    fix_custom("cloud.key_vault_dns_suffix"),
                );
                ok = false;
            }
            (None, false) => {}
        }
        ok.then_some(base)
    }
}

/// An API's audience: the App ID URI Entra issues its tokens for (docs/microsoft-behaviour.md
/// §6.1a), HTTPS with a host and nothing after the path; returned without a trailing slash, as
/// v1 tokens carry it in `aud`.
fn audience(c: &mut Checker<'_>, key: &str, value: &str) -> Option<String> {
    const FIX: &str = "give the API's App ID URI as Entra knows it, e.g. \
                       https://api.partnercenter.microsoft.com or https://graph.microsoft.com \
                       (not the URL of a gateway in front of it)";
    let url = c.https_url(key, value, FIX)?;
    let problem = if url.host_str().is_none_or(str::is_empty) {
        Some("has no host")
    } else if url.query().is_some() || url.fragment().is_some() {
        Some("has a query or fragment, which an App ID URI does not")
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("carries a user name or password")
    } else {
        None
    };
    if let Some(problem) = problem {
        c.fail(key, format!("{value:?} {problem}"), FIX);
        return None;
    }
    Some(value.trim().trim_end_matches('/').to_owned())
}
