//! App setup through Graph: `/v1.0/applications` (create, get, update `requiredResourceAccess`,
//! `web.redirectUris`, `signInAudience`, `keyCredentials`; `addPassword`, `removePassword`),
//! `/v1.0/servicePrincipals` (list with `$filter=appId eq '…'`, get, create — as
//! `New-MgServicePrincipal` does for the Partner Center app), `appRoleAssignments`, and
//! `/v1.0/oauth2PermissionGrants`. All backed by the app registrations, service principals and
//! consents Entra ID itself uses ([`crate::model::state::Directory`]), so an app created here can
//! sign users in, and grants read here are the ones tokens carry.

pub mod app_roles;
pub mod applications;
pub mod grants;
pub mod service_principals;

use crate::graph::{Caller, GraphError, authenticate, require_app_admin, require_foreign_access};
use crate::model::partner_data::catalog::stable_guid;
use crate::model::state::{Directory, State};
use actix_web::HttpRequest;
use sha2::Digest as _;

pub(crate) const READ_APPS: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

const WRITE_APPS: &[&str] = &["Application.ReadWrite.All", "Directory.ReadWrite.All"];

pub(crate) const READ_GRANTS: &[&str] = &[
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "DelegatedPermissionGrant.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All",
];

pub(crate) const MAX_TOP: usize = 999;

pub(crate) const DEFAULT_TOP: usize = 100;

pub(crate) const TWO_YEARS: i64 = 2 * 365 * 86_400;

pub(crate) const AUDIENCES: &[&str] = &[
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

pub(crate) fn iso(t: i64) -> String {
    crate::model::partner_data::gdap::iso(t)
}

pub(crate) fn read_caller(
    state: &State,
    req: &HttpRequest,
    wanted: &[&str],
) -> Result<Caller, GraphError> {
    let caller = authenticate(state, req)?;
    caller.require(wanted, wanted)?;
    require_foreign_access(state, &caller)?;
    Ok(caller)
}

pub(crate) fn write_caller(state: &State, req: &HttpRequest) -> Result<Caller, GraphError> {
    let caller = read_caller(state, req, WRITE_APPS)?;
    require_app_admin(state, &caller)?;
    Ok(caller)
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Object ID of the service principal of `app_id` in `tenant`: the stored one, or the stable
/// ID of the first-party one every tenant has (Microsoft Graph).
pub fn sp_object_id(dir: &Directory, tenant: &str, app_id: &str) -> String {
    dir.service_principal(tenant, app_id)
        .map(|s| s.object_id.clone())
        .unwrap_or_else(|| {
            stable_guid(&format!(
                "servicePrincipal|{}|{}",
                tenant.to_ascii_lowercase(),
                app_id.to_ascii_lowercase()
            ))
        })
}

pub(crate) fn resource_scopes(state: &State, resource_app_id: &str) -> Vec<&'static str> {
    state
        .resources()
        .iter()
        .find(|r| r.app_id.eq_ignore_ascii_case(resource_app_id))
        .map(|r| r.scopes.iter().map(|s| s.value).collect())
        .unwrap_or_default()
}

pub(crate) fn find_sp(dir: &Directory, tenant: &str, id: &str) -> Option<(String, String)> {
    tenant_sps(dir, tenant)
        .into_iter()
        .find(|(_, o)| o.eq_ignore_ascii_case(id))
}

/// Service principals of a tenant: the stored ones, plus Microsoft Graph's, which every
/// tenant has. (tenant, app ID, object ID).
pub(crate) fn tenant_sps(dir: &Directory, tenant: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = dir
        .service_principals
        .iter()
        .filter(|s| s.tenant.eq_ignore_ascii_case(tenant))
        .map(|s| (s.app_id.clone(), s.object_id.clone()))
        .collect();
    if !out
        .iter()
        .any(|(a, _)| a.eq_ignore_ascii_case(crate::model::resources::GRAPH_APP_ID))
    {
        out.insert(
            0,
            (
                crate::model::resources::GRAPH_APP_ID.to_string(),
                sp_object_id(dir, tenant, crate::model::resources::GRAPH_APP_ID),
            ),
        );
    }
    out
}
