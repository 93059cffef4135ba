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

pub mod certificate;
pub mod cli;
pub mod rules;
pub mod signin;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use url::Url;

pub use certificate::AppCertificate;
use common::cloud::{CloudEndpoints, CloudName, GRAPH_APP_ID, PARTNER_CENTER_APP_ID};
use common::config::{
    self, AppMode, EndpointVersion, KeyVaultIdentity, RawSettings, StoreKind, StoreSettings,
};
use common::graph::{
    Application, ApplicationUpdate, GraphClient, GraphError, KeyCredential, NewApplication,
    RequiredResourceAccess, ResourceAccess, ServicePrincipal, WebApplication,
};
pub use signin::{AdminSession, DeviceAuthorization, SignInSettings};

/// Why `setup` stopped.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The admin sign-in failed.
    #[error("sign-in failed: {message}")]
    SignIn {
        /// What Entra (or the flow) said.
        message: String,
    },
    /// A Graph call failed.
    #[error("{request} failed: {source}{}", graph_remedy(source.status()))]
    Graph {
        /// Method and collection.
        request: &'static str,
        /// What Graph (or the transport) said.
        source: GraphError,
    },
    /// A required permission is not offered by its API (renamed or withdrawn: permission drift).
    #[error(
        "{resource} offers no delegated permission {permission}; the rules in common::rules need updating (nothing was registered)"
    )]
    PermissionNotFound {
        /// The resource API.
        resource: String,
        /// The permission value.
        permission: String,
    },
    /// The certificate is unusable.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Something `setup` cannot decide alone.
    #[error("{0}")]
    Ambiguous(String),
}

fn graph_error(request: &'static str) -> impl Fn(GraphError) -> SetupError {
    move |source| SetupError::Graph { request, source }
}

fn graph_remedy(status: Option<u16>) -> &'static str {
    match status.unwrap_or_default() {
        401 | 403 => {
            ". Sign in as a Global Administrator or Application Administrator of the partner tenant"
        }
        429 => ". Graph is throttling: wait and run setup again (it resumes where it stopped)",
        _ => "",
    }
}

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
    /// The configuration file to write.
    pub config_path: PathBuf,
    /// Carried into the written configuration.
    pub endpoint_version: EndpointVersion,
    /// Carried into the written configuration (non-secret keys only).
    pub store: Option<StoreSettings>,
    /// Carried into the written configuration.
    pub ca_bundle: Option<PathBuf>,
    /// Report the plan, change nothing.
    pub dry_run: bool,
}

/// What a step did (or, in a dry run, would do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Created.
    Create,
    /// Changed.
    Update,
    /// Already right.
    Unchanged,
}

/// One step of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// What the step is about.
    pub target: String,
    /// Create, update or unchanged.
    pub change: Change,
    /// What was found or done.
    pub detail: String,
}

/// The result of [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct SetupReport {
    /// A dry run (nothing changed).
    pub dry_run: bool,
    /// The partner tenant.
    pub tenant_id: String,
    /// Who signed in.
    pub signed_in_as: Option<String>,
    /// The app (client) ID; `None` in a dry run that would create it.
    pub app_id: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The configuration file.
    pub config_path: PathBuf,
    /// Where a partner admin consents (the partner-consent app's landing page).
    pub consent_page: Url,
}

impl SetupReport {
    /// Whether anything was (or would be) changed.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.change != Change::Unchanged)
    }

    /// The human-readable report.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let verb = |c: Change| match (c, self.dry_run) {
            (Change::Create, true) => "would create",
            (Change::Create, false) => "created",
            (Change::Update, true) => "would update",
            (Change::Update, false) => "updated",
            (Change::Unchanged, _) => "unchanged",
        };
        out.push_str(&format!(
            "{} for partner tenant {}{}\n\n",
            if self.dry_run {
                "Set-up plan (dry run: nothing changed)"
            } else {
                "Set-up"
            },
            self.tenant_id,
            self.signed_in_as
                .as_deref()
                .map(|u| format!(" (signed in as {u})"))
                .unwrap_or_default()
        ));
        for s in &self.steps {
            out.push_str(&format!(
                "  {:<13} {:<34} {}\n",
                verb(s.change),
                s.target,
                s.detail
            ));
        }
        out.push('\n');
        if !self.has_changes() {
            out.push_str("No changes: the partner tenant already matches the rules.\n");
        }
        if let Some(app) = &self.app_id {
            out.push_str(&format!("Application (client) ID: {app}\n"));
        }
        out.push_str(&format!("Configuration: {}\n", self.config_path.display()));
        out.push_str(&format!(
            "Consent link (a Global Admin + Admin Agent of the partner, with MFA; run partner-consent there): {}\n",
            self.consent_page
        ));
        out
    }
}

/// The delegated permissions as the app registration must request them, resolved to ids.
struct Desired {
    /// requiredResourceAccess as Graph wants it.
    access: Vec<RequiredResourceAccess>,
    /// (resource app, permission id) pairs.
    pairs: BTreeSet<(String, String)>,
    /// For messages: id -> "Resource value".
    names: Vec<(String, String)>,
}

fn resolve_permissions(
    graph_sp: &ServicePrincipal,
    pc_sp: Option<&ServicePrincipal>,
) -> Result<Desired, SetupError> {
    let mut access = Vec::new();
    let mut pairs = BTreeSet::new();
    let mut names = Vec::new();
    for (resource, values) in rules::REQUIRED_DELEGATED {
        let sp = if resource.eq_ignore_ascii_case(GRAPH_APP_ID) {
            Some(graph_sp)
        } else {
            pc_sp
        };
        let mut entries = Vec::new();
        for value in *values {
            let id = match sp {
                Some(sp) => sp
                    .oauth2_permission_scopes
                    .iter()
                    .find(|s| s.value.as_deref() == Some(value))
                    .map(|s| s.id.to_ascii_lowercase())
                    .ok_or_else(|| SetupError::PermissionNotFound {
                        resource: rules::resource_name(resource).into(),
                        permission: (*value).into(),
                    })?,
                // Dry run before the Partner Center service principal exists.
                None => format!("(id of {value}, read after the service principal is created)"),
            };
            names.push((
                id.clone(),
                format!("{} {value}", rules::resource_name(resource)),
            ));
            pairs.insert((resource.to_ascii_lowercase(), id.clone()));
            entries.push(ResourceAccess::scope(id));
        }
        access.push(RequiredResourceAccess {
            resource_app_id: (*resource).to_owned(),
            resource_access: entries,
        });
    }
    Ok(Desired {
        access,
        pairs,
        names,
    })
}

/// (resource, id, type) of a registration's `requiredResourceAccess`, lower-cased ids.
pub fn registered_permissions(app: &Application) -> Vec<(String, String, String)> {
    app.required_resource_access
        .iter()
        .flat_map(|r| {
            r.resource_access.iter().map(|a| {
                (
                    r.resource_app_id.to_ascii_lowercase(),
                    a.id.to_ascii_lowercase(),
                    a.kind.clone(),
                )
            })
        })
        .collect()
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

/// The steps of a run, and whether it changes anything.
struct Plan {
    dry_run: bool,
    steps: Vec<Step>,
}

impl Plan {
    fn push(&mut self, target: &str, change: Change, detail: impl Into<String>) {
        self.steps.push(Step {
            target: target.into(),
            change,
            detail: detail.into(),
        });
    }
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
    let mut plan = Plan {
        dry_run: options.dry_run,
        steps: Vec::new(),
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
        consent_page,
    })
}

async fn ensure_partner_center_principal(
    graph: &GraphClient,
    plan: &mut Plan,
) -> Result<Option<ServicePrincipal>, SetupError> {
    const TARGET: &str = "Partner Center service principal";
    let found = graph
        .get_service_principal_by_app_id(PARTNER_CENTER_APP_ID)
        .await
        .map_err(graph_error("GET servicePrincipals"))?;
    if let Some(sp) = found {
        plan.push(
            TARGET,
            Change::Unchanged,
            format!("present (object {})", sp.id),
        );
        return Ok(Some(sp));
    }
    let created = if plan.dry_run {
        None
    } else {
        Some(
            graph
                .create_service_principal(PARTNER_CENTER_APP_ID)
                .await
                .map_err(graph_error("POST servicePrincipals"))?,
        )
    };
    plan.push(
        TARGET,
        Change::Create,
        format!("appId {PARTNER_CENTER_APP_ID}"),
    );
    Ok(created)
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

async fn find_application(
    graph: &GraphClient,
    options: &SetupOptions,
) -> Result<Option<Application>, SetupError> {
    if let Some(id) = &options.app_id {
        return graph
            .get_application_by_app_id(id)
            .await
            .map_err(graph_error("GET applications"));
    }
    let mut named = graph
        .list_applications_by_display_name(&options.display_name)
        .await
        .map_err(graph_error("GET applications"))?;
    if named.len() > 1 {
        return Err(SetupError::Ambiguous(format!(
            "{} app registrations are named {:?}; pass the one to use with --app-id",
            named.len(),
            options.display_name
        )));
    }
    Ok(named.pop())
}

/// Creates the app registration, or brings the existing one in line; its app ID (`None` in a
/// dry run that would create it).
async fn ensure_application(
    graph: &GraphClient,
    options: &SetupOptions,
    desired: &Desired,
    certificate: &CertificatePlan,
    plan: &mut Plan,
) -> Result<Option<String>, SetupError> {
    let redirect = options.redirect_url.as_str().to_owned();
    let Some(app) = find_application(graph, options).await? else {
        let new = NewApplication {
            display_name: options.display_name.clone(),
            sign_in_audience: rules::SIGN_IN_AUDIENCE.into(),
            web: WebApplication {
                redirect_uris: vec![redirect.clone()],
            },
            required_resource_access: desired.access.clone(),
            key_credentials: certificate.key_credentials(),
        };
        let app_id = if plan.dry_run {
            None
        } else {
            let created = graph
                .create_application(&new)
                .await
                .map_err(graph_error("POST applications"))?;
            Some(created.app_id)
        };
        plan.push(
            "app registration",
            Change::Create,
            format!(
                "{:?}: multitenant, redirect {redirect}, delegated {}, no application permissions, certificate registered{}",
                options.display_name,
                desired.names.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", "),
                app_id.as_deref().map(|a| format!(" (appId {a})")).unwrap_or_default()
            ),
        );
        return Ok(app_id);
    };
    let mut update = ApplicationUpdate::default();
    plan_audience(&app, &mut update, plan);
    plan_redirect(&app, &redirect, &mut update, plan);
    plan_permissions(&app, desired, &mut update, plan);
    plan_key_credentials(&app, certificate, &mut update, plan);
    if !update.is_empty() && !plan.dry_run {
        graph
            .update_application(&app.id, &update)
            .await
            .map_err(graph_error("PATCH applications"))?;
    }
    Ok(Some(app.app_id))
}

fn plan_audience(app: &Application, update: &mut ApplicationUpdate, plan: &mut Plan) {
    let audience = app.sign_in_audience.as_str();
    if audience == rules::SIGN_IN_AUDIENCE {
        plan.push("app: sign-in audience", Change::Unchanged, audience);
    } else {
        update.sign_in_audience = Some(rules::SIGN_IN_AUDIENCE.into());
        plan.push(
            "app: sign-in audience",
            Change::Update,
            format!("{audience} -> {}", rules::SIGN_IN_AUDIENCE),
        );
    }
}

fn plan_redirect(
    app: &Application,
    redirect: &str,
    update: &mut ApplicationUpdate,
    plan: &mut Plan,
) {
    let uris = &app.web.redirect_uris;
    if uris.iter().any(|u| u == redirect) {
        plan.push("app: web redirect URI", Change::Unchanged, redirect);
    } else {
        let mut uris = uris.clone();
        uris.push(redirect.to_owned());
        update.web = Some(WebApplication {
            redirect_uris: uris,
        });
        plan.push(
            "app: web redirect URI",
            Change::Update,
            format!("add {redirect}"),
        );
    }
}

fn plan_permissions(
    app: &Application,
    desired: &Desired,
    update: &mut ApplicationUpdate,
    plan: &mut Plan,
) {
    let registered = registered_permissions(app);
    let have: BTreeSet<(String, String)> = registered
        .iter()
        .filter(|(_, _, t)| t == "Scope")
        .map(|(r, i, _)| (r.clone(), i.clone()))
        .collect();
    let roles = registered.iter().filter(|(_, _, t)| t == "Role").count();
    if have == desired.pairs && roles == 0 {
        plan.push(
            "app: API permissions",
            Change::Unchanged,
            "exactly the delegated permissions; no application permissions",
        );
        return;
    }
    let missing: Vec<&str> = desired
        .names
        .iter()
        .filter(|(id, _)| !have.iter().any(|(_, h)| h == id))
        .map(|(_, n)| n.as_str())
        .collect();
    let extra = have.difference(&desired.pairs).count();
    let mut what = Vec::new();
    if !missing.is_empty() {
        what.push(format!("add {}", missing.join(", ")));
    }
    if extra > 0 {
        what.push(format!("remove {extra} other delegated permission(s)"));
    }
    if roles > 0 {
        what.push(format!("remove {roles} application permission(s)"));
    }
    update.required_resource_access = Some(desired.access.clone());
    plan.push("app: API permissions", Change::Update, what.join("; "));
}

fn plan_key_credentials(
    app: &Application,
    certificate: &CertificatePlan,
    update: &mut ApplicationUpdate,
    plan: &mut Plan,
) {
    let registered = &app.key_credentials;
    let is_registered = certificate
        .current
        .as_ref()
        .is_some_and(|c| registered.iter().any(|k| c.matches_key_credential(k)));
    if is_registered && certificate.previous.is_none() {
        plan.push("app: certificate", Change::Unchanged, "registered");
        return;
    }
    let held = |k: &KeyCredential| {
        certificate
            .current
            .iter()
            .chain(certificate.previous.iter())
            .any(|c| c.matches_key_credential(k))
    };
    let dropped = registered.iter().filter(|k| !held(k)).count();
    update.key_credentials = Some(certificate.key_credentials());
    plan.push(
        "app: certificate",
        Change::Update,
        format!(
            "register {}{}",
            certificate
                .current
                .as_ref()
                .map_or("the new certificate".to_owned(), |c| c.thumbprint.clone()),
            if dropped > 0 {
                format!("; {dropped} key credential(s) not held here are removed")
            } else {
                String::new()
            }
        ),
    );
}

async fn ensure_app_principal(
    graph: &GraphClient,
    app_id: Option<&str>,
    plan: &mut Plan,
) -> Result<(), SetupError> {
    const TARGET: &str = "app service principal";
    let Some(id) = app_id else {
        plan.push(TARGET, Change::Create, "for the new app");
        return Ok(());
    };
    let found = graph
        .get_service_principal_by_app_id(id)
        .await
        .map_err(graph_error("GET servicePrincipals"))?;
    if found.is_some() {
        plan.push(TARGET, Change::Unchanged, "present");
        return Ok(());
    }
    if !plan.dry_run {
        graph
            .create_service_principal(id)
            .await
            .map_err(graph_error("POST servicePrincipals"))?;
    }
    plan.push(TARGET, Change::Create, format!("appId {id}"));
    Ok(())
}

fn write_configuration(
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
