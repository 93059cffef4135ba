//! Checks of a seed's references between sections ([`Seed::validate`]); every problem is
//! reported at once.

use super::{Seed, SeedError};
use crate::model::federation::TOKEN_EXCHANGE_AUDIENCE;
use crate::model::managed_identity::ManagedIdentityKind;
use jsonwebtoken::jwk::JwkSet;

impl Seed {
    /// Check references between sections; reports every problem at once.
    pub fn validate(&self) -> Result<(), SeedError> {
        let mut problems = Vec::new();
        let tenant_ids: Vec<&str> = self.tenants.iter().map(|t| t.id.as_str()).collect();
        let app_ids: Vec<&str> = self.apps.iter().map(|a| a.app_id.as_str()).collect();
        let guid = |s: &str| uuid::Uuid::parse_str(s).is_ok();
        for t in &self.tenants {
            if !guid(&t.id) {
                problems.push(format!("tenants: id '{}' is not a GUID", t.id));
            }
            for p in &t.delegated_admin {
                if !tenant_ids.contains(&p.as_str()) {
                    problems.push(format!(
                        "tenants.{}: delegated_admin '{p}' is not a tenant of the data file",
                        t.domain
                    ));
                }
            }
        }
        let mut user_ids = std::collections::HashMap::new();
        for u in &self.users {
            // Sign-in keeps the user's ID between pages: two users with one ID would sign in
            // as each other.
            if let Some(first) = user_ids.insert(u.id.to_ascii_lowercase(), u.upn.as_str()) {
                problems.push(format!(
                    "users.{}: id '{}' is already the id of {first}; user IDs must be unique",
                    u.upn, u.id
                ));
            }
            if !tenant_ids.contains(&u.tenant.as_str()) {
                problems.push(format!(
                    "users.{}: tenant '{}' is not a tenant of the data file",
                    u.upn, u.tenant
                ));
            }
            if !guid(&u.id) {
                problems.push(format!("users.{}: id '{}' is not a GUID", u.upn, u.id));
            }
        }
        for a in &self.apps {
            if !tenant_ids.contains(&a.tenant.as_str()) {
                problems.push(format!(
                    "apps.{}: tenant '{}' is not a tenant of the data file",
                    a.display_name, a.tenant
                ));
            }
            if !guid(&a.app_id) {
                problems.push(format!(
                    "apps.{}: app_id '{}' is not a GUID",
                    a.display_name, a.app_id
                ));
            }
            for pem in &a.certificates {
                if crate::model::tokens::CertificateCredential::from_pem(pem).is_err() {
                    problems.push(format!(
                        "apps.{}: a certificate is not a PEM X.509 certificate with an RSA key",
                        a.display_name
                    ));
                }
            }
        }
        for sp in &self.service_principals {
            // Microsoft's first-party apps (Partner Center, Graph…) have no registration in the
            // seed; a tenant may still hold their service principals, as `setup` creates them.
            let known_app = app_ids.contains(&sp.app_id.as_str())
                || crate::model::partner_data::catalog::first_party_name(&sp.app_id).is_some();
            if !tenant_ids.contains(&sp.tenant.as_str()) || !known_app {
                problems.push(format!(
                    "service_principals: '{}' in '{}' names an unknown app or tenant",
                    sp.app_id, sp.tenant
                ));
            }
        }
        for c in &self.consents {
            if !tenant_ids.contains(&c.tenant.as_str()) || !app_ids.contains(&c.app_id.as_str()) {
                problems.push(format!(
                    "consents: '{}' in '{}' names an unknown app or tenant",
                    c.app_id, c.tenant
                ));
            }
        }
        for v in &self.vaults {
            if !crate::model::vault::is_valid_vault_name(&v.name) {
                problems.push(format!(
                    "vaults: name '{}' must be 3-24 letters, digits or '-', starting with a letter",
                    v.name
                ));
            }
            if !tenant_ids.contains(&v.tenant.as_str()) {
                problems.push(format!(
                    "vaults.{}: tenant '{}' is not a tenant of the data file",
                    v.name, v.tenant
                ));
            }
        }
        crate::model::partner_data::check::validate_seed(self, &mut problems);
        managed_identities(self, &mut problems);
        federation(self, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SeedError::Invalid(problems))
        }
    }
}

/// Check the seed's managed identities .
fn managed_identities(seed: &Seed, problems: &mut Vec<String>) {
    let guid = |s: &str| uuid::Uuid::parse_str(s).is_ok();
    let systems = seed
        .managed_identities
        .iter()
        .filter(|m| m.kind == ManagedIdentityKind::SystemAssigned)
        .count();
    if systems > 1 {
        problems.push(format!(
            "managed_identities: {systems} system-assigned identities; a hosting resource has at most one"
        ));
    }
    for m in &seed.managed_identities {
        if !seed.tenants.iter().any(|t| t.id == m.tenant) {
            problems.push(format!(
                "managed_identities.{}: tenant '{}' is not a tenant of the data file",
                m.name, m.tenant
            ));
        }
        if !guid(&m.client_id) || !guid(&m.object_id) {
            problems.push(format!(
                "managed_identities.{}: client_id and object_id must be GUIDs",
                m.name
            ));
        }
    }
}

/// Check the seed's federated credentials and issuers .
fn federation(seed: &Seed, problems: &mut Vec<String>) {
    for c in &seed.federated_credentials {
        if !seed
            .apps
            .iter()
            .any(|a| a.app_id.eq_ignore_ascii_case(&c.app_id))
        {
            problems.push(format!(
                "federated_credentials.{}: app '{}' is not an app of the data file",
                c.name, c.app_id
            ));
        }
        if c.audiences.is_empty() {
            problems.push(format!(
                "federated_credentials.{}: audiences must not be empty (use \"{TOKEN_EXCHANGE_AUDIENCE}\")",
                c.name
            ));
        }
    }
    for i in &seed.external_issuers {
        if serde_json::from_str::<JwkSet>(&i.jwks).is_err() {
            problems.push(format!(
                "external_issuers.{}: jwks is not a JWKS document ({{\"keys\": [...]}})",
                i.issuer
            ));
        }
    }
}
