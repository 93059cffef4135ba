//! The managed-identity endpoint of App Service and Container Apps (`IDENTITY_ENDPOINT`).
//!
//! Protocol (`MicrosoftDocs/azure-docs:articles/app-service/overview-managed-identity.md`,
//! "Using the REST protocol"; Container Apps documents the same one): the platform sets
//! `IDENTITY_ENDPOINT` (a local URL) and `IDENTITY_HEADER` (a value it rotates, sent back as
//! `X-IDENTITY-HEADER` to stop server-side request forgery). The app sends
//! `GET {IDENTITY_ENDPOINT}?resource=…&api-version=2019-08-01`, plus at most one of `client_id`,
//! `principal_id` / `object_id`, `mi_res_id` to pick a user-assigned identity (none = the
//! system-assigned one). The answer is `{access_token, expires_on, resource, token_type,
//! client_id}` with `expires_on` as a *string* of epoch seconds (the doc's example; Rust
//! `azure_identity` 1.0 `imds_managed_identity_credential.rs` only accepts a string).
//!
//! Here the endpoint is `https://127.0.0.1:{port}/msi/token` (the emulator has one HTTPS port;
//! the real one is plain HTTP on localhost). Identities come from the seed's
//! `[[managed_identities]]`; their tokens are app-only tokens signed like every other emulator
//! token (`oid` = the identity's object / principal ID, `appid` = its client ID), so vault
//! access policies name them by object ID. The header value is random per emulator start
//! ([`crate::EmulatorHandle::identity_header`]), as the platform's is per environment.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use std::collections::HashMap;

use crate::model::managed_identity::Environment;
pub use crate::model::managed_identity::{ManagedIdentityKind, ManagedIdentitySeed};
use crate::model::state::State;

/// The only `api-version` this emulator serves (the current documented one).
pub const API_VERSION: &str = "2019-08-01";
/// Path of the endpoint (`IDENTITY_ENDPOINT` = `{authority host}/msi/token`).
pub const PATH: &str = "/msi/token";

/// Routes: `GET /msi/token` (and with a trailing slash: Microsoft's .NET and JavaScript
/// samples append `/` to `IDENTITY_ENDPOINT`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(token))
        .route("/msi/token/", web::get().to(token));
}

/// The platform's error shape: `{"statusCode", "message", "correlationId"}` (a real answer
/// quoted in Azure/azure-sdk-for-net#43691: 400 "Unable to load the proper Managed Identity.").
fn error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "statusCode": status.as_u16(),
        "message": message,
        "correlationId": uuid::Uuid::new_v4().to_string(),
    }))
}

fn bad_request(message: &str) -> HttpResponse {
    error(StatusCode::BAD_REQUEST, message)
}

/// Which identity a request names, checked against the documented parameter rules.
fn select<'a>(
    env: &'a Environment,
    query: &HashMap<String, String>,
) -> Result<&'a ManagedIdentitySeed, HttpResponse> {
    let named: Vec<(&str, &String)> = ["client_id", "principal_id", "object_id", "mi_res_id"]
        .into_iter()
        .filter_map(|k| query.get(k).map(|v| (k, v)))
        .collect();
    let not_found = || bad_request("Unable to load the proper Managed Identity.");
    match named.as_slice() {
        [] => env
            .identities()
            .iter()
            .find(|m| m.kind == ManagedIdentityKind::SystemAssigned)
            .ok_or_else(not_found),
        [(key, value)] => env
            .identities()
            .iter()
            .filter(|m| m.kind == ManagedIdentityKind::UserAssigned)
            .find(|m| match *key {
                "client_id" => m.client_id.eq_ignore_ascii_case(value),
                "mi_res_id" => m.resource_id().eq_ignore_ascii_case(value),
                _ => m.object_id.eq_ignore_ascii_case(value),
            })
            .ok_or_else(not_found),
        _ => Err(bad_request(
            "Only one of client_id, principal_id, object_id or mi_res_id may be given.",
        )),
    }
}

async fn token(
    state: web::Data<State>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    state.count("managed_identity.token");
    let env = &state.managed_identity;
    // No Microsoft document gives the answer to a missing or wrong header; modelled as 401
    // in the platform's error shape (README: fidelity table).
    let presented = req
        .headers()
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok());
    match presented {
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "The X-IDENTITY-HEADER header is missing; send the value of IDENTITY_HEADER.",
            );
        }
        Some(h) if h != env.header() => {
            return error(
                StatusCode::UNAUTHORIZED,
                "The X-IDENTITY-HEADER header does not match IDENTITY_HEADER (the platform rotates it; read it again).",
            );
        }
        Some(_) => {}
    }
    match query.get("api-version").map(String::as_str) {
        Some(API_VERSION) => {}
        Some(v) => {
            return bad_request(&format!(
                "The api-version '{v}' is not supported; use '{API_VERSION}'."
            ));
        }
        None => return bad_request("The api-version query parameter is required."),
    }
    let Some(resource) = query.get("resource").filter(|r| !r.is_empty()) else {
        return bad_request("The resource query parameter is required.");
    };
    let identity = match select(env, &query) {
        Ok(i) => i,
        Err(response) => return response,
    };
    if state.resource_for_audience(resource).is_none() {
        // MSAL Python (`msal/managed_identity.py`) notes that a wrong resource "ends up with a
        // vague statusCode=500"; the message carries Entra's AADSTS500011.
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "AADSTS500011: The resource principal named {resource} was not found in the tenant named {}.",
                identity.tenant
            ),
        );
    }
    let (access_token, iat, exp) = crate::entra::issue::app_access_token(
        &state,
        &identity.tenant,
        &identity.client_id,
        "2",
        &identity.object_id,
        resource,
        &[],
    );
    HttpResponse::Ok().json(json!({
        "access_token": access_token,
        "expires_on": exp.to_string(),
        "not_before": iat.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": identity.client_id,
    }))
}
