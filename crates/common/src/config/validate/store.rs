//! `[store]`: the local encrypted file, or Key Vault and the identity that reaches it.

use std::path::PathBuf;

use super::checker::{Checker, decode_base64, set};
use crate::config::{
    KeyVaultIdentity, KeyVaultIdentityKind, KeyVaultSettings, LocalStoreSettings, RawKeyVault,
    RawSettings, StoreKind, StoreSettings,
};
use crate::secret::ClientSecret;

impl RawSettings {
    /// `[store]`, dispatched on `store.kind`. `partner_tenant` is the default tenant of the Key
    /// Vault access identity.
    pub(super) fn validate_store(
        &self,
        c: &mut Checker<'_>,
        partner_tenant: Option<&str>,
    ) -> Option<StoreSettings> {
        let kind = c.word::<StoreKind>(
            "store.kind",
            &self.store.kind,
            None,
            " (local: an encrypted file, for local use; key-vault: Azure Key Vault, for production)",
        )?;
        match kind {
            StoreKind::Local => self.validate_local_store(c).map(StoreSettings::Local),
            StoreKind::KeyVault => validate_key_vault(c, &self.store.key_vault, partner_tenant)
                .map(StoreSettings::KeyVault),
        }
    }

    /// `[store.local]`.
    fn validate_local_store(&self, c: &mut Checker<'_>) -> Option<LocalStoreSettings> {
        let l = &self.store.local;
        let path = set(&l.path).map(PathBuf::from);
        if path.is_none() {
            c.fail(
                "store.local.path",
                "is empty",
                "give the path of the encrypted token file, e.g. .sam-local/refresh-tokens.enc",
            );
        }
        let key = match set(&l.key) {
            None => None,
            Some(v) => match decode_base64(v) {
                Some(bytes) if bytes.len() == 32 => Some(secrecy::SecretSlice::from(bytes)),
                _ => {
                    c.fail(
                        "store.local.key",
                        "is not base64 of exactly 32 bytes (value not shown)",
                        "generate one with `openssl rand -base64 32`, or unset it to use store.local.key_file",
                    );
                    None
                }
            },
        };
        let key_file = set(&l.key_file).map(PathBuf::from);
        if key_file.is_none() && key.is_none() {
            c.fail(
                "store.local.key_file",
                "is empty and store.local.key is not set",
                "give a key file path (created with mode 0600 if missing) or set SAM_STORE__LOCAL__KEY",
            );
        }
        Some(LocalStoreSettings {
            path: path?,
            key_file: key_file.unwrap_or_default(),
            key,
        })
    }
}

/// `[store.key_vault]`: the vault, the secret-name prefix and the access identity.
fn validate_key_vault(
    c: &mut Checker<'_>,
    kv: &RawKeyVault,
    partner_tenant: Option<&str>,
) -> Option<KeyVaultSettings> {
    let vault_url = c.https_url(
        "store.key_vault.vault_url",
        &kv.vault_url,
        "set it to the vault's URI (Key Vault > Overview > Vault URI), e.g. https://contoso-sam.vault.azure.net/",
    );
    let prefix = kv.secret_prefix.trim();
    if prefix.is_empty()
        || prefix.len() > 60
        || !prefix
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        || !prefix.starts_with(|ch: char| ch.is_ascii_alphabetic())
    {
        c.fail(
            "store.key_vault.secret_prefix",
            format!("{prefix:?} cannot start a Key Vault secret name"),
            "use 1-60 letters, digits and '-', starting with a letter (e.g. sam-rt)",
        );
    }
    let identity = c
        .word::<KeyVaultIdentityKind>("store.key_vault.identity", &kv.identity, None, "")
        .and_then(|kind| {
            let tenant = set(&kv.tenant_id).or(partner_tenant);
            key_vault_identity(c, kv, kind, tenant)
        });
    Some(KeyVaultSettings {
        vault_url: vault_url?,
        secret_prefix: prefix.to_owned(),
        identity: identity?,
        api_version: kv.api_version.trim().to_owned(),
    })
}

/// The identity of one kind, each of its required keys checked.
fn key_vault_identity(
    c: &mut Checker<'_>,
    kv: &RawKeyVault,
    kind: KeyVaultIdentityKind,
    tenant: Option<&str>,
) -> Option<KeyVaultIdentity> {
    match kind {
        KeyVaultIdentityKind::ClientSecret => {
            let tenant_id = identity_tenant(c, tenant);
            let client_id = required(
                c,
                "store.key_vault.client_id",
                &kv.client_id,
                "the client ID of the Key Vault access app (`KeyVaultClientId` in Microsoft's Secure Application Model samples)",
            );
            let secret = required(
                c,
                "store.key_vault.client_secret",
                &kv.client_secret,
                "its secret, preferably through SAM_STORE__KEY_VAULT__CLIENT_SECRET (`KeyVaultClientSecret` in Microsoft's samples)",
            );
            Some(KeyVaultIdentity::ClientSecret {
                tenant_id: tenant_id?,
                client_id: client_id?,
                secret: ClientSecret::new(secret?),
            })
        }
        KeyVaultIdentityKind::ClientCertificate => {
            let tenant_id = identity_tenant(c, tenant);
            let client_id = required(
                c,
                "store.key_vault.client_id",
                &kv.client_id,
                "the client ID of the Key Vault access app",
            );
            let (certificate, private_key) = key_vault_certificate(c, kv);
            Some(KeyVaultIdentity::ClientCertificate {
                tenant_id: tenant_id?,
                client_id: client_id?,
                certificate: certificate?,
                private_key: private_key?,
            })
        }
        KeyVaultIdentityKind::ManagedIdentity => Some(KeyVaultIdentity::ManagedIdentity {
            client_id: set(&kv.client_id).map(str::to_owned),
        }),
        KeyVaultIdentityKind::WorkloadIdentity => {
            let tenant_id = identity_tenant(c, tenant);
            let client_id = required(
                c,
                "store.key_vault.client_id",
                &kv.client_id,
                "the client ID of the federated identity",
            );
            let token_file = set(&kv.federated_token_file).map(PathBuf::from);
            if token_file.is_none() {
                c.fail(
                    "store.key_vault.federated_token_file",
                    "is empty",
                    "set it to the projected service-account token (AZURE_FEDERATED_TOKEN_FILE)",
                );
            }
            Some(KeyVaultIdentity::WorkloadIdentity {
                tenant_id: tenant_id?,
                client_id: client_id?,
                token_file: token_file?,
            })
        }
    }
}

/// The certificate and key files of a `client-certificate` identity.
fn key_vault_certificate(
    c: &mut Checker<'_>,
    kv: &RawKeyVault,
) -> (Option<PathBuf>, Option<PathBuf>) {
    let certificate = match set(&kv.certificate_path) {
        Some(p) => c.readable_file(
            "store.key_vault.certificate_path",
            p,
            "PEM certificate of the Key Vault access app",
        ),
        None => {
            c.fail(
                "store.key_vault.certificate_path",
                "is empty",
                "set the PEM certificate of the Key Vault access app",
            );
            None
        }
    };
    let private_key = match set(&kv.private_key_path) {
        Some(p) => c.readable_file(
            "store.key_vault.private_key_path",
            p,
            "PEM private key of the Key Vault access app",
        ),
        None => certificate.clone(),
    };
    (certificate, private_key)
}

/// The tenant of the access identity: `store.key_vault.tenant_id`, else `partner.tenant_id`.
fn identity_tenant(c: &mut Checker<'_>, tenant: Option<&str>) -> Option<String> {
    if tenant.is_none() {
        c.fail(
            "store.key_vault.tenant_id",
            "is empty and partner.tenant_id is not set",
            "set the tenant of the Key Vault access identity",
        );
    }
    tenant.map(str::to_owned)
}

/// A value that must be set; records "is empty" with the fix "set it to `what`".
fn required(c: &mut Checker<'_>, key: &str, value: &str, what: &str) -> Option<String> {
    let v = set(value).map(str::to_owned);
    if v.is_none() {
        c.fail(key, "is empty", format!("set it to {what}"));
    }
    v
}
