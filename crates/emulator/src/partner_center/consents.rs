//! Application consents, the CPV onboarding API (docs/microsoft-behaviour.md §5.5):
//! `POST /v1/customers/{id}/applicationconsents` creates the app's service principal in the
//! customer tenant and a tenant-wide delegated grant (`consentType: AllPrincipals`) of the listed
//! scopes — the `scp` of a later delegated token there — and nothing else: no Microsoft document
//! says it creates app-role assignments (docs/microsoft-behaviour.md §0), so application permissions exist
//! only once Graph `servicePrincipals/{id}/appRoleAssignedTo` adds them.
//! `DELETE …/applicationconsents/{applicationId}` removes the service principal and the grant.
//! Both become visible to Graph and to token requests at the customer's authority only after
//! the replication delay (docs/microsoft-behaviour.md §6.6, `crate::model::replication`).
//! Rate-limited per application (50 requests per second by default).

use super::{Auth, PcError, PcResult, authenticate, finish, rate_limit};
use crate::model::partner_data::{ApplicationConsent, ApplicationGrant};
use crate::model::replication::Change;
use crate::model::seed::{PermissionSeed, ServicePrincipalSeed};
use crate::model::state::State;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt as _;
use serde_json::{Value, json};

const MAX_BODY: usize = 64 * 1024;

async fn read_body(mut payload: web::Payload) -> Result<Value, PcError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| PcError::invalid("The request body could not be read."))?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(PcError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                3000,
                format!("The request body exceeds {MAX_BODY} bytes."),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&buf)
        .map_err(|_| PcError::invalid("The request body is not valid JSON."))
}

fn parse(body: &Value) -> Result<(String, String, Vec<ApplicationGrant>), PcError> {
    let app_id = body
        .get("applicationId")
        .and_then(Value::as_str)
        .filter(|s| uuid::Uuid::parse_str(s).is_ok())
        .ok_or_else(|| {
            PcError::invalid(
                "Invalid property: applicationId must be the application (client) ID, a GUID.",
            )
        })?;
    let display_name = body
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let list = body
        .get("applicationGrants")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            PcError::invalid("Invalid property: applicationGrants must be a non-empty array.")
        })?;
    let mut grants = Vec::new();
    for g in list {
        let resource = g
            .get("enterpriseApplicationId")
            .and_then(Value::as_str)
            .filter(|s| uuid::Uuid::parse_str(s).is_ok())
            .ok_or_else(|| PcError::invalid("Invalid property: each applicationGrants entry needs an enterpriseApplicationId (GUID)."))?;
        let scopes: Vec<String> = g
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if scopes.is_empty() {
            return Err(PcError::invalid(
                "Invalid property: each applicationGrants entry needs a scope (comma-separated permission names).",
            ));
        }
        grants.push(ApplicationGrant {
            enterprise_application_id: resource.to_ascii_lowercase(),
            scopes,
        });
    }
    Ok((app_id.to_ascii_lowercase(), display_name, grants))
}

fn consent_json(c: &ApplicationConsent) -> Value {
    json!({
        "applicationId": c.application_id,
        "displayName": c.display_name,
        "applicationGrants": c.grants.iter().map(|g| json!({"enterpriseApplicationId": g.enterprise_application_id, "scope": g.scopes.join(",")})).collect::<Vec<_>>(),
        "attributes": {"objectType": "ApplicationConsent"},
    })
}

/// `POST /v1/customers/{id}/applicationconsents` → 201.
pub async fn create(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    state.count("partnercenter.applicationconsents.create");
    let result: PcResult = async {
        let caller = authenticate(&state, &req, Auth::UserOnly)?;
        let body = read_body(body).await?;
        let (app_id, display_name, grants) = parse(&body)?;
        let settings = state.partner.lock().settings.clone();
        rate_limit(&state, &format!("consents|{app_id}"), settings.consent_rate_limit, settings.consent_rate_window_secs)?;
        let customer = {
            let data = state.partner.lock();
            match data.customer(caller.tenant(), &id) {
                Some(c) => c.tenant.clone(),
                None if data.is_customer(&id) => {
                    return Err(PcError::new(StatusCode::FORBIDDEN, 20002, format!("The partner ID {} has no commerce relationship with the customer ID {}.", caller.tenant(), &*id)));
                }
                None => return Err(PcError::new(StatusCode::NOT_FOUND, 1000, format!("Customer {} was not found.", &*id))),
            }
        };
        // The directory keeps tenant IDs as seeded; use that spelling.
        let customer = state.directory().tenant(&customer).map_or(customer, |t| t.id.clone());
        let canonical_app = match state.directory().app(&app_id) {
            Some(a) if a.seed.multitenant || a.seed.tenant.eq_ignore_ascii_case(caller.tenant()) => a.seed.app_id.clone(),
            Some(_) => return Err(PcError::invalid(format!("Invalid property: the application {app_id} is not multi-tenant, so it cannot be consented in a customer tenant."))),
            None => return Err(PcError::invalid(format!("Invalid property: no application with ID {app_id} is registered."))),
        };
        let mut data = state.partner.lock();
        if data.consents.iter().any(|c| c.customer.eq_ignore_ascii_case(&customer) && c.application_id.eq_ignore_ascii_case(&app_id)) {
            return Err(PcError::new(
                StatusCode::CONFLICT,
                409,
                format!("An application consent for application {app_id} already exists in customer tenant {customer}. Delete it before consenting again."),
            ));
        }
        let perms: Vec<PermissionSeed> = grants.iter().map(|g| PermissionSeed { resource: g.enterprise_application_id.clone(), scopes: g.scopes.clone() }).collect();
        let (sp_id, new_sp) = match state.directory().service_principal(&customer, &canonical_app) {
            Some(sp) => (sp.object_id.clone(), None),
            None => {
                let object_id = uuid::Uuid::new_v4().to_string();
                (object_id.clone(), Some(ServicePrincipalSeed { tenant: customer.clone(), app_id: canonical_app.clone(), object_id, app_roles: Vec::new() }))
            }
        };
        let consent = ApplicationConsent { customer: customer.clone(), application_id: app_id.clone(), display_name, grants, service_principal_id: sp_id };
        let json = consent_json(&consent);
        data.consents.push(consent);
        drop(data);
        // The service principal and the grant reach Graph and the customer's authority after
        // the replication delay (docs/microsoft-behaviour.md §6.6).
        state.replicate_later(Change::Consent { tenant: customer.clone(), app_id: canonical_app, service_principal: new_sp, grants: perms });
        tracing::info!(customer.id = %customer, app.id = %app_id, "application consent created");
        Ok(HttpResponse::Created().json(json))
    }
    .await;
    finish(&req, result)
}

/// `DELETE /v1/customers/{id}/applicationconsents/{applicationId}` → 204.
pub async fn delete(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    state.count("partnercenter.applicationconsents.delete");
    let (id, app_id) = path.into_inner();
    let result: PcResult = (|| {
        let caller = authenticate(&state, &req, Auth::UserOnly)?;
        let settings = state.partner.lock().settings.clone();
        rate_limit(
            &state,
            &format!("consents|{}", app_id.to_ascii_lowercase()),
            settings.consent_rate_limit,
            settings.consent_rate_window_secs,
        )?;
        let mut data = state.partner.lock();
        if data.customer(caller.tenant(), &id).is_none() {
            return Err(PcError::new(
                StatusCode::NOT_FOUND,
                1000,
                format!("Customer {id} was not found."),
            ));
        }
        let idx = data
            .consents
            .iter()
            .position(|c| c.customer.eq_ignore_ascii_case(&id) && c.application_id.eq_ignore_ascii_case(&app_id))
            .ok_or_else(|| PcError::new(StatusCode::NOT_FOUND, 1000, format!("No application consent for application {app_id} exists in customer tenant {id}.")))?;
        let consent = data.consents.remove(idx);
        // A consent deleted before it replicated never appears.
        state.replication.cancel(&consent.customer, |c| {
            matches!(c, Change::Consent { app_id, .. } if app_id.eq_ignore_ascii_case(&consent.application_id))
        });
        let mut dir = state.directory_mut();
        dir.service_principals.retain(|s| {
            !(s.tenant == consent.customer && s.object_id == consent.service_principal_id)
        });
        dir.consents.retain(|c| {
            !(c.tenant == consent.customer
                && c.app_id.eq_ignore_ascii_case(&consent.application_id)
                && c.user.is_none())
        });
        Ok(HttpResponse::NoContent().finish())
    })();
    finish(&req, result)
}
