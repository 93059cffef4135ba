//! Key Vault contents: each vault's secrets (with their versions and soft-deleted ones) and
//! its access policies. The data plane that serves them is `crate::keyvault`.

use super::seed::VaultSeed;
use std::collections::BTreeMap;

/// One secret version.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SecretVersion {
    pub(crate) version: String,
    pub(crate) value: String,
    pub(crate) content_type: Option<String>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) enabled: bool,
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: Option<i64>,
    pub(crate) created: i64,
    pub(crate) updated: i64,
}

/// A secret: its versions (oldest first).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Secret {
    pub(crate) name: String,
    pub(crate) versions: Vec<SecretVersion>,
}

impl Secret {
    /// Index of `version` (case-insensitive) in the history; an empty `version` means the latest.
    pub(crate) fn version_index(&self, version: &str) -> Option<usize> {
        if version.is_empty() {
            self.versions.len().checked_sub(1)
        } else {
            self.versions
                .iter()
                .position(|v| v.version.eq_ignore_ascii_case(version))
        }
    }
}

/// A soft-deleted secret.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeletedSecret {
    pub(crate) secret: Secret,
    pub(crate) deleted: i64,
}

/// A vault's contents and policies.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Vault {
    pub(crate) tenant: String,
    pub(crate) policies: BTreeMap<String, Vec<String>>,
    pub(crate) secrets: BTreeMap<String, Secret>,
    pub(crate) deleted: BTreeMap<String, DeletedSecret>,
}

impl Vault {
    /// A vault from the seed.
    pub fn new(seed: &VaultSeed) -> Self {
        Vault {
            tenant: seed.tenant.clone(),
            policies: seed
                .access_policies
                .iter()
                .map(|p| {
                    (
                        p.object_id.to_ascii_lowercase(),
                        p.secrets.iter().map(|s| s.to_ascii_lowercase()).collect(),
                    )
                })
                .collect(),
            secrets: BTreeMap::new(),
            deleted: BTreeMap::new(),
        }
    }
    pub(crate) fn allows(&self, oid: &str, perm: &str) -> bool {
        self.policies
            .get(&oid.to_ascii_lowercase())
            .is_some_and(|p| p.iter().any(|x| x == perm || x == "all"))
    }
}

/// Vault names: 3–24 characters, letters, digits and hyphens, starting with a letter.
pub fn is_valid_vault_name(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
}
