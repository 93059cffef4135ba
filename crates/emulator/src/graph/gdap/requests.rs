//! GDAP requests (`…/requests`: `lockForApproval`, `approve`, `terminate`, each with its own
//! asynchronous status), the customer's approval through the admin API, and the lengths of
//! the transitional states (`/_admin/gdap/timings`) (docs/microsoft-behaviour.md §6.2a).

use super::shared::{
    WRITE, apply_clock, context, get_child, list_children, partner_caller, relationship_not_found,
    with_context,
};
use crate::graph::{GraphError, authenticate, finish, read_json};
use crate::model::partner_data::gdap::{GdapTimings, RelationshipRequest, Status};
use crate::model::state::State;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

/// Approve a relationship as its customer: `approvalPending` → `approved`, then on the clock
/// `activating` and `active`, with delegated access at the customer's authority from then on.
/// `customer` is required when the relationship names none. Returns the relationship.
pub fn approve(state: &State, id: &str, customer: Option<&str>) -> Result<Value, GraphError> {
    apply_clock(state);
    let now = state.now();
    {
        let mut data = state.partner.lock();
        let idx = data
            .relationships
            .iter()
            .position(|r| r.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| relationship_not_found(id))?;
        let partner = data.relationships[idx].partner.clone();
        let named = data.relationships[idx].customer.clone();
        let (tid, name) = match (named, customer) {
            (Some((t, _)), Some(c)) if !t.eq_ignore_ascii_case(c) => {
                return Err(GraphError::bad_request(format!(
                    "The relationship is offered to customer '{t}', not '{c}'."
                )));
            }
            (Some(tn), _) => tn,
            (None, Some(c)) => {
                let name = data
                    .customer(&partner, c)
                    .map(|x| x.company_name.clone())
                    .ok_or_else(|| {
                        GraphError::bad_request(format!(
                            "The tenant '{c}' is not a customer of the partner."
                        ))
                    })?;
                (c.to_ascii_lowercase(), name)
            }
            (None, None) => {
                return Err(GraphError::bad_request(
                    "The relationship names no customer: say which customer tenant approves it.",
                ));
            }
        };
        let r = &mut data.relationships[idx];
        if r.status != Status::ApprovalPending {
            return Err(GraphError::bad_request(format!(
                "The relationship is '{}'; only a relationship in 'approvalPending' (after a lockForApproval request has succeeded) can be approved.",
                r.status.as_str()
            )));
        }
        r.approve((tid.clone(), name), now);
        r.requests
            .push(RelationshipRequest::new("approve", now, now));
        data.wake();
        tracing::info!(gdap.id = id, customer.id = %tid, "GDAP relationship approved");
    }
    // Zero-length states complete now: the relationship may already be active.
    apply_clock(state);
    let data = state.partner.lock();
    Ok(data
        .relationships
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id))
        .map(|r| r.to_json())
        .unwrap_or(Value::Null))
}

/// `POST /_admin/gdap/relationships/{id}/approve[?customer={tenant}]`
pub async fn admin_approve(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let customer: Option<String> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .ok()
            .and_then(|p| p.into_iter().find(|(k, _)| k == "customer").map(|(_, v)| v));
    let result =
        approve(&state, &id, customer.as_deref()).map(|json| HttpResponse::Ok().json(json));
    finish(&req, result)
}

/// `GET /_admin/gdap/timings`: how long each transitional state lasts, in seconds.
pub async fn get_timings(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(state.partner.lock().timings)
}

/// `PUT /_admin/gdap/timings` with every length (seconds; a missing one is 0). Applies to
/// states entered from now on and to those under way (their end moves with it).
pub async fn set_timings(state: web::Data<State>, body: web::Json<GdapTimings>) -> HttpResponse {
    apply_clock(&state);
    let mut data = state.partner.lock();
    data.timings = body.into_inner();
    data.wake();
    tracing::info!(timings = ?data.timings, "GDAP timings set");
    HttpResponse::Ok().json(data.timings)
}

/// A `terminate` request on the relationship at `idx`: `terminationRequested` now (delegated
/// access ends with the last active relationship), `terminated` when the request succeeds.
fn terminate(state: &State, idx: usize) -> Result<Value, GraphError> {
    let now = state.now();
    let (partner, customer, still_active, json) = {
        let mut data = state.partner.lock();
        let timings = data.timings;
        let r = &mut data.relationships[idx];
        if r.status != Status::Active {
            return Err(GraphError::bad_request(format!(
                "The relationship is '{}'; only an active relationship can be terminated.",
                r.status.as_str()
            )));
        }
        let request = r.terminate(now, &timings);
        let partner = r.partner.clone();
        let customer = r.customer_tenant().unwrap_or_default().to_string();
        data.wake();
        let still = data.has_active_relationship(&partner, &customer);
        (partner, customer, still, request.to_json(now))
    };
    if !still_active {
        state.set_delegated_access(&customer, &partner, false);
    }
    Ok(json)
}

/// `lockForApproval` on the relationship at `idx`: the request is `created`, the relationship
/// stays `created` until the request succeeds.
fn lock(state: &State, idx: usize) -> Result<Value, GraphError> {
    let now = state.now();
    let mut data = state.partner.lock();
    let timings = data.timings;
    let r = &mut data.relationships[idx];
    if r.status != Status::Created {
        return Err(GraphError::bad_request(format!(
            "The relationship is '{}'; lockForApproval needs a relationship in 'created'.",
            r.status.as_str()
        )));
    }
    let request = r.lock(now, &timings).ok_or_else(|| {
        GraphError::bad_request(
            "A lockForApproval request for this relationship is already under way.",
        )
    })?;
    data.wake();
    Ok(request.to_json(now))
}

/// `POST /tenantRelationships/delegatedAdminRelationships/{id}/requests` `{"action": …}`
pub async fn create_request(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    state.count("graph.gdap.requests.create");
    let result = async {
        apply_clock(&state);
        let caller = authenticate(&state, &req)?;
        caller.require(WRITE, WRITE)?;
        let body = read_json(body).await?;
        let action = body
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| GraphError::bad_request("The action property is required."))?
            .to_string();
        let (idx, partner, customer) = {
            let data = state.partner.lock();
            let idx = data
                .relationships
                .iter()
                .position(|r| r.id.eq_ignore_ascii_case(&id))
                .ok_or_else(|| relationship_not_found(&id))?;
            let r = &data.relationships[idx];
            (idx, r.partner.clone(), r.customer_tenant().map(str::to_string))
        };
        let is_partner = caller.tenant().eq_ignore_ascii_case(&partner);
        let is_customer = customer
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(caller.tenant()))
            || (customer.is_none()
                && state
                    .partner
                    .lock()
                    .customer(&partner, caller.tenant())
                    .is_some());
        if !is_partner && !is_customer {
            return Err(relationship_not_found(&id));
        }
        if is_partner {
            // Same gate as the other partner operations (tenant kind, app-only prerequisite).
            partner_caller(&state, &req, WRITE)?;
        }
        let json = match action.as_str() {
            "lockForApproval" if is_partner => lock(&state, idx)?,
            "approve" if is_customer => {
                if crate::graph::directory_roles(&state, &caller).is_empty()
                    || caller.is_foreign_user()
                {
                    return Err(GraphError::denied_because(
                        "Only an administrator of the customer tenant can approve a delegated admin relationship.",
                    ));
                }
                approve(&state, &id, Some(caller.tenant()))?;
                let now = state.now();
                let data = state.partner.lock();
                data.relationships[idx]
                    .requests
                    .last()
                    .map(|r| r.to_json(now))
                    .unwrap_or(Value::Null)
            }
            "terminate" => terminate(&state, idx)?,
            "lockForApproval" | "approve" => {
                return Err(GraphError::denied_because(format!(
                    "The action '{action}' cannot be requested by this tenant."
                )));
            }
            other => {
                return Err(GraphError::bad_request(format!(
                    "The action '{other}' is not valid: use lockForApproval, approve or terminate."
                )));
            }
        };
        let ctx = context(
            &state,
            &format!("delegatedAdminRelationships('{id}')/requests/$entity"),
        );
        Ok(HttpResponse::Created().json(with_context(json, ctx)))
    }
    .await;
    finish(&req, result)
}

/// `GET /tenantRelationships/delegatedAdminRelationships/{id}/requests`
pub async fn list_requests(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    finish(
        &req,
        list_children::<RelationshipRequest>(&state, &req, &id),
    )
}

/// `GET /tenantRelationships/delegatedAdminRelationships/{id}/requests/{rid}`
pub async fn get_request(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, rid) = path.into_inner();
    finish(
        &req,
        get_child::<RelationshipRequest>(&state, &req, &id, &rid),
    )
}
