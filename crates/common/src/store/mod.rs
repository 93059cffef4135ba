//! The refresh-token store: one stored grant (a partner's refresh token and its metadata) per
//! partner tenant.
//!
//! - [`RefreshTokenStore`]: what a store does (`get`, an atomic `put` that never writes an older
//!   grant over a newer one, `list`);
//! - [`LocalFileStore`]: one AES-256-GCM encrypted file, for local use;
//! - `KeyVaultStore` (module `keyvault`, above this one), one Key Vault secret per partner,
//!   implements it too.
//!
//! The store knows nothing of the broker (module `tokens`) that redeems and rotates the tokens
//! it keeps.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::secret::RefreshToken;

mod local;

pub use local::LocalFileStore;

/// Facts about a stored grant, kept beside the token (Key Vault tags, or the local file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantMetadata {
    /// The partner tenant ID (GUID) the refresh token belongs to.
    pub tenant_id: String,
    /// Who consented (UPN), if known.
    pub user: Option<String>,
    /// When the admin agent consented (Unix seconds).
    pub consented_at: i64,
    /// When the token stored was issued: the consent, or the latest rotation (Unix seconds).
    pub rotated_at: i64,
    /// The application (client) ID the token was issued to.
    pub app_id: String,
    /// The cloud (`global`, `china`, `usgov`, `custom`).
    pub cloud: String,
    /// Whether the consent sign-in used multi-factor authentication.
    pub mfa: bool,
}

/// How far in the future (seconds, by this machine's clock) a stored grant's times may be and
/// still order grants. A replica with a fast clock writes times ahead of everyone else's; were
/// they believed, every later consent and rotation would look older and never be written.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

impl GrantMetadata {
    /// Whether a grant with this metadata is older than `stored`, so writing it over `stored`
    /// would lose the newer token: a rotation of an earlier consent (a newer consent is
    /// stored), or an earlier rotation of the same consent. Stores compare what they read
    /// just before writing; equal times are not older (the same second: both tokens are valid).
    ///
    /// A stored grant dated more than [`MAX_CLOCK_SKEW_SECS`] ahead of this machine's clock is
    /// not ordered by its times: nothing is older than it (a fast clock wrote them), so the
    /// grant in hand is written over it.
    pub fn is_older_than(&self, stored: &GrantMetadata) -> bool {
        let limit = unix_now().saturating_add(MAX_CLOCK_SKEW_SECS);
        if stored.consented_at > limit || stored.rotated_at > limit {
            tracing::warn!(
                tenant.id = %stored.tenant_id,
                "the stored grant is dated in the future (a clock ahead by more than {MAX_CLOCK_SKEW_SECS} s wrote it); it is replaced"
            );
            return false;
        }
        (self.consented_at, self.rotated_at) < (stored.consented_at, stored.rotated_at)
    }
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A refresh token with its metadata.
#[derive(Clone, Debug)]
pub struct StoredGrant {
    /// The refresh token.
    pub refresh_token: RefreshToken,
    /// Its metadata.
    pub meta: GrantMetadata,
}

/// Why the store failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing the local file failed.
    #[error(
        "{action} {path}: {source} — fix: check that the store's directory exists, is writable by this user and has free space (store.local.path); a token stored before stays in use"
    )]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        source: Arc<std::io::Error>,
    },
    /// A file is readable by other users.
    #[error(
        "{path} is readable by other users (mode {mode:o}); refusing to use it: run `chmod 600 {path}`"
    )]
    Permissions {
        /// The file.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// The local file does not decrypt or parse with this key.
    #[error(
        "{path} cannot be decrypted with the configured key (wrong store.local.key / key file, or a damaged file): {reason}"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// Key Vault refused or failed.
    #[error("Key Vault {operation} of secret {name} failed: {message}{}", key_vault_fix(operation, .message, *.status))]
    KeyVault {
        /// `get` or `set`.
        operation: &'static str,
        /// The secret name.
        name: String,
        /// HTTP status, if Key Vault answered.
        status: Option<u16>,
        /// What the SDK said.
        message: String,
    },
    /// The store could not be set up.
    #[error("cannot set up the refresh-token store: {0}")]
    Setup(String),
}

impl StoreError {
    /// Whether retrying may help (Key Vault 5xx/429, network, transient I/O).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::KeyVault { status, .. } => {
                status.is_none_or(|s| s >= 500 || s == 429 || s == 408)
            }
            Self::Io { .. } => true,
            _ => false,
        }
    }
}

/// Where partner refresh tokens live. Implementations must make `put` atomic: after a crash at
/// any point, `get` returns either the old or the new grant, never nothing and never a mix.
///
/// The broker needs only `get` and `put` (Key Vault: the `secrets/get` and `secrets/set`
/// permissions, nothing else).
#[async_trait::async_trait]
pub trait RefreshTokenStore: Send + Sync + fmt::Debug {
    /// The grant stored for a partner tenant, if any.
    async fn get(&self, tenant_id: &str) -> Result<Option<StoredGrant>, StoreError>;
    /// Stores (replaces) the grant of `grant.meta.tenant_id`, unless the grant stored is newer
    /// ([`GrantMetadata::is_older_than`]): then nothing is written and `Ok` is returned (the
    /// token kept in memory stays valid; the newer one is read back on the next `get`).
    async fn put(&self, grant: &StoredGrant) -> Result<(), StoreError>;

    /// The metadata of every stored grant (never a token): the partners whose consent is
    /// stored, for a CPV serving many. Key Vault needs the `list` permission on secrets for
    /// this, beyond the `get` and `set` the broker otherwise needs.
    async fn list(&self) -> Result<Vec<GrantMetadata>, StoreError>;

    /// Every stored grant with its token, when the store reads them all in one go (the local
    /// file: one read instead of one per partner); `None` when each must be read on its own
    /// (Key Vault lists metadata only), as by default.
    async fn list_grants(&self) -> Result<Option<Vec<StoredGrant>>, StoreError> {
        Ok(None)
    }

    /// The grant to go back to when the stored one turned out worse (a consent by the wrong
    /// user, or without MFA): the latest grant of the consent before the stored one, or, while
    /// only one consent was ever stored, the rotation before the stored one. `None` when the
    /// store holds nothing earlier. Key Vault needs the `list` permission on secrets for this
    /// (its versions are listed).
    async fn previous(&self, tenant_id: &str) -> Result<Option<StoredGrant>, StoreError> {
        let _ = tenant_id;
        Err(StoreError::Setup(format!(
            "{} keeps no earlier grants to restore",
            self.location()
        )))
    }

    /// Writes `grant` as the stored one whatever the stored grant's times ([`put`] would keep a
    /// newer consent): an operator's restore of [`previous`](Self::previous). Atomic as `put`.
    ///
    /// [`put`]: Self::put
    async fn restore(&self, grant: &StoredGrant) -> Result<(), StoreError> {
        let _ = grant;
        Err(StoreError::Setup(format!(
            "{} cannot restore a grant",
            self.location()
        )))
    }

    /// Where the tokens are, for messages (`local file …`, `Key Vault https://…`).
    fn location(&self) -> String;
}

/// The Key Vault secret name of a partner tenant's refresh token: `{prefix}-{tenant}`.
///
/// Key Vault names are 1-127 characters of `0-9a-zA-Z-`, starting with a letter, compared
/// case-insensitively ("Key Vault objects, identifiers, and versioning",
/// <https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#objects-identifiers-and-versioning>).
/// The prefix (validated by the configuration: a letter, then up to 59 letters, digits and `-`)
/// supplies the leading letter; the tenant ID is lower-cased, and any other character is
/// replaced by `-` (a GUID has none), so `sam-rt` and tenant
/// `10000000-0000-4000-8000-000000000001` give `sam-rt-10000000-0000-4000-8000-000000000001`
/// (43 characters).
pub fn secret_name(prefix: &str, tenant_id: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + 1 + tenant_id.len());
    name.push_str(prefix);
    name.push('-');
    name.extend(tenant_id.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' {
            c.to_ascii_lowercase()
        } else {
            '-'
        }
    }));
    name.truncate(127);
    name
}

/// What to do about a failed Key Vault call, by its HTTP status (nothing more when the message
/// already says it: a refused managed or workload identity's own remedy).
fn key_vault_fix(operation: &str, message: &str, status: Option<u16>) -> String {
    if message.contains("— fix:") {
        return String::new();
    }
    let fix = match status {
        Some(401 | 403) if operation.starts_with("list") => {
            "give the identity the List permission on secrets: listing the stored partners and restoring an earlier grant need it (the broker itself needs only Get and Set)"
        }
        Some(401 | 403) => {
            "give the store identity Get and Set on secrets (docs/setup-azure.md, section 2); a token stored before stays in use"
        }
        Some(404) => "check store.key_vault.vault_url and secret_prefix",
        Some(429) | Some(500..) | None => {
            "Key Vault is throttling or unavailable: a token stored before stays in use; try again later (the next keepalive stores a new rotation)"
        }
        Some(_) => "check store.key_vault (run doctor)",
    };
    format!(" — fix: {fix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_follow_key_vault_rules() {
        let name = secret_name("sam-rt", "10000000-0000-4000-8000-00000000000A");
        assert_eq!(name, "sam-rt-10000000-0000-4000-8000-00000000000a");
        let odd = secret_name("sam-rt", "contoso.onmicrosoft.com");
        assert_eq!(odd, "sam-rt-contoso-onmicrosoft-com");
        let long = secret_name("p", &"a".repeat(300));
        assert_eq!(long.len(), 127);
        for n in [name, odd, long] {
            assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            assert!(n.starts_with(|c: char| c.is_ascii_alphabetic()));
        }
    }
}
