//! The configuration file `setup` writes: what it chose, and nothing secret.

use std::path::Path;

use common::cloud::CloudName;
use common::config::{self, KeyVaultIdentity, RawSettings, StoreKind, StoreSettings};

use super::report::{Change, Plan, SetupError};
use super::{AdminSession, CertificateChoice, CertificatePlan, SetupOptions, certificate};

pub(super) fn write_configuration(
    session: &AdminSession,
    options: &SetupOptions,
    app_id: Option<&str>,
    certificate: &CertificatePlan,
    plan: &mut Plan,
) -> Result<(), SetupError> {
    let cert_path = match &options.certificate {
        CertificateChoice::Existing { certificate, .. } => certificate.clone(),
        CertificateChoice::Generate { path, .. } => path.clone(),
    };
    let text = render_config(
        options,
        &session.tenant_id,
        app_id.unwrap_or("(created by setup)"),
        &cert_path,
        &certificate.key_path,
    );
    let current = std::fs::read_to_string(&options.config_path).ok();
    let change = match &current {
        Some(c) if *c == text => Change::Unchanged,
        Some(_) => Change::Update,
        None => Change::Create,
    };
    if change != Change::Unchanged && !plan.dry_run {
        certificate::write_private(&options.config_path, text.as_bytes())?;
    }
    plan.push(
        "configuration file",
        change,
        options.config_path.display().to_string(),
    );
    Ok(())
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// The configuration `setup` writes: the app, the partner, the cloud and the consent redirect,
/// plus the non-secret store and HTTP keys carried over. Serialised from the typed raw settings
/// by [`config::render_toml`], so it loads back to exactly what setup chose. It never holds a
/// secret: the certificate's private key stays in its own 0600 file, named by path.
fn render_config(
    options: &SetupOptions,
    tenant: &str,
    app_id: &str,
    cert: &Path,
    key: &Path,
) -> String {
    let mut raw = RawSettings {
        mode: options.mode.to_string(),
        ..RawSettings::default()
    };
    raw.app.client_id = app_id.to_owned();
    raw.app.display_name = options.display_name.clone();
    raw.app.certificate_path = path_str(cert);
    raw.app.private_key_path = path_str(key);
    raw.partner.tenant_id = tenant.to_owned();
    let c = &options.cloud;
    raw.cloud.name = c.name.as_str().to_owned();
    if c.name == CloudName::Custom {
        raw.cloud.authority_host = c.authority_host.to_string();
        raw.cloud.graph_url = c.graph.to_string();
        raw.cloud.partner_center_url = c.partner_center.to_string();
        raw.cloud.key_vault_dns_suffix = c.key_vault_dns_suffix.clone();
    }
    raw.entra.endpoint_version = options.endpoint_version.to_string();
    raw.consent.redirect_url = options.redirect_url.to_string();
    match &options.store {
        Some(StoreSettings::KeyVault(kv)) => {
            raw.store.kind = StoreKind::KeyVault.to_string();
            let r = &mut raw.store.key_vault;
            r.vault_url = kv.vault_url.to_string();
            r.secret_prefix = kv.secret_prefix.clone();
            r.identity = kv.identity.kind().to_string();
            r.tenant_id = kv.identity.tenant_id().unwrap_or_default().to_owned();
            r.client_id = kv.identity.client_id().unwrap_or_default().to_owned();
            if let KeyVaultIdentity::ClientCertificate {
                certificate,
                private_key,
                ..
            } = &kv.identity
            {
                r.certificate_path = path_str(certificate);
                r.private_key_path = path_str(private_key);
            }
        }
        Some(StoreSettings::Local(l)) => {
            raw.store.kind = StoreKind::Local.to_string();
            raw.store.local.path = path_str(&l.path);
            raw.store.local.key_file = path_str(&l.key_file);
        }
        None => {}
    }
    if let Some(ca) = &options.ca_bundle {
        raw.http.ca_bundle = path_str(ca);
    }
    config::render_toml(
        &raw,
        "Written by `setup` (crate admin). It holds no secret: the private key stays in\n\
         its own file (mode 0600). Check it with `doctor`; see docs/setup-azure.md.",
    )
}
