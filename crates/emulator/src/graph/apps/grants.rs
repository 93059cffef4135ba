//! `/v1.0/oauth2PermissionGrants` and a service principal's `oauth2PermissionGrants`: the
//! delegated consents tokens carry.

use super::{DEFAULT_TOP, MAX_TOP, READ_GRANTS, find_sp, read_caller, sp_object_id};
use crate::graph::query::{Query, page};
use crate::graph::{GraphError, base, collection_page, finish};
use crate::model::state::{Directory, State};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use sha2::Digest as _;

fn grants_json(dir: &Directory, tenant: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for c in dir
        .consents
        .iter()
        .filter(|c| c.tenant.eq_ignore_ascii_case(tenant))
    {
        let client = sp_object_id(dir, tenant, &c.app_id);
        for (resource, scopes) in &c.scopes {
            if scopes.is_empty() {
                continue;
            }
            let resource_id = sp_object_id(dir, tenant, resource);
            let id = crate::model::tokens::b64url(
                &sha2::Sha256::digest(
                    format!("{client}|{resource_id}|{}", c.user.as_deref().unwrap_or(""))
                        .as_bytes(),
                )[..32],
            );
            out.push(json!({
                "id": id,
                "clientId": client,
                "consentType": if c.user.is_some() { "Principal" } else { "AllPrincipals" },
                "principalId": c.user,
                "resourceId": resource_id,
                "scope": scopes.iter().cloned().collect::<Vec<_>>().join(" "),
            }));
        }
    }
    out
}

fn grants_response(
    state: &State,
    req: &HttpRequest,
    only_client: Option<&str>,
) -> crate::graph::GraphResult {
    let caller = read_caller(state, req, READ_GRANTS)?;
    let q = Query::parse(
        req,
        MAX_TOP,
        &["clientId", "resourceId", "consentType", "principalId", "id"],
        "oAuth2PermissionGrant",
    )?;
    let dir = state.directory();
    if let Some(sp) = only_client {
        find_sp(&dir, caller.tenant(), sp).ok_or_else(|| GraphError::not_found(sp))?;
    }
    let all = grants_json(&dir, caller.tenant());
    drop(dir);
    let matching = all
        .into_iter()
        .filter(|g| {
            only_client.is_none_or(|c| {
                g["clientId"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(c))
            })
        })
        .filter(|g| q.matches(|p| g.get(p).and_then(Value::as_str)));
    let (items, next) = page(matching, q.offset, q.top.unwrap_or(DEFAULT_TOP));
    Ok(collection_page(
        format!("{}/$metadata#oauth2PermissionGrants", base(state)),
        &format!("{}/oauth2PermissionGrants", base(state)),
        &q,
        items,
        next,
    ))
}

/// `GET /v1.0/oauth2PermissionGrants[?$filter=clientId eq '…']`: delegated permission grants
/// (admin consent = `AllPrincipals`, user consent = `Principal`).
pub async fn list_grants(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("graph.oauth2PermissionGrants.list");
    let result = grants_response(&state, &req, None);
    finish(&req, result)
}

/// `GET /v1.0/servicePrincipals/{id}/oauth2PermissionGrants`
pub async fn list_sp_grants(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let result = grants_response(&state, &req, Some(&id));
    finish(&req, result)
}
