//! `setup`: one command for the seed's manual first steps (Partner Center "Create a secure
//! partner application"), safe to run again.
//!
//! With a signed-in partner admin ([`signin`]), [`run`] makes the partner tenant match
//! [`rules`]: the Partner Center service principal exists; the multitenant app exists with the
//! web redirect URI, exactly the delegated permissions (ids resolved from the resource service
//! principals, so a renamed or withdrawn permission is reported instead of registered) and no
//! application permissions; its certificate (generated self-signed, or given) is registered;
//! the app's service principal exists; the configuration file is written. Each step says what
//! it found and what it did (`create`, `update`, `unchanged`); a second run reports no changes.
//! With `dry_run` nothing is changed and the report is the plan.
//!
//! This file holds the options and the certificate plan; `registration` makes the
//! registrations, `config_file` edits the configuration file in place (`diff` shows the edit of
//! a dry run), `report` describes each step.

pub mod browser;
pub mod certificate;
pub mod cli;
mod config_file;
mod diff;
mod registration;
mod report;
pub mod rules;
pub mod signin;

use std::path::{Path, PathBuf};

use url::Url;

pub use certificate::AppCertificate;
use common::cloud::{CloudEndpoints, GRAPH_APP_ID};
use common::config::{AppMode, EndpointVersion, StoreSettings};
use common::graph::KeyCredential;
use config_file::write_configuration;
pub use registration::registered_permissions;
use registration::{
    ensure_app_principal, ensure_application, ensure_partner_center_principal, resolve_permissions,
};
pub use report::{Change, SetupError, SetupReport, Step};
use report::{Plan, graph_error};
pub use signin::{AdminSession, DeviceAuthorization, SignInSettings};

/// Which certificate the app authenticates with.
#[derive(Clone, Debug)]
pub enum CertificateChoice {
    /// Use this PEM certificate (and key file) as given; it is registered on the app.
    Existing {
        /// Certificate PEM.
        certificate: PathBuf,
        /// Private-key PEM (may be the same file).
        private_key: PathBuf,
    },
    /// Keep a self-signed certificate and key in this file (0600): created when missing,
    /// replaced when it expires within `renew_days`.
    Generate {
        /// The PEM file.
        path: PathBuf,
        /// Validity of a new certificate, days.
        valid_days: u32,
        /// Renew when fewer days than this are left.
        renew_days: u32,
    },
}

/// What `setup` is asked to make.
#[derive(Clone, Debug)]
pub struct SetupOptions {
    /// CSP or CPV (written to the configuration).
    pub mode: AppMode,
    /// The cloud.
    pub cloud: CloudEndpoints,
    /// Display name of the app registration.
    pub display_name: String,
    /// The consent app's redirect URL (Web platform).
    pub redirect_url: Url,
    /// An existing app to update (configuration `app.client_id`); otherwise found by name.
    pub app_id: Option<String>,
    /// The certificate.
    pub certificate: CertificateChoice,
    /// The configuration file to edit in place (created when missing).
    pub config_path: PathBuf,
    /// The configuration directory (`--config-dir`): relative paths in a file there resolve
    /// against its parent, in any other file against the file's directory.
    pub config_dir: PathBuf,
    /// CPV: the partner tenants allowed to consent (`partner.allowed_tenants`); must not be
    /// empty in CPV mode, as partner-consent refuses to start without it. Unused for a CSP.
    pub allowed_tenants: Vec<String>,
    /// Carried into the written configuration.
    pub endpoint_version: EndpointVersion,
    /// Carried into the written configuration (non-secret keys only).
    pub store: Option<StoreSettings>,
    /// Carried into the written configuration.
    pub ca_bundle: Option<PathBuf>,
    /// Report the plan, change nothing.
    pub dry_run: bool,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.date()
                .format(&time::format_description::well_known::Iso8601::DATE)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// The certificate to register: the current one (`None` in a dry run that would generate it),
/// the one it replaces (kept registered until it expires), and the private-key file.
struct CertificatePlan {
    current: Option<AppCertificate>,
    previous: Option<AppCertificate>,
    key_path: PathBuf,
}

impl CertificatePlan {
    fn key_credentials(&self) -> Vec<KeyCredential> {
        self.current
            .iter()
            .chain(self.previous.iter())
            .map(AppCertificate::key_credential)
            .collect()
    }
}

/// Makes the partner tenant match [`rules`] (see the module docs). `session` is the signed-in
/// admin of the partner tenant.
pub async fn run(
    session: &AdminSession,
    options: &SetupOptions,
) -> Result<SetupReport, SetupError> {
    let graph = &session.graph;
    if options.mode == AppMode::Cpv && options.allowed_tenants.is_empty() {
        return Err(SetupError::Refused(
            "a CPV configuration needs the partner tenants allowed to consent \
             (partner.allowed_tenants), or partner-consent refuses to start: pass \
             --allowed-tenant TENANT (repeatable; '*' allows any partner tenant)"
                .into(),
        ));
    }
    let mut plan = Plan {
        dry_run: options.dry_run,
        steps: Vec::new(),
        config_diff: String::new(),
        config_keys: Vec::new(),
    };
    // 1. The Partner Center service principal (New-MgServicePrincipal -AppId fa3d9a0c-…).
    let pc_sp = ensure_partner_center_principal(graph, &mut plan).await?;
    let graph_sp = graph
        .get_service_principal_by_app_id(GRAPH_APP_ID)
        .await
        .map_err(graph_error("GET servicePrincipals"))?
        .ok_or_else(|| {
            SetupError::Ambiguous("the tenant has no Microsoft Graph service principal".into())
        })?;
    let desired = resolve_permissions(&graph_sp, pc_sp.as_ref())?;
    // 2. The certificate.
    let certificate = plan_certificate(options, &mut plan)?;
    // 3. The app registration.
    let app_id = ensure_application(graph, options, &desired, &certificate, &mut plan).await?;
    // 4. The app's service principal in the partner tenant (consent attaches to it).
    ensure_app_principal(graph, app_id.as_deref(), &mut plan).await?;
    // 5. The configuration file.
    write_configuration(session, options, app_id.as_deref(), &certificate, &mut plan)?;

    let mut consent_page = options.redirect_url.clone();
    consent_page.set_path("/");
    consent_page.set_query(None);
    Ok(SetupReport {
        dry_run: plan.dry_run,
        tenant_id: session.tenant_id.clone(),
        signed_in_as: session.user.clone(),
        app_id,
        steps: plan.steps,
        config_path: options.config_path.clone(),
        config_keys: plan.config_keys,
        config_diff: plan.config_diff,
        consent_page,
    })
}

fn plan_certificate(
    options: &SetupOptions,
    plan: &mut Plan,
) -> Result<CertificatePlan, SetupError> {
    match &options.certificate {
        CertificateChoice::Existing {
            certificate,
            private_key,
        } => {
            let cert = AppCertificate::read(certificate)?;
            if cert.days_left(now()) < 0 {
                return Err(SetupError::Certificate(format!(
                    "{} expired on {}; give a valid certificate or let setup generate one",
                    certificate.display(),
                    date(cert.not_after)
                )));
            }
            plan.push(
                "certificate",
                Change::Unchanged,
                format!(
                    "given: {} (thumbprint {}, expires {})",
                    certificate.display(),
                    cert.thumbprint,
                    date(cert.not_after)
                ),
            );
            Ok(CertificatePlan {
                current: Some(cert),
                previous: None,
                key_path: private_key.clone(),
            })
        }
        CertificateChoice::Generate {
            path,
            valid_days,
            renew_days,
        } => plan_generated_certificate(options, path, *valid_days, *renew_days, plan),
    }
}

/// A generated certificate is kept while it has more than `renew_days` left, else (re)made.
fn plan_generated_certificate(
    options: &SetupOptions,
    path: &Path,
    valid_days: u32,
    renew_days: u32,
    plan: &mut Plan,
) -> Result<CertificatePlan, SetupError> {
    let key_path = certificate::key_path(path);
    let existing = AppCertificate::read(path).ok();
    if let Some(c) = existing
        .as_ref()
        .filter(|c| c.days_left(now()) >= i64::from(renew_days))
    {
        plan.push(
            "certificate",
            Change::Unchanged,
            format!(
                "{} (thumbprint {}, expires {})",
                path.display(),
                c.thumbprint,
                date(c.not_after)
            ),
        );
        return Ok(CertificatePlan {
            current: Some(c.clone()),
            previous: None,
            key_path,
        });
    }
    let why = match &existing {
        Some(c) => format!("renewing: {} expires {}", c.thumbprint, date(c.not_after)),
        None => "new".into(),
    };
    let cert = if plan.dry_run {
        None
    } else {
        Some(certificate::generate(
            path,
            &options.display_name,
            valid_days,
        )?)
    };
    plan.push(
        "certificate",
        if existing.is_some() {
            Change::Update
        } else {
            Change::Create
        },
        format!(
            "{why}; self-signed RSA 2048, {valid_days} days, {} (key {}, mode 0600){}",
            path.display(),
            key_path.display(),
            cert.as_ref()
                .map(|c| format!(", thumbprint {}", c.thumbprint))
                .unwrap_or_default()
        ),
    );
    // The certificate being replaced stays registered until it expires, so running instances
    // keep working while the new file is rolled out.
    Ok(CertificatePlan {
        current: cert,
        previous: existing.filter(|c| c.days_left(now()) >= 0),
        key_path,
    })
}
