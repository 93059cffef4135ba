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
pub mod graph;
pub mod jwt;
pub mod rules;
pub mod signin;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};
use url::Url;

use crate::cloud::{CloudEndpoints, CloudName, GRAPH_APP_ID, PARTNER_CENTER_APP_ID};
use crate::config::{AppMode, EndpointVersion, KeyVaultIdentity, StoreSettings};
pub use certificate::AppCertificate;
pub use graph::AdminGraph;
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
    #[error("{request} failed with HTTP {status} {code}: {message}{}", graph_remedy(*status))]
    Graph {
        /// Method and path.
        request: String,
        /// HTTP status.
        status: u16,
        /// Graph's `error.code`.
        code: String,
        /// Graph's `error.message`.
        message: String,
    },
    /// A required permission is not offered by its API (renamed or withdrawn: permission drift).
    #[error(
        "{resource} offers no delegated permission {permission}; the rules in common::setup::rules need updating (nothing was registered)"
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
    /// Transport failure.
    #[error("{0}")]
    Http(String),
    /// Something `setup` cannot decide alone.
    #[error("{0}")]
    Ambiguous(String),
}

fn graph_remedy(status: u16) -> &'static str {
    match status {
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

struct Desired {
    /// requiredResourceAccess as Graph wants it.
    access: Value,
    /// (resource app, permission id) pairs.
    pairs: BTreeSet<(String, String)>,
    /// For messages: id -> "Resource value".
    names: Vec<(String, String)>,
}

fn resolve_permissions(graph_sp: &Value, pc_sp: Option<&Value>) -> Result<Desired, SetupError> {
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
                Some(sp) => sp["oauth2PermissionScopes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|s| s["value"].as_str() == Some(value))
                    .and_then(|s| s["id"].as_str())
                    .map(str::to_ascii_lowercase)
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
            entries.push(json!({"id": id, "type": "Scope"}));
        }
        access.push(json!({"resourceAppId": resource, "resourceAccess": entries}));
    }
    Ok(Desired {
        access: Value::Array(access),
        pairs,
        names,
    })
}

/// (resource, id, type) of a registration's `requiredResourceAccess`.
pub fn registered_permissions(app: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for r in app["requiredResourceAccess"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let resource = r["resourceAppId"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        for a in r["resourceAccess"].as_array().into_iter().flatten() {
            out.push((
                resource.clone(),
                a["id"].as_str().unwrap_or_default().to_ascii_lowercase(),
                a["type"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
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

/// Makes the partner tenant match [`rules`] (see the module docs). `session` is the signed-in
/// admin of the partner tenant.
pub async fn run(
    session: &AdminSession,
    options: &SetupOptions,
) -> Result<SetupReport, SetupError> {
    let graph = &session.graph;
    let dry = options.dry_run;
    let mut steps = Vec::new();

    // 1. The Partner Center service principal (New-MgServicePrincipal -AppId fa3d9a0c-…).
    let mut pc_sp = graph.service_principal(PARTNER_CENTER_APP_ID).await?;
    match &pc_sp {
        Some(sp) => steps.push(Step {
            target: "Partner Center service principal".into(),
            change: Change::Unchanged,
            detail: format!("present (object {})", sp["id"].as_str().unwrap_or("?")),
        }),
        None => {
            if !dry {
                pc_sp = Some(
                    graph
                        .create_service_principal(PARTNER_CENTER_APP_ID)
                        .await?,
                );
            }
            steps.push(Step {
                target: "Partner Center service principal".into(),
                change: Change::Create,
                detail: format!("appId {PARTNER_CENTER_APP_ID}"),
            });
        }
    }
    let graph_sp = graph
        .service_principal(GRAPH_APP_ID)
        .await?
        .ok_or_else(|| {
            SetupError::Ambiguous("the tenant has no Microsoft Graph service principal".into())
        })?;
    let desired = resolve_permissions(&graph_sp, pc_sp.as_ref())?;

    // 2. The certificate.
    let (cert, previous, key_path) = match &options.certificate {
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
            steps.push(Step {
                target: "certificate".into(),
                change: Change::Unchanged,
                detail: format!(
                    "given: {} (thumbprint {}, expires {})",
                    certificate.display(),
                    cert.thumbprint,
                    date(cert.not_after)
                ),
            });
            (Some(cert), None, private_key.clone())
        }
        CertificateChoice::Generate {
            path,
            valid_days,
            renew_days,
        } => {
            let existing = AppCertificate::read(path).ok();
            let usable = existing
                .as_ref()
                .filter(|c| c.days_left(now()) >= i64::from(*renew_days));
            match usable {
                Some(c) => {
                    steps.push(Step {
                        target: "certificate".into(),
                        change: Change::Unchanged,
                        detail: format!(
                            "{} (thumbprint {}, expires {})",
                            path.display(),
                            c.thumbprint,
                            date(c.not_after)
                        ),
                    });
                    (Some(c.clone()), None, certificate::key_path(path))
                }
                None => {
                    let why = match &existing {
                        Some(c) => {
                            format!("renewing: {} expires {}", c.thumbprint, date(c.not_after))
                        }
                        None => "new".into(),
                    };
                    let cert = if dry {
                        None
                    } else {
                        Some(certificate::generate(
                            path,
                            &options.display_name,
                            *valid_days,
                        )?)
                    };
                    steps.push(Step {
                        target: "certificate".into(),
                        change: if existing.is_some() {
                            Change::Update
                        } else {
                            Change::Create
                        },
                        detail: format!(
                            "{why}; self-signed RSA 2048, {valid_days} days, {} (key {}, mode 0600){}",
                            path.display(),
                            certificate::key_path(path).display(),
                            cert.as_ref()
                                .map(|c| format!(", thumbprint {}", c.thumbprint))
                                .unwrap_or_default()
                        ),
                    });
                    // The certificate being replaced stays registered until it expires, so
                    // running instances keep working while the new file is rolled out.
                    (
                        cert,
                        existing.filter(|c| c.days_left(now()) >= 0),
                        certificate::key_path(path),
                    )
                }
            }
        }
    };

    // 3. The app registration.
    let found = match &options.app_id {
        Some(id) => graph.application_by_app_id(id).await?,
        None => {
            let mut named = graph.applications_named(&options.display_name).await?;
            if named.len() > 1 {
                return Err(SetupError::Ambiguous(format!(
                    "{} app registrations are named {:?}; pass the one to use with --app-id",
                    named.len(),
                    options.display_name
                )));
            }
            named.pop()
        }
    };
    let redirect = options.redirect_url.as_str().to_owned();
    let mut key_credentials: Vec<Value> = cert.iter().map(AppCertificate::key_credential).collect();
    key_credentials.extend(previous.iter().map(AppCertificate::key_credential));
    let app_id = match found {
        None => {
            let body = json!({
                "displayName": options.display_name,
                "signInAudience": rules::SIGN_IN_AUDIENCE,
                "web": {"redirectUris": [redirect]},
                "requiredResourceAccess": desired.access,
                "keyCredentials": key_credentials,
            });
            let created = if dry {
                None
            } else {
                Some(graph.post("applications", &body).await?)
            };
            let app_id = created
                .as_ref()
                .and_then(|a| a["appId"].as_str())
                .map(str::to_owned);
            steps.push(Step {
                target: "app registration".into(),
                change: Change::Create,
                detail: format!(
                    "{:?}: multitenant, redirect {redirect}, delegated {}, no application permissions, certificate registered{}",
                    options.display_name,
                    desired.names.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", "),
                    app_id.as_deref().map(|a| format!(" (appId {a})")).unwrap_or_default()
                ),
            });
            app_id
        }
        Some(app) => {
            let app_id = app["appId"].as_str().unwrap_or_default().to_owned();
            let object_id = app["id"].as_str().unwrap_or_default().to_owned();
            let mut patch = serde_json::Map::new();
            let mut push = |target: &str, change: Change, detail: String| {
                steps.push(Step {
                    target: target.into(),
                    change,
                    detail,
                });
            };
            let audience = app["signInAudience"].as_str().unwrap_or_default();
            if audience == rules::SIGN_IN_AUDIENCE {
                push("app: sign-in audience", Change::Unchanged, audience.into());
            } else {
                patch.insert("signInAudience".into(), json!(rules::SIGN_IN_AUDIENCE));
                push(
                    "app: sign-in audience",
                    Change::Update,
                    format!("{audience} -> {}", rules::SIGN_IN_AUDIENCE),
                );
            }
            let mut uris: Vec<String> = app["web"]["redirectUris"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect();
            if uris.contains(&redirect) {
                push("app: web redirect URI", Change::Unchanged, redirect.clone());
            } else {
                uris.push(redirect.clone());
                patch.insert("web".into(), json!({"redirectUris": uris}));
                push(
                    "app: web redirect URI",
                    Change::Update,
                    format!("add {redirect}"),
                );
            }
            let registered = registered_permissions(&app);
            let have: BTreeSet<(String, String)> = registered
                .iter()
                .filter(|(_, _, t)| t == "Scope")
                .map(|(r, i, _)| (r.clone(), i.clone()))
                .collect();
            let roles = registered.iter().filter(|(_, _, t)| t == "Role").count();
            if have == desired.pairs && roles == 0 {
                push(
                    "app: API permissions",
                    Change::Unchanged,
                    "exactly the delegated permissions; no application permissions".into(),
                );
            } else {
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
                patch.insert("requiredResourceAccess".into(), desired.access.clone());
                push("app: API permissions", Change::Update, what.join("; "));
            }
            let registered_keys: Vec<Value> = app["keyCredentials"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let cert_registered = cert
                .as_ref()
                .is_some_and(|c| registered_keys.iter().any(|k| c.matches_key_credential(k)));
            if cert_registered && previous.is_none() {
                push("app: certificate", Change::Unchanged, "registered".into());
            } else {
                let dropped = registered_keys
                    .iter()
                    .filter(|k| {
                        !cert
                            .iter()
                            .chain(previous.iter())
                            .any(|c| c.matches_key_credential(k))
                    })
                    .count();
                patch.insert(
                    "keyCredentials".into(),
                    Value::Array(key_credentials.clone()),
                );
                push(
                    "app: certificate",
                    Change::Update,
                    format!(
                        "register {}{}",
                        cert.as_ref()
                            .map_or("the new certificate".to_owned(), |c| c.thumbprint.clone()),
                        if dropped > 0 {
                            format!("; {dropped} key credential(s) not held here are removed")
                        } else {
                            String::new()
                        }
                    ),
                );
            }
            if !patch.is_empty() && !dry {
                graph
                    .patch(&format!("applications/{object_id}"), &Value::Object(patch))
                    .await?;
            }
            Some(app_id)
        }
    };

    // 4. The app's service principal in the partner tenant (consent attaches to it).
    match &app_id {
        Some(id) => match graph.service_principal(id).await? {
            Some(_) => steps.push(Step {
                target: "app service principal".into(),
                change: Change::Unchanged,
                detail: "present".into(),
            }),
            None => {
                if !dry {
                    graph.create_service_principal(id).await?;
                }
                steps.push(Step {
                    target: "app service principal".into(),
                    change: Change::Create,
                    detail: format!("appId {id}"),
                });
            }
        },
        None => steps.push(Step {
            target: "app service principal".into(),
            change: Change::Create,
            detail: "for the new app".into(),
        }),
    }

    // 5. The configuration file.
    let cert_path = match &options.certificate {
        CertificateChoice::Existing { certificate, .. } => certificate.clone(),
        CertificateChoice::Generate { path, .. } => path.clone(),
    };
    let text = render_config(
        options,
        &session.tenant_id,
        app_id.as_deref().unwrap_or("(created by setup)"),
        &cert_path,
        &key_path,
    );
    let current = std::fs::read_to_string(&options.config_path).ok();
    let change = match &current {
        Some(c) if *c == text => Change::Unchanged,
        Some(_) => Change::Update,
        None => Change::Create,
    };
    if change != Change::Unchanged && !dry {
        certificate::write_private(&options.config_path, text.as_bytes())?;
    }
    steps.push(Step {
        target: "configuration file".into(),
        change,
        detail: options.config_path.display().to_string(),
    });

    let mut consent_page = options.redirect_url.clone();
    consent_page.set_path("/");
    consent_page.set_query(None);
    Ok(SetupReport {
        dry_run: dry,
        tenant_id: session.tenant_id.clone(),
        signed_in_as: session.user.clone(),
        app_id,
        steps,
        config_path: options.config_path.clone(),
        consent_page,
    })
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn path_str(p: &Path) -> String {
    toml_str(&p.display().to_string())
}

/// The configuration `setup` writes: the app, the partner, the cloud and the consent redirect,
/// plus the non-secret store and HTTP keys carried over. It never holds a secret: the
/// certificate's private key stays in its own 0600 file, named by path.
fn render_config(
    options: &SetupOptions,
    tenant: &str,
    app_id: &str,
    cert: &Path,
    key: &Path,
) -> String {
    let mut t = String::new();
    t.push_str(
        "# Written by `setup` (common::setup). It holds no secret: the private key stays in\n",
    );
    t.push_str("# its own file (mode 0600). Check it with `doctor`; see docs/setup-azure.md.\n\n");
    t.push_str(&format!(
        "mode = {}\n\n",
        toml_str(match options.mode {
            AppMode::Csp => "csp",
            AppMode::Cpv => "cpv",
        })
    ));
    t.push_str("[app]\n");
    t.push_str(&format!("client_id = {}\n", toml_str(app_id)));
    t.push_str(&format!(
        "display_name = {}\n",
        toml_str(&options.display_name)
    ));
    t.push_str(&format!("certificate_path = {}\n", path_str(cert)));
    t.push_str(&format!("private_key_path = {}\n\n", path_str(key)));
    t.push_str("[partner]\n");
    t.push_str(&format!("tenant_id = {}\n\n", toml_str(tenant)));
    t.push_str("[cloud]\n");
    let c = &options.cloud;
    t.push_str(&format!("name = {}\n", toml_str(c.name.as_str())));
    if c.name == CloudName::Custom {
        t.push_str(&format!(
            "authority_host = {}\n",
            toml_str(c.authority_host.as_str())
        ));
        t.push_str(&format!("graph_url = {}\n", toml_str(c.graph.as_str())));
        t.push_str(&format!(
            "partner_center_url = {}\n",
            toml_str(c.partner_center.as_str())
        ));
        if let Some(api) = &c.partner_api {
            t.push_str(&format!("partner_api_url = {}\n", toml_str(api.as_str())));
        }
        t.push_str(&format!(
            "key_vault_dns_suffix = {}\n",
            toml_str(&c.key_vault_dns_suffix)
        ));
    }
    t.push_str("\n[entra]\n");
    t.push_str(&format!(
        "endpoint_version = {}\n\n",
        toml_str(match options.endpoint_version {
            EndpointVersion::V1 => "v1",
            EndpointVersion::V2 => "v2",
        })
    ));
    t.push_str("[consent]\n");
    t.push_str(&format!(
        "redirect_url = {}\n",
        toml_str(options.redirect_url.as_str())
    ));
    match &options.store {
        Some(StoreSettings::KeyVault(kv)) => {
            t.push_str("\n[store]\nkind = \"key-vault\"\n\n[store.key_vault]\n");
            t.push_str(&format!(
                "vault_url = {}\n",
                toml_str(kv.vault_url.as_str())
            ));
            t.push_str(&format!(
                "secret_prefix = {}\n",
                toml_str(&kv.secret_prefix)
            ));
            let (identity, tenant_id, client_id) = match &kv.identity {
                KeyVaultIdentity::ClientSecret {
                    tenant_id,
                    client_id,
                    ..
                } => ("client-secret", Some(tenant_id), Some(client_id)),
                KeyVaultIdentity::ClientCertificate {
                    tenant_id,
                    client_id,
                    ..
                } => ("client-certificate", Some(tenant_id), Some(client_id)),
                KeyVaultIdentity::ManagedIdentity { client_id } => {
                    ("managed-identity", None, client_id.as_ref())
                }
                KeyVaultIdentity::WorkloadIdentity {
                    tenant_id,
                    client_id,
                    ..
                } => ("workload-identity", Some(tenant_id), Some(client_id)),
            };
            t.push_str(&format!("identity = {}\n", toml_str(identity)));
            if let Some(tid) = tenant_id {
                t.push_str(&format!("tenant_id = {}\n", toml_str(tid)));
            }
            if let Some(cid) = client_id {
                t.push_str(&format!("client_id = {}\n", toml_str(cid)));
            }
            if let KeyVaultIdentity::ClientCertificate {
                certificate,
                private_key,
                ..
            } = &kv.identity
            {
                t.push_str(&format!("certificate_path = {}\n", path_str(certificate)));
                t.push_str(&format!("private_key_path = {}\n", path_str(private_key)));
            }
            if matches!(kv.identity, KeyVaultIdentity::ClientSecret { .. }) {
                t.push_str("# client_secret: set SAM_STORE__KEY_VAULT__CLIENT_SECRET in the environment.\n");
            }
        }
        Some(StoreSettings::Local(l)) => {
            t.push_str("\n[store]\nkind = \"local\"\n\n[store.local]\n");
            t.push_str(&format!("path = {}\n", path_str(&l.path)));
            t.push_str(&format!("key_file = {}\n", path_str(&l.key_file)));
        }
        None => {}
    }
    if let Some(ca) = &options.ca_bundle {
        t.push_str(&format!("\n[http]\nca_bundle = {}\n", path_str(ca)));
    }
    t
}
