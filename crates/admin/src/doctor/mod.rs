//! `doctor`: checks a deployment and explains each finding as pass / warn / fail with the fix.
//!
//! It reads what is *in effect*, not what was asked for: admin consent from the app's
//! `oauth2PermissionGrants`, application permissions from its `appRoleAssignments`, the
//! delegated scopes and MFA from tokens actually redeemed with the stored refresh token — so it
//! cannot say "all fine" when consent is missing (CIPP #650). Checks that need the partner
//! admin (the app registration, the Partner Center service principal, the grants) run when an
//! admin's [`GraphClient`] is given and are reported as `skip`, never `pass`, otherwise.
//!
//! The checks by subject: `credential` (the app's certificate), [`registration`] (what the
//! registration requests and what is granted, read with an admin's Graph), `vault` (the
//! store), [`token`] (the stored grant redeemed), `customers` (CPV: the application
//! permissions the app holds in each partner's customer tenants, against
//! `[customers] application_permissions`). `watch` runs [`registration`] and [`token`]'s
//! typed checks with its own clients and tokens rather than the whole doctor.
//!
//! Exit codes are the CLIs' ([`cli_kit::Exit`]): 0 every check passed (or was skipped), 4 a
//! warning, 1 a failure; a configuration error exits 2 before any check runs.

mod credential;
mod customers;
pub mod registration;
mod report;
pub mod token;
mod vault;

use common::config::{AppMode, Settings, StoreSettings};
use common::graph::GraphClient;
use common::tokens::TokenBroker;

pub use report::{Check, DoctorReport, Status, Unread, cannot_read, check};

/// What `doctor` may use beyond the configuration.
#[derive(Clone, Debug)]
pub struct DoctorOptions {
    /// Graph as a signed-in partner admin: enables the registration and grant checks.
    pub admin: Option<GraphClient>,
    /// The partner whose stored grant to check (CPV: required for the token checks; CSP: the
    /// configured partner tenant).
    pub partner: Option<String>,
    /// More partners to check (`--partner`); with `partner` empty too, a CPV checks every
    /// partner in `partner.allowed_tenants` and every partner whose consent is stored.
    pub partners: Vec<String>,
    /// CPV: the customers whose application permissions to check (`--customer`); empty: every
    /// customer of each checked partner.
    pub customers: Vec<String>,
    /// Warn when the certificate expires within this many days.
    pub certificate_warn_days: i64,
    /// Warn when the refresh token would expire from inactivity within this many days.
    pub inactivity_warn_days: i64,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        Self {
            admin: None,
            partner: None,
            partners: Vec::new(),
            customers: Vec::new(),
            certificate_warn_days: 30,
            inactivity_warn_days: 30,
        }
    }
}

/// Runs every check against validated `settings` (a configuration that does not validate is
/// reported by the loader, exit 2, before this).
pub async fn run(
    settings: &Settings,
    http: &reqwest::Client,
    options: &DoctorOptions,
) -> DoctorReport {
    let mut checks = Vec::new();
    let warnings = settings.warnings();
    checks.push(if warnings.is_empty() {
        check("config", Status::Pass, "configuration valid", None)
    } else {
        check(
            "config",
            Status::Warn,
            format!(
                "configuration valid, with warnings: {}",
                warnings.join("; ")
            ),
            Some("see docs/configuration.md".into()),
        )
    });
    let cert = credential::credential_check(settings, options, &mut checks);
    let partners = partners_to_check(settings, http, options).await;
    match &options.admin {
        Some(admin) => checks.extend(registration::checks(settings, admin, cert.as_ref()).await),
        None => {
            for id in [
                "app.registration",
                "partner_center.service_principal",
                "consent.admin_grants",
            ] {
                checks.push(check(
                    id,
                    Status::Skip,
                    "not checked: needs a partner admin's sign-in",
                    Some("run doctor --sign-in device-code (or browser) as a Global Administrator of the partner tenant".into()),
                ));
            }
        }
    }
    let first = partners.first().map(String::as_str);
    vault::store_checks(settings, http, first, &mut checks).await;
    vault::secret_checks(settings, http, &mut checks).await;
    let cpv = settings.mode == AppMode::Cpv;
    if partners.is_empty() {
        token::token_checks(settings, http, None, options, &mut checks).await;
        if cpv {
            checks.push(check(
                customers::ID,
                Status::Skip,
                "not checked: no partner tenant chosen",
                Some(
                    "name one with --partner TENANT, or list partners in partner.allowed_tenants"
                        .into(),
                ),
            ));
        }
    }
    for partner in &partners {
        let mut of_partner = Vec::new();
        token::token_checks(settings, http, Some(partner), options, &mut of_partner).await;
        if cpv {
            of_partner.push(
                customers::application_permissions_check(
                    settings,
                    http,
                    partner,
                    &options.customers,
                )
                .await,
            );
        }
        if partners.len() > 1 {
            for c in &mut of_partner {
                c.detail = format!("partner {partner}: {}", c.detail);
            }
        }
        checks.extend(of_partner);
    }
    DoctorReport::new(checks)
}

/// The partners whose stored grant the token checks redeem: those named (`--partner-tenant`,
/// `--partner`); else a CSP's own tenant; else (CPV) every tenant of `partner.allowed_tenants`
/// and every partner whose consent is stored (a store that cannot list gives the configured ones).
async fn partners_to_check(
    settings: &Settings,
    http: &reqwest::Client,
    options: &DoctorOptions,
) -> Vec<String> {
    let mut partners: Vec<String> = options
        .partner
        .iter()
        .chain(&options.partners)
        .cloned()
        .collect();
    if partners.is_empty() {
        match settings.mode {
            AppMode::Csp => partners.extend(settings.partner.tenant_id.clone()),
            AppMode::Cpv => {
                partners.extend(
                    settings
                        .partner
                        .allowed_tenants
                        .iter()
                        .filter(|t| t.as_str() != "*")
                        .cloned(),
                );
                if let Ok(broker) = TokenBroker::from_settings(settings, http.clone()).await
                    && let Ok(stored) = broker.stored_partners().await
                {
                    partners.extend(stored.into_iter().map(|g| g.tenant_id));
                }
            }
        }
    }
    for p in &mut partners {
        p.make_ascii_lowercase();
    }
    let mut seen = std::collections::HashSet::new();
    partners.retain(|p| seen.insert(p.clone()));
    partners
}

/// Whether the store is Key Vault (for callers choosing what to print).
pub fn uses_key_vault(settings: &Settings) -> bool {
    matches!(settings.store, StoreSettings::KeyVault(_))
}
