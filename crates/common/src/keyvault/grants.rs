//! A partner's grant as a Key Vault secret: the refresh token is the value, its metadata the
//! tags; every write is a new version, so earlier grants stay until an operator restores one.

use std::collections::HashMap;

use azure_security_keyvault_secrets::models::{SecretClientGetSecretOptions, SetSecretParameters};
use time::format_description::well_known::Rfc3339;

use super::{CONTENT_TYPE, KeyVaultStore};
use crate::secret::{ExposeSecret as _, RefreshToken};
use crate::store::{GrantMetadata, RefreshTokenStore, StoreError, StoredGrant};

impl KeyVaultStore {
    /// Writes `grant` as a new version of the secret `name`, its metadata in the tags.
    async fn set_grant(&self, name: &str, grant: &StoredGrant) -> Result<(), StoreError> {
        let parameters = SetSecretParameters {
            value: Some(grant.refresh_token.expose_secret().to_owned()),
            content_type: Some(CONTENT_TYPE.into()),
            tags: Some(tags(&grant.meta)),
            ..SetSecretParameters::default()
        };
        let content = parameters
            .try_into()
            .map_err(|e: azure_core::Error| self.error("set", name, &e))?;
        self.client
            .set_secret(name, content, None)
            .await
            .map_err(|e| self.error("set", name, &e))?;
        Ok(())
    }
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn parse_rfc3339(s: Option<&String>) -> i64 {
    s.and_then(|s| time::OffsetDateTime::parse(s, &Rfc3339).ok())
        .map_or(0, time::OffsetDateTime::unix_timestamp)
}

/// The tags stored with a grant.
fn tags(meta: &GrantMetadata) -> HashMap<String, String> {
    let mut t = HashMap::new();
    t.insert("tenant-id".into(), meta.tenant_id.clone());
    if let Some(u) = &meta.user {
        t.insert("user".into(), u.clone());
    }
    t.insert("consented-at".into(), rfc3339(meta.consented_at));
    t.insert("rotated-at".into(), rfc3339(meta.rotated_at));
    t.insert("app-id".into(), meta.app_id.clone());
    t.insert("cloud".into(), meta.cloud.clone());
    t.insert("mfa".into(), meta.mfa.to_string());
    t
}

fn meta_from_tags(tenant_id: &str, tags: &HashMap<String, String>) -> GrantMetadata {
    GrantMetadata {
        tenant_id: tags
            .get("tenant-id")
            .cloned()
            .unwrap_or_else(|| tenant_id.to_owned()),
        user: tags.get("user").cloned(),
        consented_at: parse_rfc3339(tags.get("consented-at")),
        rotated_at: parse_rfc3339(tags.get("rotated-at")),
        app_id: tags.get("app-id").cloned().unwrap_or_default(),
        cloud: tags.get("cloud").cloned().unwrap_or_default(),
        mfa: tags.get("mfa").is_some_and(|m| m == "true"),
    }
}

#[async_trait::async_trait]
impl RefreshTokenStore for KeyVaultStore {
    /// `GET {vault}/secrets/{name}` (<https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret>).
    #[tracing::instrument(skip_all, fields(tenant.id = %tenant_id))]
    async fn get(&self, tenant_id: &str) -> Result<Option<StoredGrant>, StoreError> {
        let name = self.secret_name(tenant_id);
        let secret = match self.client.get_secret(&name, None).await {
            Ok(r) => r.into_model().map_err(|e| self.error("get", &name, &e))?,
            Err(e) if e.http_status().map(u16::from) == Some(404) => return Ok(None),
            Err(e) => return Err(self.error("get", &name, &e)),
        };
        let Some(value) = secret.value.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(StoredGrant {
            refresh_token: RefreshToken::new(value),
            meta: meta_from_tags(tenant_id, &secret.tags.unwrap_or_default()),
        }))
    }

    /// `PUT {vault}/secrets/{name}` (<https://learn.microsoft.com/rest/api/keyvault/secrets/set-secret/set-secret>):
    /// a new version; the previous stays until this one is written.
    ///
    /// Key Vault has no conditional write, so the latest version's tags are read first and a
    /// grant older than the stored one ([`GrantMetadata::is_older_than`]: consent time, then
    /// rotation time) is not written: another process's newer consent or rotation stays the
    /// latest version. The window between that read and the write is a single round trip.
    #[tracing::instrument(skip_all, fields(tenant.id = %grant.meta.tenant_id))]
    async fn put(&self, grant: &StoredGrant) -> Result<(), StoreError> {
        let name = self.secret_name(&grant.meta.tenant_id);
        if let Some(stored) = self.get(&grant.meta.tenant_id).await?
            && grant.meta.is_older_than(&stored.meta)
        {
            tracing::info!(
                secret = %name,
                "a newer grant is stored; the older one is not written over it"
            );
            return Ok(());
        }
        self.set_grant(&name, grant).await
    }

    /// `GET {vault}/secrets` (<https://learn.microsoft.com/rest/api/keyvault/secrets/get-secrets/get-secrets>),
    /// following `nextLink`; the grants are read from the tags of the secrets named
    /// `{prefix}-…` (no secret value is fetched). Needs the `list` permission.
    async fn list(&self) -> Result<Vec<GrantMetadata>, StoreError> {
        use futures::TryStreamExt as _;
        let prefix = format!("{}-", self.prefix);
        let pattern = format!("{prefix}*");
        let mut pager = self
            .client
            .list_secret_properties(None)
            .map_err(|e| self.error("list", &pattern, &e))?;
        let mut grants = Vec::new();
        while let Some(properties) = pager
            .try_next()
            .await
            .map_err(|e| self.error("list", &pattern, &e))?
        {
            let name = properties
                .id
                .as_deref()
                .and_then(|id| id.trim_end_matches('/').rsplit('/').next())
                .unwrap_or_default();
            let Some(tenant) = name.strip_prefix(&prefix) else {
                continue;
            };
            if properties.attributes.as_ref().and_then(|a| a.enabled) == Some(false) {
                continue;
            }
            grants.push(meta_from_tags(tenant, &properties.tags.unwrap_or_default()));
        }
        Ok(grants)
    }

    /// `GET {vault}/secrets/{name}/versions` (<https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret-versions/get-secret-versions>)
    /// for the versions' tags, newest first by creation time; then `GET {vault}/secrets/{name}/{version}`
    /// of the first enabled version from an earlier consent than the latest one (or, with one
    /// consent only, the version before the latest).
    async fn previous(&self, tenant_id: &str) -> Result<Option<StoredGrant>, StoreError> {
        use futures::TryStreamExt as _;
        let name = self.secret_name(tenant_id);
        let mut pager = match self.client.list_secret_properties_versions(&name, None) {
            Ok(p) => p,
            Err(e) => return Err(self.error("list versions", &name, &e)),
        };
        let mut versions = Vec::new();
        loop {
            match pager.try_next().await {
                Ok(Some(p)) => versions.push(p),
                Ok(None) => break,
                Err(e) if e.http_status().map(u16::from) == Some(404) => return Ok(None),
                Err(e) => return Err(self.error("list versions", &name, &e)),
            }
        }
        let mut versions: Vec<(time::OffsetDateTime, String, GrantMetadata)> = versions
            .into_iter()
            .filter(|p| p.attributes.as_ref().and_then(|a| a.enabled) != Some(false))
            .filter_map(|p| {
                let created = p.attributes.as_ref().and_then(|a| a.created)?;
                let version = p.id.as_deref()?.trim_end_matches('/').rsplit('/').next()?;
                let meta = meta_from_tags(tenant_id, &p.tags.unwrap_or_default());
                Some((created, version.to_owned(), meta))
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        // `created` has a resolution of one second, so versions written within the same second
        // do not order by it: the current version is the one a GET without a version returns.
        let current = self
            .client
            .get_secret(&name, None)
            .await
            .and_then(|r| r.into_model())
            .ok()
            .and_then(|s| s.id)
            .and_then(|id| {
                id.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .map(str::to_owned)
            });
        if let Some(at) = versions.iter().position(|v| Some(&v.1) == current.as_ref()) {
            let latest = versions.remove(at);
            versions.insert(0, latest);
        }
        let Some((_, _, latest)) = versions.first() else {
            return Ok(None);
        };
        let earlier = versions
            .iter()
            .skip(1)
            .find(|(_, _, m)| m.consented_at != latest.consented_at)
            .or_else(|| versions.get(1));
        let Some((_, version, meta)) = earlier else {
            return Ok(None);
        };
        let options = SecretClientGetSecretOptions {
            secret_version: Some(version.clone()),
            ..Default::default()
        };
        let secret = self
            .client
            .get_secret(&name, Some(options))
            .await
            .and_then(|r| r.into_model())
            .map_err(|e| self.error("get", &name, &e))?;
        Ok(secret.value.filter(|v| !v.is_empty()).map(|v| StoredGrant {
            refresh_token: RefreshToken::new(v),
            meta: meta.clone(),
        }))
    }

    /// `PUT {vault}/secrets/{name}`: a new version, whatever the latest version's tags say.
    async fn restore(&self, grant: &StoredGrant) -> Result<(), StoreError> {
        let name = self.secret_name(&grant.meta.tenant_id);
        self.set_grant(&name, grant).await
    }

    fn location(&self) -> String {
        format!("Key Vault {}", self.vault_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_the_metadata() {
        let meta = GrantMetadata {
            tenant_id: "10000000-0000-4000-8000-000000000001".into(),
            user: Some("admin@contoso.onmicrosoft.com".into()),
            consented_at: 1_700_000_000,
            rotated_at: 1_700_000_100,
            app_id: "40000000-0000-4000-8000-000000000001".into(),
            cloud: "global".into(),
            mfa: true,
        };
        let t = tags(&meta);
        assert_eq!(t["consented-at"], "2023-11-14T22:13:20Z");
        assert_eq!(t["mfa"], "true");
        assert_eq!(meta_from_tags("x", &t), meta);
    }
}
