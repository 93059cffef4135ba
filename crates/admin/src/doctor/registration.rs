//! The registration and what is granted, read with Microsoft Graph: the Partner Center service
//! principal, the app's audience, redirect URI, requested permissions and certificate, the
//! admin consent (`oauth2PermissionGrants`) and no application permission
//! (`appRoleAssignments`).

use std::collections::HashMap;

use common::cloud::PARTNER_CENTER_APP_ID;
use common::config::Settings;
use common::graph::{Application, GraphClient};
use common::rules;

use super::report::{Check, Status, cannot_read, check};
use crate::setup::{AppCertificate, registered_permissions};

/// "Resource value" of every permission the app must request (delegated).
pub(super) fn required_names() -> Vec<String> {
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

/// The checks that read the registration and the grants with `admin`'s Graph (a signed-in
/// partner admin for `doctor`; the partner's consented token for `watch`, when it may read
/// them, see [`can_read`]): the Partner Center service principal, the registration as Graph has
/// it, the certificate `cert` registered on it, and what is granted, read from the grants
/// themselves. A read that fails is a `fail` whose [`Check::unread`] says why.
pub async fn checks(
    settings: &Settings,
    admin: &GraphClient,
    cert: Option<&AppCertificate>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    admin_checks(settings, admin, cert, &mut checks).await;
    checks
}

/// The delegated Microsoft Graph scopes that let a user's token read app registrations and
/// service principals (Microsoft Graph `GET /applications` and `GET /servicePrincipals`:
/// `Application.Read.All`, or a higher one). The app as `setup` registers it requests none of
/// them (least privilege), so `watch` reads the registration only when the partner granted one.
pub const READ_SCOPES: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// Whether a token with `scopes` may read the registration ([`READ_SCOPES`]).
pub fn can_read<S: AsRef<str>>(scopes: &[S]) -> bool {
    scopes.iter().any(|s| {
        READ_SCOPES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(s.as_ref()))
    })
}

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
            Err(e) => cannot_read(ID, "cannot read", &e),
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
            checks.push(cannot_read("app.registration", "cannot read", &e));
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
    checks.push(redirect_uri_check(settings, app));
}

/// The consent redirect URI is registered on the Web platform, not as a single-page app's
/// (whose refresh tokens Entra ends after a fixed 24 hours, AADSTS700084;
/// docs/microsoft-behaviour.md §9).
fn redirect_uri_check(settings: &Settings, app: &Application) -> Check {
    const ID: &str = "app.redirect_uri";
    let redirect = settings.consent.redirect_url.as_str();
    let web = app.web.redirect_uris.iter().any(|u| u == redirect);
    let spa = app.spa.redirect_uris.iter().any(|u| u == redirect);
    let move_to_web = format!(
        "remove {redirect} from Authentication > Single-page application and add it under Web (setup adds it under Web), then have an admin agent consent again"
    );
    match (web, spa) {
        (true, false) => check(
            ID,
            Status::Pass,
            format!("web redirect URI {redirect} registered"),
            None,
        ),
        (true, true) => check(
            ID,
            Status::Warn,
            format!(
                "consent.redirect_url {redirect} is registered under Web and also as a single-page-application redirect URI: refresh tokens sent to a single-page-application redirect URI end after a fixed 24 hours (AADSTS700084)"
            ),
            Some(move_to_web),
        ),
        (false, true) => check(
            ID,
            Status::Fail,
            format!(
                "consent.redirect_url {redirect} is registered as a single-page-application redirect URI, not under Web: Entra ID ends refresh tokens sent to it after a fixed 24 hours (AADSTS700084), so the partner's grant would not survive a day"
            ),
            Some(move_to_web),
        ),
        (false, false) => check(
            ID,
            Status::Fail,
            format!(
                "consent.redirect_url {redirect} is not a web redirect URI of the app (sign-in fails with AADSTS50011)"
            ),
            Some(format!(
                "add {redirect} under Authentication > Web (or run setup)"
            )),
        ),
    }
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
            checks.push(cannot_read("consent.admin_grants", "cannot read", &e));
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
        Err(e) => return cannot_read(ID, "cannot read the grants", &e),
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
        Err(e) => cannot_read(ID, "cannot read", &e),
    }
}
