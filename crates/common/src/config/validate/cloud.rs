//! `[cloud]`: a national cloud's preset endpoints, overridden key by key, or every endpoint of
//! a `custom` cloud.

use url::Url;

use super::checker::{Checker, set};
use crate::cloud::{CloudEndpoints, CloudName};
use crate::config::RawSettings;

impl RawSettings {
    /// `[cloud]`: the named cloud's endpoints with the overrides applied.
    pub(super) fn validate_cloud(&self, c: &mut Checker<'_>) -> Option<CloudEndpoints> {
        let name = c.word::<CloudName>("cloud.name", &self.cloud.name, None, "")?;
        let custom = name == CloudName::Custom;
        let mut base = CloudEndpoints::preset(name).unwrap_or_else(|| CloudEndpoints {
            name,
            authority_host: Url::parse("https://invalid.invalid").expect("static URL"),
            graph: Url::parse("https://invalid.invalid").expect("static URL"),
            partner_center: Url::parse("https://invalid.invalid").expect("static URL"),
            key_vault_dns_suffix: String::new(),
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
