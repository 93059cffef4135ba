//! `doctor`: checks a deployment and explains each finding as pass / warn / fail with the fix.
//!
//! It reads what is *in effect*, not what was asked for: admin consent from the app's
//! `oauth2PermissionGrants`, application permissions from its `appRoleAssignments`, the
//! delegated scopes and MFA from tokens actually redeemed with the stored refresh token — so it
//! cannot say "all fine" when consent is missing (CIPP #650). Checks that need the partner
//! admin (the app registration, the Partner Center service principal, the grants) run when an
//! admin's [`GraphClient`] is given and are reported as `skip`, never `pass`, otherwise.
//!
//! Exit codes follow the monitoring-plugin convention: 0 every check passed (or was skipped),
//! 1 a warning, 2 a failure (configuration errors also exit 2).

mod vault;

use std::collections::HashMap;

use serde::Serialize;

use crate::setup::{AppCertificate, registered_permissions};
use common::cloud::{GRAPH_APP_ID, PARTNER_CENTER_APP_ID, Resource};
use common::config::{AppCredential, AppMode, CertificateSource, Settings, StoreSettings};
use common::entra::{AccessTokenClaims, decode_unverified};
use common::graph::{Application, GraphClient};
use common::rules;
use common::secret::ExposeSecret as _;
use common::tokens::{GrantMetadata, TokenBroker};

/// The result of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not run (what it needs is missing); says so and how to include it.
    Skip,
    /// Fine.
    Pass,
    /// Works now, needs attention.
    Warn,
    /// Broken.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Skip => "SKIP",
            Self::Pass => "PASS",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Stable identifier, for monitoring (`app.permissions`, `token.partner_center`, …).
    pub id: &'static str,
    /// Pass, warn, fail or skip.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do (absent when nothing is needed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Every finding.
#[derive(Clone, Debug, Serialize)]
pub struct DoctorReport {
    /// The worst status (`skip` counts as `pass`).
    pub status: Status,
    /// The findings in order.
    pub checks: Vec<Check>,
}

impl DoctorReport {
    fn new(checks: Vec<Check>) -> Self {
        let status = checks
            .iter()
            .map(|c| c.status)
            .max()
            .map_or(Status::Pass, |s| s.max(Status::Pass));
        Self { status, checks }
    }

    /// The check with `id`.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// 0 pass, 1 warn, 2 fail.
    pub fn exit_code(&self) -> u8 {
        match self.status {
            Status::Skip | Status::Pass => 0,
            Status::Warn => 1,
            Status::Fail => 2,
        }
    }

    /// The human-readable report.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!(
                "{}  {:<32} {}\n",
                c.status.label(),
                c.id,
                c.detail
            ));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("      {:<32} fix: {fix}\n", ""));
            }
        }
        let count = |s| self.checks.iter().filter(|c| c.status == s).count();
        out.push_str(&format!(
            "\n{}: {} passed, {} warnings, {} failed, {} skipped\n",
            self.status.label(),
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail),
            count(Status::Skip)
        ));
        out
    }
}

/// What `doctor` may use beyond the configuration.
#[derive(Clone, Debug)]
pub struct DoctorOptions {
    /// Graph as a signed-in partner admin: enables the registration and grant checks.
    pub admin: Option<GraphClient>,
    /// The partner whose stored grant to check (CPV: required for the token checks; CSP: the
    /// configured partner tenant).
    pub partner: Option<String>,
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
            certificate_warn_days: 30,
            inactivity_warn_days: 30,
        }
    }
}

fn check(
    id: &'static str,
    status: Status,
    detail: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check {
        id,
        status,
        detail: detail.into(),
        fix,
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
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
    let cert = credential_check(settings, options, &mut checks);
    let partner = options.partner.clone().or_else(|| match settings.mode {
        AppMode::Csp => settings.partner.tenant_id.clone(),
        AppMode::Cpv => None,
    });
    match &options.admin {
        Some(admin) => admin_checks(settings, admin, cert.as_ref(), &mut checks).await,
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
    vault::store_checks(settings, http, partner.as_deref(), &mut checks).await;
    vault::secret_checks(settings, http, &mut checks).await;
    token_checks(settings, http, partner.as_deref(), options, &mut checks).await;
    DoctorReport::new(checks)
}

fn credential_check(
    settings: &Settings,
    options: &DoctorOptions,
    checks: &mut Vec<Check>,
) -> Option<AppCertificate> {
    match &settings.app.credential {
        AppCredential::Secret(_) => {
            checks.push(check(
                "app.credential",
                Status::Warn,
                "the app authenticates with a client secret",
                Some("use a certificate: run setup (it generates and registers one) and remove app.client_secret".into()),
            ));
            None
        }
        AppCredential::Certificate(c) => {
            let path = match &c.source {
                // Read through the vault by `vault::secret_checks`.
                CertificateSource::KeyVault { .. } => return None,
                CertificateSource::Pem { certificate, .. } => certificate.clone(),
                CertificateSource::Pkcs12 { path, .. } => {
                    checks.push(check(
                        "app.credential",
                        Status::Pass,
                        format!("PKCS#12 certificate {}", path.display()),
                        None,
                    ));
                    return None;
                }
            };
            match AppCertificate::read(&path) {
                Err(e) => {
                    checks.push(check(
                        "app.credential",
                        Status::Fail,
                        format!("certificate unreadable: {e}"),
                        Some("run setup to generate and register a certificate, or fix app.certificate_path".into()),
                    ));
                    None
                }
                Ok(cert) => {
                    let days = cert.days_left(now());
                    let detail = format!(
                        "certificate {} (thumbprint {}) expires in {days} days",
                        path.display(),
                        cert.thumbprint
                    );
                    checks.push(if days < 0 {
                        check(
                            "app.credential",
                            Status::Fail,
                            format!("certificate {} expired", path.display()),
                            Some(rotate_fix()),
                        )
                    } else if days < options.certificate_warn_days {
                        check("app.credential", Status::Warn, detail, Some(rotate_fix()))
                    } else {
                        check("app.credential", Status::Pass, detail, None)
                    });
                    Some(cert)
                }
            }
        }
    }
}

fn rotate_fix() -> String {
    "run setup again: it creates and registers a new certificate and keeps the old one registered until it expires (docs/setup-azure.md, \"Certificate rotation\")".into()
}

/// "Resource value" of every permission the app must request (delegated).
fn required_names() -> Vec<String> {
    rules::REQUIRED_DELEGATED
        .iter()
        .flat_map(|(r, vs)| {
            vs.iter()
                .map(move |v| format!("{} {v}", rules::resource_name(r)))
        })
        .collect()
}

fn join_names<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Permission ids -> "Resource value" (delegated) or "Resource value (application)", read from
/// the resource service principals.
struct PermissionNames(HashMap<String, String>);

impl PermissionNames {
    async fn read(admin: &GraphClient) -> Self {
        let mut names = HashMap::new();
        for (resource, _) in rules::REQUIRED_DELEGATED {
            let Ok(Some(sp)) = admin.get_service_principal_by_app_id(resource).await else {
                continue;
            };
            let name = rules::resource_name(resource);
            for s in &sp.oauth2_permission_scopes {
                if let Some(v) = &s.value {
                    names.insert(s.id.to_ascii_lowercase(), format!("{name} {v}"));
                }
            }
            for r in &sp.app_roles {
                if let Some(v) = &r.value {
                    names.insert(
                        r.id.to_ascii_lowercase(),
                        format!("{name} {v} (application)"),
                    );
                }
            }
        }
        Self(names)
    }

    fn of(&self, id: &str) -> String {
        self.0
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("permission {id}"))
    }
}

/// The checks that need a signed-in partner admin: the Partner Center service principal, the
/// registration as Graph has it, and what is granted, read from the grants themselves.
async fn admin_checks(
    settings: &Settings,
    admin: &GraphClient,
    cert: Option<&AppCertificate>,
    checks: &mut Vec<Check>,
) {
    partner_center_check(admin, checks).await;
    let Some(app) = registration(settings, admin, checks).await else {
        return;
    };
    registration_checks(settings, &app, checks);
    let names = PermissionNames::read(admin).await;
    permission_checks(&app, &names, checks);
    if let Some(cert) = cert {
        checks.push(certificate_registered_check(&app, cert));
    }
    grant_checks(settings, admin, &names, checks).await;
}

async fn partner_center_check(admin: &GraphClient, checks: &mut Vec<Check>) {
    const ID: &str = "partner_center.service_principal";
    checks.push(
        match admin
            .get_service_principal_by_app_id(PARTNER_CENTER_APP_ID)
            .await
        {
            Ok(Some(_)) => check(ID, Status::Pass, "present in the partner tenant", None),
            Ok(None) => check(
                ID,
                Status::Fail,
                "the Microsoft Partner Center service principal is missing from the partner tenant",
                Some(format!(
                    "run setup, or New-MgServicePrincipal -AppId {PARTNER_CENTER_APP_ID}"
                )),
            ),
            Err(e) => check(ID, Status::Fail, format!("cannot read: {e}"), None),
        },
    );
}

async fn registration(
    settings: &Settings,
    admin: &GraphClient,
    checks: &mut Vec<Check>,
) -> Option<Application> {
    match admin
        .get_application_by_app_id(&settings.app.client_id)
        .await
    {
        Ok(Some(app)) => Some(app),
        Ok(None) => {
            checks.push(check(
                "app.registration",
                Status::Fail,
                format!("no app registration with appId {} in the partner tenant", settings.app.client_id),
                Some("run setup, or set app.client_id to the multitenant app's Application (client) ID".into()),
            ));
            None
        }
        Err(e) => {
            checks.push(check(
                "app.registration",
                Status::Fail,
                format!("cannot read: {e}"),
                None,
            ));
            None
        }
    }
}

fn registration_checks(settings: &Settings, app: &Application, checks: &mut Vec<Check>) {
    let audience = app.sign_in_audience.as_str();
    checks.push(if audience == rules::SIGN_IN_AUDIENCE {
        check("app.multitenant", Status::Pass, "signInAudience AzureADMultipleOrgs", None)
    } else {
        check("app.multitenant", Status::Fail, format!("signInAudience is {audience}: partner admins of other tenants cannot consent"), Some("set Supported account types to \"Accounts in any organizational directory\" (or run setup)".into()))
    });
    let redirect = settings.consent.redirect_url.as_str();
    let has_redirect = app.web.redirect_uris.iter().any(|u| u == redirect);
    checks.push(if has_redirect {
        check("app.redirect_uri", Status::Pass, format!("web redirect URI {redirect} registered"), None)
    } else {
        check("app.redirect_uri", Status::Fail, format!("consent.redirect_url {redirect} is not a web redirect URI of the app (sign-in fails with AADSTS50011)"), Some(format!("add {redirect} under Authentication > Web (or run setup)")))
    });
}

fn permission_checks(app: &Application, names: &PermissionNames, checks: &mut Vec<Check>) {
    let registered = registered_permissions(app);
    let of_kind = |kind: &str| -> Vec<String> {
        registered
            .iter()
            .filter(|(_, _, t)| t == kind)
            .map(|(_, id, _)| names.of(id))
            .collect()
    };
    let delegated = of_kind("Scope");
    let required = required_names();
    let missing: Vec<&String> = required.iter().filter(|r| !delegated.contains(r)).collect();
    let extra: Vec<&String> = delegated.iter().filter(|d| !required.contains(d)).collect();
    checks.push(if missing.is_empty() && extra.is_empty() {
        check(
            "app.permissions",
            Status::Pass,
            format!("exactly the delegated permissions: {}", required.join(", ")),
            None,
        )
    } else if missing.is_empty() {
        check(
            "app.permissions",
            Status::Warn,
            format!(
                "more delegated permissions than needed: {}",
                join_names(&extra)
            ),
            Some("remove them under API permissions (least privilege), or run setup".into()),
        )
    } else {
        check(
            "app.permissions",
            Status::Fail,
            format!("missing delegated permission(s): {}", join_names(&missing)),
            Some("run setup (or fix it in Entra ID > App registrations) and check again".into()),
        )
    });
    let roles = of_kind("Role");
    checks.push(if roles.is_empty() {
        check("app.no_application_permissions", Status::Pass, "the registration requests no application permissions", None)
    } else {
        check("app.no_application_permissions", Status::Fail, format!("the registration requests application permissions: {}", roles.join(", ")), Some("remove every application permission under API permissions (the SAM app acts only as the partner admin), or run setup".into()))
    });
}

fn certificate_registered_check(app: &Application, cert: &AppCertificate) -> Check {
    let registered = app
        .key_credentials
        .iter()
        .any(|k| cert.matches_key_credential(k));
    if registered {
        check(
            "app.certificate_registered",
            Status::Pass,
            format!("certificate {} registered on the app", cert.thumbprint),
            None,
        )
    } else {
        check(
            "app.certificate_registered",
            Status::Fail,
            format!(
                "certificate {} is not registered on the app (AADSTS700027)",
                cert.thumbprint
            ),
            Some("upload it under Certificates & secrets, or run setup".into()),
        )
    }
}

/// What is granted to the app's service principal: the delegated grants (admin consent) and
/// no application permission.
async fn grant_checks(
    settings: &Settings,
    admin: &GraphClient,
    names: &PermissionNames,
    checks: &mut Vec<Check>,
) {
    let sp = match admin
        .get_service_principal_by_app_id(&settings.app.client_id)
        .await
    {
        Ok(Some(sp)) => sp,
        Ok(None) => {
            checks.push(check(
                "consent.admin_grants",
                Status::Fail,
                "the app has no service principal in the partner tenant: nobody has consented",
                Some(
                    "have a Global Admin + Admin Agent consent at the partner-consent page".into(),
                ),
            ));
            return;
        }
        Err(e) => {
            checks.push(check(
                "consent.admin_grants",
                Status::Fail,
                format!("cannot read: {e}"),
                None,
            ));
            return;
        }
    };
    checks.push(admin_grants_check(admin, &sp.id).await);
    checks.push(app_role_assignments_check(admin, &sp.id, names).await);
}

async fn admin_grants_check(admin: &GraphClient, sp_id: &str) -> Check {
    const ID: &str = "consent.admin_grants";
    // Resource service principal object id -> resource app id.
    let mut resource_of = HashMap::new();
    for (resource, _) in rules::REQUIRED_DELEGATED {
        if let Ok(Some(r)) = admin.get_service_principal_by_app_id(resource).await {
            resource_of.insert(r.id.to_ascii_lowercase(), *resource);
        }
    }
    let grants = match admin.list_oauth2_permission_grants(sp_id).await {
        Ok(grants) => grants,
        Err(e) => {
            return check(
                ID,
                Status::Fail,
                format!("cannot read the grants: {e}"),
                None,
            );
        }
    };
    let granted: Vec<String> = grants
        .iter()
        .filter_map(|g| {
            let resource = resource_of.get(&g.resource_id.to_ascii_lowercase())?;
            Some(
                g.scopes()
                    .map(|s| format!("{} {s}", rules::resource_name(resource)))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect();
    let required = required_names();
    let missing: Vec<&String> = required.iter().filter(|r| !granted.contains(r)).collect();
    if missing.is_empty() {
        check(
            ID,
            Status::Pass,
            format!("granted: {}", required.join(", ")),
            None,
        )
    } else {
        check(
            ID,
            Status::Fail,
            format!("not granted: {}", join_names(&missing)),
            Some(
                "a Global Admin + Admin Agent must consent again at the partner-consent page"
                    .into(),
            ),
        )
    }
}

async fn app_role_assignments_check(
    admin: &GraphClient,
    sp_id: &str,
    names: &PermissionNames,
) -> Check {
    const ID: &str = "consent.no_app_role_assignments";
    match admin.list_app_role_assignments(sp_id).await {
        Ok(assigned) if assigned.is_empty() => check(
            ID,
            Status::Pass,
            "no application permission is granted to the app",
            None,
        ),
        Ok(assigned) => {
            let list: Vec<String> = assigned
                .iter()
                .map(|a| {
                    format!(
                        "{} {}",
                        a.resource_display_name.as_deref().unwrap_or("?"),
                        names.of(&a.app_role_id.to_ascii_lowercase())
                    )
                })
                .collect();
            check(ID, Status::Fail, format!("application permissions are granted: {}", list.join(", ")), Some("remove them in Enterprise applications > the app > Permissions (Revoke), then run setup so the registration stops requesting them".into()))
        }
        Err(e) => check(ID, Status::Fail, format!("cannot read: {e}"), None),
    }
}

const TOKEN_CHECKS: [&str; 4] = [
    "token.partner_center",
    "token.graph",
    "token.mfa",
    "token.inactivity",
];

fn fail_token_checks(checks: &mut Vec<Check>, detail: &str, fix: Option<String>) {
    for id in TOKEN_CHECKS {
        checks.push(check(id, Status::Fail, detail, fix.clone()));
    }
}

/// The stored grant, redeemed for real: the scopes and MFA of the tokens, the rotated token
/// written back, and the inactivity window.
async fn token_checks(
    settings: &Settings,
    http: &reqwest::Client,
    partner: Option<&str>,
    options: &DoctorOptions,
    checks: &mut Vec<Check>,
) {
    let Some(partner) = partner else {
        for id in TOKEN_CHECKS {
            checks.push(check(
                id,
                Status::Skip,
                "not checked: no partner tenant chosen",
                Some(
                    "pass --partner-tenant TENANT (CPV: the partner whose consent to check)".into(),
                ),
            ));
        }
        return;
    };
    let broker = match TokenBroker::from_settings(settings, http.clone()).await {
        Ok(b) => b,
        Err(e) => {
            let detail = format!("cannot build the token broker: {e}");
            return fail_token_checks(checks, &detail, None);
        }
    };
    // Read before redeeming: the redemption below renews the inactivity window.
    let status = broker.status(partner).await;
    let Some(meta) = status.meta.clone() else {
        let detail = format!(
            "no consent stored for partner tenant {partner} in {}",
            status.location
        );
        let fix = format!(
            "a Global Admin + Admin Agent consents at {}",
            consent_page(settings)
        );
        return fail_token_checks(checks, &detail, Some(fix));
    };
    let mfa = redemption_checks(settings, &broker, partner, checks).await;
    checks.push(mfa_check(settings, mfa, &meta));
    let after = broker.status(partner).await;
    // Counted writes, not `rotated_at` timestamps: those have one-second resolution, and a
    // consent and its first rotation often share a second.
    let renewed = after.persisted && after.rotations_stored > status.rotations_stored;
    checks.push(match (&after.last_store_error, renewed) {
        (Some(e), _) => check("store.set", Status::Fail, format!("the rotated refresh token could not be written ({e}); the previous one stays stored"), Some("give the store identity Set on secrets, and check the vault is reachable".into())),
        (None, true) => check("store.set", Status::Pass, format!("the rotated refresh token was written to {}", after.location), None),
        (None, false) => check("store.set", Status::Skip, "no rotation happened (the token endpoint returned no new refresh token)", None),
    });
    checks.push(inactivity_check(settings, options, &meta, renewed));
}

/// Redeems the stored refresh token for Partner Center and Graph and checks each token's
/// scopes; whether the Partner Center token carries MFA (`None` when it was not issued).
async fn redemption_checks(
    settings: &Settings,
    broker: &TokenBroker,
    partner: &str,
    checks: &mut Vec<Check>,
) -> Option<bool> {
    let mut mfa = None;
    for (id, resource, resource_app) in [
        (
            "token.partner_center",
            Resource::PartnerCenter,
            PARTNER_CENTER_APP_ID,
        ),
        ("token.graph", Resource::Graph, GRAPH_APP_ID),
    ] {
        let token = match broker.delegated_token(partner, partner, resource).await {
            Ok(token) => token,
            Err(e) => {
                checks.push(check(
                    id,
                    Status::Fail,
                    format!("the stored refresh token does not redeem for {resource}: {e}"),
                    Some(e.remedy().hint().to_owned()),
                ));
                continue;
            }
        };
        // Unverified: the token came from the token endpoint just now; only described here.
        let claims: AccessTokenClaims =
            decode_unverified(token.expose_secret()).unwrap_or_default();
        let scp = claims.scopes();
        if resource == Resource::PartnerCenter {
            mfa = Some(claims.has_mfa());
        }
        let missing: Vec<&str> = rules::required_scopes(resource_app)
            .into_iter()
            .filter(|n| !scp.iter().any(|s| s.eq_ignore_ascii_case(n)))
            .collect();
        checks.push(if missing.is_empty() {
            check(
                id,
                Status::Pass,
                format!(
                    "the stored refresh token redeems for {resource}; granted {}",
                    scp.join(" ")
                ),
                None,
            )
        } else {
            check(
                id,
                Status::Fail,
                format!("the token for {resource} lacks {}", missing.join(", ")),
                Some(format!("consent again at {}", consent_page(settings))),
            )
        });
    }
    mfa
}

fn mfa_check(settings: &Settings, mfa: Option<bool>, meta: &GrantMetadata) -> Check {
    match mfa {
        Some(true) => check(
            "token.mfa",
            Status::Pass,
            format!(
                "the consent sign-in used MFA ({})",
                meta.user.as_deref().unwrap_or("user")
            ),
            None,
        ),
        Some(false) => check(
            "token.mfa",
            Status::Fail,
            "the token carries no MFA claim: Partner Center refuses it",
            Some(format!(
                "consent again signing in with Microsoft MFA at {}",
                consent_page(settings)
            )),
        ),
        None => check(
            "token.mfa",
            if meta.mfa { Status::Warn } else { Status::Fail },
            format!(
                "not verified from a token (consent recorded mfa={})",
                meta.mfa
            ),
            Some("fix the Partner Center token check above first".into()),
        ),
    }
}

fn inactivity_check(
    settings: &Settings,
    options: &DoctorOptions,
    meta: &GrantMetadata,
    renewed: bool,
) -> Check {
    let age_days = (now() - meta.rotated_at).div_euclid(86_400);
    let left = rules::REFRESH_TOKEN_INACTIVITY_DAYS - age_days;
    if left <= 0 {
        check(
            "token.inactivity",
            Status::Fail,
            format!(
                "last rotated {age_days} days ago: past the {}-day inactivity limit",
                rules::REFRESH_TOKEN_INACTIVITY_DAYS
            ),
            Some(format!(
                "consent again at {}, then schedule keepalive (docs/operations.md)",
                consent_page(settings)
            )),
        )
    } else if left < options.inactivity_warn_days {
        check(
            "token.inactivity",
            Status::Warn,
            format!(
                "last rotated {age_days} days ago: {left} days were left before the inactivity expiry{}",
                if renewed {
                    " (this run renewed it)"
                } else {
                    ""
                }
            ),
            Some("schedule keepalive daily or weekly (docs/operations.md)".into()),
        )
    } else {
        check(
            "token.inactivity",
            Status::Pass,
            format!("last rotated {age_days} days ago: {left} days before the inactivity expiry"),
            None,
        )
    }
}

fn consent_page(settings: &Settings) -> url::Url {
    let mut page = settings.consent.redirect_url.clone();
    page.set_path("/");
    page.set_query(None);
    page
}

/// Whether the store is Key Vault (for callers choosing what to print).
pub fn uses_key_vault(settings: &Settings) -> bool {
    matches!(settings.store, StoreSettings::KeyVault(_))
}
