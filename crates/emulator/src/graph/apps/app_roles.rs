//! A service principal's `appRoleAssignments`: list, assign (admin consent to application
//! permissions), delete.

use super::{READ_APPS, find_sp, iso, read_caller, sp_object_id};
use crate::graph::{Caller, GraphError, base, finish, read_json};
use crate::model::partner_data::catalog::{self, PermissionKind, first_party_name, permission_id};
use crate::model::replication::Change;
use crate::model::state::{Directory, State};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use sha2::Digest as _;

/// `GET /v1.0/servicePrincipals/{id}/appRoleAssignments`: the application permissions granted
/// to the service principal (what the `roles` claim of its app-only tokens carries).
pub async fn list_app_role_assignments(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    state.count("graph.servicePrincipals.appRoleAssignments");
    let result = (|| {
        let caller = read_caller(&state, &req, READ_APPS)?;
        let dir = state.directory();
        let tenant = caller.tenant();
        let (app_id, object_id) =
            find_sp(&dir, tenant, &id).ok_or_else(|| GraphError::not_found(&id))?;
        let principal_name = app_name(&dir, &app_id);
        let mut value = Vec::new();
        if let Some(sp) = dir.service_principal(tenant, &app_id) {
            for p in &sp.app_roles {
                for role in &p.scopes {
                    value.push(assignment_json(
                        &dir,
                        tenant,
                        (&principal_name, &object_id),
                        &p.resource,
                        role,
                    ));
                }
            }
        }
        Ok(HttpResponse::Ok().json(json!({"@odata.context": format!("{}/$metadata#servicePrincipals('{object_id}')/appRoleAssignments", base(&state)), "value": value})))
    })();
    finish(&req, result)
}

/// The display name of an app: its registration's, or a first-party app's.
pub(crate) fn app_name(dir: &Directory, app_id: &str) -> String {
    dir.app(app_id)
        .map(|a| a.seed.display_name.clone())
        .or_else(|| first_party_name(app_id).map(str::to_string))
        .unwrap_or_default()
}

/// ID of an app-role assignment: stable for (principal, resource app, role), so assignments need
/// no storage beyond the service principal's `app_roles`.
fn assignment_id(principal: &str, resource_app: &str, role: &str) -> String {
    crate::model::tokens::b64url(
        &sha2::Sha256::digest(format!("{principal}|{resource_app}|{role}").as_bytes())[..24],
    )
}

/// An `appRoleAssignment` (Graph `resources/approleassignment.md`): `principal` is the client
/// service principal's (display name, object ID).
fn assignment_json(
    dir: &Directory,
    tenant: &str,
    principal: (&str, &str),
    resource_app: &str,
    role: &str,
) -> Value {
    let (principal_name, principal_id) = principal;
    json!({
        "id": assignment_id(principal_id, resource_app, role),
        "appRoleId": permission_id(resource_app, PermissionKind::Role, role),
        "createdDateTime": iso(0),
        "deletedDateTime": Value::Null,
        "principalDisplayName": principal_name,
        "principalId": principal_id,
        "principalType": "ServicePrincipal",
        "resourceDisplayName": app_name(dir, resource_app),
        "resourceId": sp_object_id(dir, tenant, resource_app),
    })
}

/// Directory roles that may assign app roles in delegated calls
/// (`api-reference/v1.0/api/serviceprincipal-post-approleassignedto.md`): Directory
/// Synchronization Accounts, Directory Writers, Hybrid Identity Administrator, Identity
/// Governance Administrator, Privileged Role Administrator, User Administrator, Application
/// Administrator, Cloud Application Administrator — and Global Administrator.
const ASSIGNING_ROLES: &[&str] = &[
    "d29b2b05-8046-44ba-8758-1e26182fcf32",
    "9360feb5-f418-4baa-8175-e2a00bac4301",
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
    "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e",
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "158c047a-c907-4556-b7ef-446551a6b5f7",
    catalog::GLOBAL_ADMINISTRATOR,
];

/// A caller that may create or delete app-role assignments: `AppRoleAssignment.ReadWrite.All`
/// together with `Application.Read.All` (or a higher read permission), and in delegated calls one
/// of [`ASSIGNING_ROLES`] in the tenant (a partner's user gets it through GDAP).
fn assignment_caller(state: &State, req: &HttpRequest) -> Result<Caller, GraphError> {
    const ASSIGN: &[&str] = &["AppRoleAssignment.ReadWrite.All"];
    let caller = read_caller(state, req, READ_APPS)?;
    caller.require(ASSIGN, ASSIGN)?;
    if !caller.is_app_only() {
        let roles = crate::graph::directory_roles(state, &caller);
        if !roles
            .iter()
            .any(|r| ASSIGNING_ROLES.iter().any(|a| a.eq_ignore_ascii_case(r)))
        {
            return Err(GraphError::denied_because(
                "Insufficient privileges to complete the operation. Assigning app roles needs a directory role such as Application Administrator, Cloud Application Administrator, Privileged Role Administrator or User Administrator.",
            ));
        }
    }
    Ok(caller)
}

/// `POST /v1.0/servicePrincipals/{id}/appRoleAssignedTo` `{principalId, resourceId, appRoleId}`
/// → 201: grants the client service principal `principalId` the app role `appRoleId` (an
/// application permission) of the resource service principal `{id}`
/// (`api-reference/v1.0/api/serviceprincipal-post-approleassignedto.md`). The role then appears
/// in the `roles` of the client's app-only tokens in this tenant.
pub async fn assign_app_role(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    state.count("graph.servicePrincipals.appRoleAssignedTo.create");
    let result = async {
        let caller = assignment_caller(&state, &req)?;
        let body = read_json(body).await?;
        let field = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| GraphError::bad_request(format!("The {name} property is required.")))
        };
        let (principal_id, resource_id, role_id) =
            (field("principalId")?, field("resourceId")?, field("appRoleId")?);
        let tenant = caller.tenant().to_string();
        let dir = state.directory();
        let (resource_app, resource_object) =
            find_sp(&dir, &tenant, &id).ok_or_else(|| GraphError::not_found(&id))?;
        if !resource_object.eq_ignore_ascii_case(&resource_id) {
            return Err(GraphError::bad_request(
                "The resourceId must be the id of the resource service principal in the request URL.",
            ));
        }
        let role = catalog::app_roles(&resource_app)
            .iter()
            .find(|v| permission_id(&resource_app, PermissionKind::Role, v).eq_ignore_ascii_case(&role_id))
            .ok_or_else(|| GraphError::bad_request(format!("Permission being assigned was not found on application '{resource_app}'.")))?;
        let principal_app = dir
            .service_principals
            .iter()
            .find(|s| s.tenant.eq_ignore_ascii_case(&tenant) && s.object_id.eq_ignore_ascii_case(&principal_id))
            .map(|s| s.app_id.clone())
            .ok_or_else(|| GraphError::bad_request(format!("The principalId '{principal_id}' is not a service principal in this tenant.")))?;
        let principal_name = app_name(&dir, &principal_app);
        let Some(sp) = dir
            .service_principals
            .iter()
            .find(|s| s.tenant.eq_ignore_ascii_case(&tenant) && s.object_id.eq_ignore_ascii_case(&principal_id))
        else {
            return Err(GraphError::not_found(&principal_id));
        };
        let principal_object = sp.object_id.clone();
        let held = sp.app_roles.iter().any(|p| p.resource.eq_ignore_ascii_case(&resource_app) && p.scopes.iter().any(|r| r.eq_ignore_ascii_case(role)));
        let change = Change::AppRole { tenant: tenant.clone(), principal: principal_object.clone(), resource_app: resource_app.clone(), role: (*role).to_string() };
        if held || state.replication.any_pending(|c| *c == change) {
            return Err(GraphError::bad_request("Permission being assigned already exists on the object"));
        }
        let mut v = assignment_json(&dir, &tenant, (&principal_name, &principal_object), &resource_app, role);
        drop(dir);
        // The assignment reaches Graph reads and app-only tokens after the replication delay
        // (docs/microsoft-behaviour.md §6.6).
        state.replicate_later(change);
        if let Value::Object(m) = &mut v {
            m.insert("@odata.context".into(), json!(format!("{}/$metadata#servicePrincipals('{resource_object}')/appRoleAssignedTo/$entity", base(&state))));
        }
        tracing::info!(tenant.id = %tenant, role, "app role assigned");
        Ok(HttpResponse::Created().json(v))
    }
    .await;
    finish(&req, result)
}

/// `DELETE /v1.0/servicePrincipals/{id}/appRoleAssignedTo/{assignmentId}` (by the resource) and
/// `DELETE /v1.0/servicePrincipals/{id}/appRoleAssignments/{assignmentId}` (by the client) → 204
/// (`serviceprincipal-delete-approleassignedto.md`, `serviceprincipal-delete-approleassignments.md`).
pub async fn delete_app_role_assignment(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    state.count("graph.servicePrincipals.appRoleAssignments.delete");
    let (id, assignment) = path.into_inner();
    let result = (|| {
        let caller = assignment_caller(&state, &req)?;
        let tenant = caller.tenant().to_string();
        let mut dir = state.directory_mut();
        let (sp_app, sp_object) =
            find_sp(&dir, &tenant, &id).ok_or_else(|| GraphError::not_found(&id))?;
        let mut removed = false;
        for sp in dir
            .service_principals
            .iter_mut()
            .filter(|s| s.tenant.eq_ignore_ascii_case(&tenant))
        {
            let principal = sp.object_id.clone();
            for p in &mut sp.app_roles {
                let by_resource = p.resource.eq_ignore_ascii_case(&sp_app);
                if !(principal.eq_ignore_ascii_case(&sp_object) || by_resource) {
                    continue;
                }
                let before = p.scopes.len();
                let resource = p.resource.clone();
                p.scopes
                    .retain(|r| assignment_id(&principal, &resource, r) != assignment);
                removed |= p.scopes.len() != before;
            }
            sp.app_roles.retain(|p| !p.scopes.is_empty());
        }
        drop(dir);
        if !removed {
            return Err(GraphError::not_found(&assignment));
        }
        Ok(HttpResponse::NoContent().finish())
    })();
    finish(&req, result)
}
