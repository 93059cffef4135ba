//! The registrations `setup` makes match [`super::rules`]: the Partner Center service principal,
//! the multitenant app (audience, redirect URI, exactly the delegated permissions, no
//! application permission, its certificates) and the app's service principal.

use std::collections::BTreeSet;

use common::cloud::{GRAPH_APP_ID, PARTNER_CENTER_APP_ID};
use common::graph::{
    Application, ApplicationUpdate, GraphClient, KeyCredential, NewApplication,
    RequiredResourceAccess, ResourceAccess, ServicePrincipal, WebApplication,
};

use super::report::{Change, Plan, SetupError, graph_error};
use super::{CertificatePlan, SetupOptions, rules};

/// The delegated permissions as the app registration must request them, resolved to ids.
pub(super) struct Desired {
    /// requiredResourceAccess as Graph wants it.
    access: Vec<RequiredResourceAccess>,
    /// (resource app, permission id) pairs.
    pairs: BTreeSet<(String, String)>,
    /// For messages: id -> "Resource value".
    names: Vec<(String, String)>,
}

pub(super) fn resolve_permissions(
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

pub(super) async fn ensure_partner_center_principal(
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

pub(super) async fn find_application(
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
pub(super) async fn ensure_application(
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

pub(super) async fn ensure_app_principal(
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
