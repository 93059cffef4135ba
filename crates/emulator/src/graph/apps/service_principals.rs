//! `/v1.0/servicePrincipals`: list (with `$filter=appId eq '…'`), get, create (as
//! `New-MgServicePrincipal` does for the Partner Center app).

use super::{DEFAULT_TOP, MAX_TOP, READ_APPS, find_sp, read_caller, tenant_sps, write_caller};
use crate::graph::query::{Query, page};
use crate::graph::{GraphError, base, collection_page, finish, read_json};
use crate::model::partner_data::catalog::{self, PermissionKind, first_party_name, permission_id};
use crate::model::seed::ServicePrincipalSeed;
use crate::model::state::{Directory, State};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

// ---------------------------------------------------------------- service principals

fn sp_json(state: &State, dir: &Directory, tenant: &str, app_id: &str, object_id: &str) -> Value {
    let app = dir.app(app_id);
    let display = app
        .map(|a| a.seed.display_name.clone())
        .or_else(|| first_party_name(app_id).map(str::to_string))
        .unwrap_or_default();
    let owner = app.map_or(catalog::MICROSOFT_SERVICES_TENANT.to_string(), |a| {
        a.seed.tenant.clone()
    });
    let audience = app.map_or("AzureADMultipleOrgs", |a| {
        if a.seed.multitenant {
            "AzureADMultipleOrgs"
        } else {
            "AzureADMyOrg"
        }
    });
    let resource = state
        .resources()
        .iter()
        .find(|r| r.app_id.eq_ignore_ascii_case(app_id));
    let scopes: Vec<Value> = resource
        .map(|r| {
            r.scopes
                .iter()
                .map(|s| {
                    json!({"id": permission_id(r.app_id, PermissionKind::Scope, s.value), "value": s.value, "type": if s.admin_consent_required { "Admin" } else { "User" },
                           "adminConsentDisplayName": s.description, "adminConsentDescription": s.description, "userConsentDisplayName": s.description,
                           "userConsentDescription": s.description, "isEnabled": true})
                })
                .collect()
        })
        .unwrap_or_default();
    let roles: Vec<Value> = catalog::app_roles(app_id)
        .iter()
        .map(|v| json!({"id": permission_id(app_id, PermissionKind::Role, v), "value": v, "displayName": v, "description": v, "allowedMemberTypes": ["Application"], "isEnabled": true, "origin": "Application"}))
        .collect();
    let _ = tenant;
    json!({
        "id": object_id,
        "appId": app_id,
        "displayName": display,
        "appDisplayName": display,
        "servicePrincipalType": "Application",
        "accountEnabled": true,
        "appOwnerOrganizationId": owner,
        "appRoleAssignmentRequired": false,
        "servicePrincipalNames": [app_id],
        "signInAudience": audience,
        "tags": [],
        "appRoles": roles,
        "oauth2PermissionScopes": scopes,
    })
}

/// `GET /v1.0/servicePrincipals`
pub async fn list_service_principals(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("graph.servicePrincipals.list");
    let result = (|| {
        let caller = read_caller(&state, &req, READ_APPS)?;
        let q = Query::parse(
            &req,
            MAX_TOP,
            &["appId", "displayName", "id"],
            "servicePrincipal",
        )?;
        let dir = state.directory();
        let all: Vec<Value> = tenant_sps(&dir, caller.tenant())
            .iter()
            .map(|(a, o)| sp_json(&state, &dir, caller.tenant(), a, o))
            .collect();
        drop(dir);
        let matching = all
            .into_iter()
            .filter(|v| q.matches(|p| v.get(p).and_then(Value::as_str)));
        let (items, next) = page(matching, q.offset, q.top.unwrap_or(DEFAULT_TOP));
        Ok(collection_page(
            format!("{}/$metadata#servicePrincipals", base(&state)),
            &format!("{}/servicePrincipals", base(&state)),
            &q,
            items,
            next,
        ))
    })();
    finish(&req, result)
}

/// `GET /v1.0/servicePrincipals/{id}`
pub async fn get_service_principal(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let result = (|| {
        let caller = read_caller(&state, &req, READ_APPS)?;
        let dir = state.directory();
        let (app_id, object_id) =
            find_sp(&dir, caller.tenant(), &id).ok_or_else(|| GraphError::not_found(&id))?;
        let mut v = sp_json(&state, &dir, caller.tenant(), &app_id, &object_id);
        if let Value::Object(m) = &mut v {
            m.insert(
                "@odata.context".into(),
                json!(format!(
                    "{}/$metadata#servicePrincipals/$entity",
                    base(&state)
                )),
            );
        }
        Ok(HttpResponse::Ok().json(v))
    })();
    finish(&req, result)
}

/// `POST /v1.0/servicePrincipals` `{"appId": …}` → 201.
pub async fn create_service_principal(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    state.count("graph.servicePrincipals.create");
    let result = async {
        let caller = write_caller(&state, &req)?;
        let body = read_json(body).await?;
        let app_id = body.get("appId").and_then(Value::as_str).ok_or_else(|| GraphError::bad_request("The appId property is required."))?.to_ascii_lowercase();
        let tenant = caller.tenant().to_string();
        let mut dir = state.directory_mut();
        let known = match dir.app(&app_id) {
            Some(a) => a.seed.multitenant || a.seed.tenant.eq_ignore_ascii_case(&tenant),
            None => first_party_name(&app_id).is_some(),
        };
        if !known {
            return Err(GraphError::bad_request(format!("The appId '{app_id}' of the service principal does not reference a valid application object.")));
        }
        let exists = dir.service_principal(&tenant, &app_id).is_some() || app_id == crate::model::resources::GRAPH_APP_ID;
        if exists {
            return Err(GraphError::new(
                StatusCode::CONFLICT,
                "Request_MultipleObjectsWithSameKeyValue",
                "Another object with the same value for property servicePrincipalNames already exists.",
            ));
        }
        let canonical = dir.app(&app_id).map_or(app_id.clone(), |a| a.seed.app_id.clone());
        let object_id = uuid::Uuid::new_v4().to_string();
        dir.service_principals.push(ServicePrincipalSeed { tenant: tenant.clone(), app_id: canonical.clone(), object_id: object_id.clone(), app_roles: Vec::new() });
        let mut v = sp_json(&state, &dir, &tenant, &canonical, &object_id);
        if let Value::Object(m) = &mut v {
            m.insert("@odata.context".into(), json!(format!("{}/$metadata#servicePrincipals/$entity", base(&state))));
        }
        let location = format!("{}/servicePrincipals/{object_id}", base(&state));
        Ok(HttpResponse::Created().insert_header(("location", location)).json(v))
    }
    .await;
    finish(&req, result)
}
