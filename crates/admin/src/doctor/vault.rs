//! The refresh-token store: reachable, and (Key Vault) allowed no more than get and set.
//!
//! Key Vault's data plane does not tell an identity its own permissions, so breadth is probed
//! with requests that change nothing whatever the answer: list one secret name, and delete,
//! purge and recover a secret name that does not exist (a random `sam-doctor-probe-…`). Key
//! Vault checks the access policy (or RBAC role) before looking the secret up, so 403 means
//! "not allowed" and 404 means "allowed". `set` is not probed (it would write); the token
//! checks prove it by storing the rotated refresh token. Limits (docs/operations.md): the
//! probes see only the data-plane secret permissions of this identity — not key or certificate
//! permissions, not management-plane roles (who can change the policy), not other identities.

use std::sync::Arc;

use super::report::{Check, Status, check};
use common::cloud::Resource;
use common::config::{KeyVaultIdentity, KeyVaultSettings, Settings, StoreSettings};
use common::secret::{AccessToken, ExposeSecret as _};

pub(super) async fn store_checks(
    settings: &Settings,
    http: &reqwest::Client,
    partner: Option<&str>,
    checks: &mut Vec<Check>,
) {
    let kv = match &settings.store {
        StoreSettings::Local(l) => {
            checks.push(check(
                "store.reachable",
                Status::Pass,
                format!(
                    "local encrypted file {} (for local use; production: Key Vault)",
                    l.path.display()
                ),
                None,
            ));
            return;
        }
        StoreSettings::KeyVault(kv) => kv,
    };
    let token = match vault_token(settings, kv, http).await {
        Ok(t) => {
            checks.push(check(
                "store.identity",
                Status::Pass,
                format!(
                    "Key Vault access identity: {}; it obtained a Key Vault token",
                    identity_words(&kv.identity)
                ),
                None,
            ));
            t
        }
        Err(e) => {
            checks.push(check(
                "store.reachable",
                Status::Fail,
                format!("cannot get a Key Vault token for the store identity, {}: {e}", identity_words(&kv.identity)),
                Some("check store.key_vault.identity, tenant_id, client_id and its credential (docs/setup-azure.md)".into()),
            ));
            return;
        }
    };
    let vault = Vault { http, kv, token };
    if vault.reachable_check(partner, checks).await {
        checks.push(vault.least_privilege_check().await);
    }
}

/// The store's vault, as the store identity.
struct Vault<'a> {
    http: &'a reqwest::Client,
    kv: &'a KeyVaultSettings,
    token: AccessToken,
}

impl Vault<'_> {
    /// Sends a body-less request to `{vault}/{path}?api-version=…`; the status.
    async fn send(&self, method: reqwest::Method, path: &str) -> Result<u16, String> {
        let base = self.kv.vault_url.as_str().trim_end_matches('/');
        let api = if self.kv.api_version.is_empty() {
            "7.5"
        } else {
            self.kv.api_version.as_str()
        };
        let url = format!(
            "{base}/{path}{}api-version={api}",
            if path.contains('?') { "&" } else { "?" }
        );
        self.http
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
            .header("content-length", "0")
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }

    /// get: the partner's own secret (404 still proves get is allowed). Whether the vault
    /// answered at all (the probes follow only then).
    async fn reachable_check(&self, partner: Option<&str>, checks: &mut Vec<Check>) -> bool {
        let kv = self.kv;
        let name = partner.map(|p| common::tokens::secret_name(&kv.secret_prefix, p));
        let get_path = format!("secrets/{}", name.as_deref().unwrap_or("sam-doctor-probe"));
        let status = match self.send(reqwest::Method::GET, &get_path).await {
            Ok(status) => status,
            Err(e) => {
                checks.push(check(
                    "store.reachable",
                    Status::Fail,
                    format!("Key Vault {} unreachable: {e}", kv.vault_url),
                    Some("check store.key_vault.vault_url, DNS and the firewall".into()),
                ));
                return false;
            }
        };
        if status == 404
            && let Some(name) = &name
        {
            self.deleted_secret_check(name, checks).await;
        }
        checks.push(match status {
            200 | 404 => check(
                "store.reachable",
                Status::Pass,
                format!("Key Vault {} reachable; get allowed", kv.vault_url),
                None,
            ),
            403 => check(
                "store.reachable",
                Status::Fail,
                format!("Key Vault {} refuses get (403)", kv.vault_url),
                Some(
                    "give the store identity Get and Set on secrets (docs/setup-azure.md, Key Vault)"
                        .into(),
                ),
            ),
            s => check(
                "store.reachable",
                Status::Fail,
                format!("Key Vault {} answered HTTP {s}", kv.vault_url),
                None,
            ),
        });
        true
    }

    /// The partner's secret absent: whether it is deleted but recoverable (soft delete), which
    /// makes Key Vault refuse to store a consent under its name (409
    /// `ObjectIsDeletedButRecoverable`, docs/microsoft-behaviour.md §4.4). Reading a deleted
    /// secret needs the `list` permission: without it nothing is reported.
    async fn deleted_secret_check(&self, name: &str, checks: &mut Vec<Check>) {
        if let Ok(200) = self
            .send(reqwest::Method::GET, &format!("deletedsecrets/{name}"))
            .await
        {
            checks.push(check(
                "store.deleted_secret",
                Status::Fail,
                format!(
                    "secret {name} is deleted but recoverable in {}: Key Vault refuses to store a consent under that name (409 {})",
                    self.kv.vault_url,
                    common::keyvault::DELETED_BUT_RECOVERABLE
                ),
                Some(common::keyvault::deleted_secret_fix(
                    self.kv.vault_url.as_str(),
                    name,
                )),
            ));
        }
    }

    /// list, delete, purge and recover probed on a name that does not exist (see the module
    /// docs): 403 refused, 200/404 allowed.
    async fn least_privilege_check(&self) -> Check {
        let probe = format!("sam-doctor-probe-{}", uuid::Uuid::new_v4().simple());
        let probes = [
            (
                "list",
                reqwest::Method::GET,
                "secrets?maxresults=1".to_owned(),
            ),
            (
                "delete",
                reqwest::Method::DELETE,
                format!("secrets/{probe}"),
            ),
            (
                "purge",
                reqwest::Method::DELETE,
                format!("deletedsecrets/{probe}"),
            ),
            (
                "recover",
                reqwest::Method::POST,
                format!("deletedsecrets/{probe}/recover"),
            ),
        ];
        let mut broader = Vec::new();
        let mut unknown = Vec::new();
        for (permission, method, path) in probes {
            match self.send(method, &path).await {
                Ok(403) => {}
                Ok(200 | 404) => broader.push(permission),
                Ok(s) => unknown.push(format!("{permission} (HTTP {s})")),
                Err(e) => unknown.push(format!("{permission} ({e})")),
            }
        }
        if !broader.is_empty() {
            check(
                "store.least_privilege",
                Status::Warn,
                format!("the store identity may also {} secrets: broader than get/set", broader.join(", ")),
                Some("limit its access policy to secrets Get and Set (az keyvault set-policy --secret-permissions get set), or use the role that grants only those".into()),
            )
        } else if !unknown.is_empty() {
            check(
                "store.least_privilege",
                Status::Warn,
                format!("could not probe: {}", unknown.join(", ")),
                None,
            )
        } else {
            check(
                "store.least_privilege",
                Status::Pass,
                "list, delete, purge and recover refused: no broader than get/set on secrets (set is proven by the token rotation)",
                None,
            )
        }
    }
}

/// A token for the vault from the store's own credential (`common::keyvault::access_credential`):
/// the identity doctor probes with is the one the store uses, whichever of the four it is.
async fn vault_token(
    settings: &Settings,
    kv: &KeyVaultSettings,
    http: &reqwest::Client,
) -> Result<AccessToken, String> {
    let resource = settings
        .cloud
        .resource_id(Resource::KeyVault)
        .ok_or("no Key Vault in this cloud")?;
    let credential = common::keyvault::access_credential(&kv.identity, &settings.cloud, http)
        .map_err(|e| e.to_string())?;
    let scope = format!("{resource}/.default");
    let token = credential
        .get_token(&[scope.as_str()], None)
        .await
        .map_err(|e| common::keyvault::describe_error(&kv.identity, &e))?;
    Ok(AccessToken::new(token.token.secret().to_owned()))
}

/// Which identity reaches the vault, in words (no secret).
fn identity_words(identity: &KeyVaultIdentity) -> String {
    let client = identity.client_id().unwrap_or("system-assigned");
    match identity.tenant_id() {
        Some(tenant) => format!("{} (client ID {client}, tenant {tenant})", identity.kind()),
        None => format!("{} (client ID {client})", identity.kind()),
    }
}

/// The secrets read from Key Vault instead of files (`app.certificate_secret`,
/// `consent.cookie_key_secret`): readable through the store's identity, and usable.
pub(super) async fn secret_checks(
    settings: &Settings,
    http: &reqwest::Client,
    checks: &mut Vec<Check>,
) {
    let StoreSettings::KeyVault(kv) = &settings.store else {
        return;
    };
    let certificate = match &settings.app.credential {
        common::config::AppCredential::Certificate(c) => match &c.source {
            common::config::CertificateSource::KeyVault { secret, refresh } => {
                Some((secret.clone(), *refresh, c.algorithm))
            }
            _ => None,
        },
        common::config::AppCredential::Secret(_) => None,
    };
    let cookie = settings.consent.cookie_key_secret.clone();
    if certificate.is_none() && cookie.is_none() {
        return;
    }
    let store = match common::keyvault::KeyVaultStore::new(kv, &settings.cloud, http.clone()) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            checks.push(check(
                "app.credential",
                Status::Fail,
                format!("cannot reach the vault for the secrets named in the configuration: {e}"),
                Some("check store.key_vault (doctor's store.* checks say more)".into()),
            ));
            return;
        }
    };
    if let Some((secret, refresh, algorithm)) = certificate {
        let loaded =
            common::keyvault::VaultCertificate::load(store.clone(), &secret, algorithm, refresh)
                .await;
        checks.push(match loaded {
            Ok(c) => check(
                "app.credential",
                Status::Pass,
                format!(
                    "certificate from Key Vault secret {secret} (version {}), read through the store identity; a new version is used within {} s",
                    c.version(),
                    refresh.as_secs()
                ),
                None,
            ),
            Err(e) => check(
                "app.credential",
                Status::Fail,
                e.to_string(),
                Some(format!("upload the app's certificate with its key to secret {secret} (az keyvault certificate import, or a PEM secret), and give the store identity Get on secrets")),
            ),
        });
    }
    if let Some(name) = cookie {
        checks.push(match store.read_cookie_key(&name).await {
            Ok(_) => check(
                "consent.cookie_key",
                Status::Pass,
                format!("cookie key from Key Vault secret {name}, read through the store identity"),
                None,
            ),
            Err(e) => check(
                "consent.cookie_key",
                Status::Fail,
                e.to_string(),
                Some(format!("store `openssl rand -base64 64` in secret {name}")),
            ),
        });
    }
}
