//! GDAP: `/v1.0/tenantRelationships/delegatedAdminRelationships` (list, get, create), its
//! `requests` (`lockForApproval`, `approve`, `terminate`) and `accessAssignments`, and the
//! customer's approval through the admin API (docs/microsoft-behaviour.md §6.2). An active relationship
//! is what lets the partner's refresh token work at the customer's authority
//! ([`State::set_delegated_access`]) and gives Admin Agents the assigned roles there.

use super::query::{Query, page};
use super::{
    Caller, GraphError, GraphResult, authenticate, base, collection_page, finish, read_json,
};
use crate::model::partner_data::catalog::PARTNER_CUSTOMER_DELEGATED_ADMIN_APP_ID;
use crate::model::partner_data::gdap::{self, Rejected, Relationship, RelationshipRequest, Status};
use crate::model::seed::TenantKind;
use crate::model::state::State;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

const READ: &[&str] = &[
    "DelegatedAdminRelationship.Read.All",
    "DelegatedAdminRelationship.ReadWrite.All",
];
const WRITE: &[&str] = &["DelegatedAdminRelationship.ReadWrite.All"];
const FILTERABLE: &[&str] = &["status", "displayName", "customer/tenantId", "id"];
const MAX_TOP: usize = 300;
/// user-list-memberof.md: delegated `User.Read` (for `/me`) up to `Directory.Read.All`.
const MEMBER_OF_DELEGATED: &[&str] = &[
    "User.Read",
    "User.ReadBasic.All",
    "User.Read.All",
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const MEMBER_OF_APPLICATION: &[&str] = &[
    "User.Read.All",
    "GroupMember.Read.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

fn rejected(r: Rejected) -> GraphError {
    GraphError::new(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
        r.code,
        r.message,
    )
}

fn relationship_not_found(id: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "itemNotFound",
        format!("The delegated admin relationship '{id}' was not found."),
    )
}

fn context(state: &State, suffix: &str) -> String {
    format!("{}/tenantRelationships/$metadata#{suffix}", base(state))
}

/// The caller must be the partner: a token of a partner tenant with the permission; app-only
/// callers also need the "Partner Customer Delegated Administration" service principal.
fn partner_caller(state: &State, req: &HttpRequest, wanted: &[&str]) -> Result<Caller, GraphError> {
    apply_clock(state);
    let caller = authenticate(state, req)?;
    caller.require(wanted, wanted)?;
    let dir = state.directory();
    let is_partner = dir
        .tenant(caller.tenant())
        .is_some_and(|t| t.kind == TenantKind::Partner);
    if !is_partner {
        return Err(GraphError::denied_because(
            "Insufficient privileges to complete the operation. Delegated admin relationships are managed from a partner tenant; this token is for a tenant that is not a partner.",
        ));
    }
    if caller.is_app_only()
        && dir
            .service_principal(caller.tenant(), PARTNER_CUSTOMER_DELEGATED_ADMIN_APP_ID)
            .is_none()
    {
        return Err(GraphError::denied_because(format!(
            "Insufficient privileges to complete the operation. To call this API with application permissions, create the service principal of appId {PARTNER_CUSTOMER_DELEGATED_ADMIN_APP_ID} (Partner Customer Delegated Administration) in the partner tenant."
        )));
    }
    Ok(caller)
}

/// Let the emulator's clock act on every relationship (expiry, auto-extension) before a read
/// or change: relationships are evaluated when Graph is next called, not by a timer. A
/// partner left without an active relationship with a customer loses delegated access there.
pub fn apply_clock(state: &State) {
    let expired = state.partner.lock().apply_clock(state.now());
    for (partner, customer) in expired {
        tracing::info!(customer.id = %customer, "GDAP relationship expired");
        state.set_delegated_access(&customer, &partner, false);
    }
}

fn property<'a>(r: &'a Relationship, prop: &str) -> Option<&'a str> {
    match prop.to_ascii_lowercase().as_str() {
        "status" => Some(r.status.as_str()),
        "displayname" => Some(&r.display_name),
        "customer/tenantid" => r.customer_tenant(),
        "id" => Some(&r.id),
        _ => None,
    }
}

/// `GET /tenantRelationships/delegatedAdminRelationships`
pub async fn list(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("graph.gdap.list");
    let result = (|| {
        let caller = partner_caller(&state, &req, READ)?;
        let q = Query::parse(&req, MAX_TOP, FILTERABLE, "delegatedAdminRelationship")?;
        let data = state.partner.lock();
        let mine = data
            .relationships
            .iter()
            .filter(|r| r.partner.eq_ignore_ascii_case(caller.tenant()))
            .filter(|r| q.matches(|p| property(r, p)));
        let (items, next) = page(mine, q.offset, q.top.unwrap_or(MAX_TOP));
        let value: Vec<Value> = items.into_iter().map(Relationship::to_json).collect();
        drop(data);
        Ok(collection_page(
            context(&state, "delegatedAdminRelationships"),
            &format!(
                "{}/tenantRelationships/delegatedAdminRelationships",
                base(&state)
            ),
            &q,
            value,
            next,
        ))
    })();
    finish(&req, result)
}

fn with_context(mut v: Value, ctx: String) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("@odata.context".into(), json!(ctx));
    }
    v
}

/// `GET /tenantRelationships/delegatedAdminRelationships/{id}`
pub async fn get(state: web::Data<State>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    state.count("graph.gdap.get");
    let result = (|| {
        let caller = partner_caller(&state, &req, READ)?;
        let data = state.partner.lock();
        let r = data
            .relationships
            .iter()
            .find(|r| {
                r.id.eq_ignore_ascii_case(&id) && r.partner.eq_ignore_ascii_case(caller.tenant())
            })
            .ok_or_else(|| relationship_not_found(&id))?;
        let body = with_context(
            r.to_json(),
            context(&state, "delegatedAdminRelationships/$entity"),
        );
        Ok(HttpResponse::Ok()
            .insert_header(("etag", r.etag()))
            .json(body))
    })();
    finish(&req, result)
}

/// `POST /tenantRelationships/delegatedAdminRelationships`
pub async fn create(state: web::Data<State>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    state.count("graph.gdap.create");
    let result = async {
        let caller = partner_caller(&state, &req, WRITE)?;
        let body = read_json(body).await?;
        let request = gdap::CreateRequest::from_json(&body).map_err(rejected)?;
        let now = state.now();
        let id = format!("{}-{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let mut data = state.partner.lock();
        let names: Vec<String> = data
            .relationships
            .iter()
            .filter(|r| r.partner.eq_ignore_ascii_case(caller.tenant()))
            .map(|r| r.display_name.clone())
            .collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let relationship = {
            let customer_name = |tid: &str| {
                data.customer(caller.tenant(), tid)
                    .map(|c| c.company_name.clone())
            };
            gdap::create(request, caller.tenant(), &name_refs, customer_name, id, now)
                .map_err(rejected)?
        };
        let json = with_context(
            relationship.to_json(),
            context(&state, "delegatedAdminRelationships/$entity"),
        );
        let location = format!(
            "{}/tenantRelationships/delegatedAdminRelationships/{}",
            base(&state),
            relationship.id
        );
        data.relationships.push(relationship);
        Ok(HttpResponse::Created()
            .insert_header(("location", location))
            .json(json))
    }
    .await;
    finish(&req, result)
}

/// `PATCH /tenantRelationships/delegatedAdminRelationships/{id}` with `If-Match` (required):
/// 200 with the updated relationship (api-reference/v1.0/api/delegatedadminrelationship-update.md).
/// A missing `If-Match` is 400 and a stale one 412, modelled conservatively (the doc names the
/// header required but not the error codes).
pub async fn update(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    state.count("graph.gdap.update");
    let result = async {
        let caller = partner_caller(&state, &req, WRITE)?;
        let body = read_json(body).await?;
        let if_match = req
            .headers()
            .get("if-match")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                GraphError::bad_request(
                    "The If-Match header is required: send the relationship's @odata.etag.",
                )
            })?;
        let now = state.now();
        let mut data = state.partner.lock();
        let idx = find_mine(&data, &caller, &id)?;
        let r = &mut data.relationships[idx];
        if if_match != "*" && if_match != r.etag() {
            return Err(GraphError::new(
                StatusCode::PRECONDITION_FAILED,
                "preconditionFailed",
                "The If-Match etag does not match the relationship's current @odata.etag: read it again and retry.",
            ));
        }
        r.update(&body, now).map_err(rejected)?;
        let json = with_context(
            r.to_json(),
            context(&state, "delegatedAdminRelationships/$entity"),
        );
        Ok(HttpResponse::Ok().insert_header(("etag", r.etag())).json(json))
    }
    .await;
    finish(&req, result)
}

/// `GET /tenantRelationships/delegatedAdminCustomers`: customers with at least one active
/// relationship ("automatically created by the system when at least one delegated admin
/// relationship exists … deleted when no more active relationships exist",
/// api-reference/v1.0/resources/delegatedadmincustomer.md); `id` and `tenantId` are the tenant.
pub async fn list_customers(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("graph.gdap.customers.list");
    let result = (|| {
        let caller = partner_caller(&state, &req, READ)?;
        let q = Query::parse(
            &req,
            MAX_TOP,
            &["tenantId", "id", "displayName"],
            "delegatedAdminCustomer",
        )?;
        let data = state.partner.lock();
        let mut seen: Vec<(&str, &str)> = Vec::new();
        let mut known = std::collections::HashSet::new();
        for r in data.relationships.iter().filter(|r| {
            r.status == Status::Active && r.partner.eq_ignore_ascii_case(caller.tenant())
        }) {
            if let Some((t, n)) = &r.customer
                && known.insert(t.to_ascii_lowercase())
            {
                seen.push((t.as_str(), n.as_str()));
            }
        }
        let matching = seen.into_iter().filter(|(t, n)| {
            q.matches(|p| match p.to_ascii_lowercase().as_str() {
                "tenantid" | "id" => Some(t),
                "displayname" => Some(n),
                _ => None,
            })
        });
        let (items, next) = page(matching, q.offset, q.top.unwrap_or(MAX_TOP));
        let value: Vec<Value> = items
            .into_iter()
            .map(|(t, n)| {
                json!({
                    "@odata.type": "#microsoft.graph.delegatedAdminCustomer",
                    "@odata.etag": format!("W/\"{}\"", crate::model::tokens::b64url(t)),
                    "id": t, "tenantId": t, "displayName": n,
                })
            })
            .collect();
        drop(data);
        Ok(collection_page(
            context(&state, "delegatedAdminCustomers"),
            &format!(
                "{}/tenantRelationships/delegatedAdminCustomers",
                base(&state)
            ),
            &q,
            value,
            next,
        ))
    })();
    finish(&req, result)
}

/// `GET /me/memberOf` (and `GET /users/{id}/memberOf`): the security groups of a user of the
/// caller's tenant ("List a user's direct memberships", api-reference/v1.0/api/user-list-memberof.md).
/// Only groups are modelled (no directory roles or administrative units).
pub async fn my_member_of(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    member_of(&state, &req, None)
}

/// `GET /users/{id}/memberOf`, see [`my_member_of`].
pub async fn user_member_of(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    member_of(&state, &req, Some(&id))
}

fn member_of(state: &State, req: &HttpRequest, id: Option<&str>) -> HttpResponse {
    state.count("graph.users.memberOf");
    let result = (|| {
        let caller = authenticate(state, req)?;
        caller.require(MEMBER_OF_DELEGATED, MEMBER_OF_APPLICATION)?;
        let user = match (id, &caller.user) {
            (None, Some(me)) => me.clone(),
            (None, None) => {
                return Err(GraphError::bad_request(
                    "/me is only valid with a delegated authentication flow.",
                ));
            }
            (Some(id), _) => state
                .directory()
                .user(id)
                .filter(|u| u.tenant.eq_ignore_ascii_case(caller.tenant()))
                .cloned()
                .ok_or_else(|| GraphError::not_found(id))?,
        };
        if !user.tenant.eq_ignore_ascii_case(caller.tenant()) {
            return Err(GraphError::denied());
        }
        let value: Vec<Value> = state
            .partner
            .lock()
            .groups_of(&user)
            .iter()
            .map(|g| {
                json!({
                    "@odata.type": "#microsoft.graph.group",
                    "id": g.id, "displayName": g.display_name,
                    "securityEnabled": true, "mailEnabled": false, "groupTypes": [],
                })
            })
            .collect();
        Ok(HttpResponse::Ok().json(json!({
            "@odata.context": format!("{}/$metadata#directoryObjects", base(state)),
            "value": value,
        })))
    })();
    finish(req, result)
}

/// Approve a relationship as its customer: `approvalPending` → `active`, with delegated access
/// at the customer's authority. `customer` is required when the relationship names none.
pub fn approve(state: &State, id: &str, customer: Option<&str>) -> Result<Value, GraphError> {
    apply_clock(state);
    let now = state.now();
    let (partner, customer_tid, json) = {
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
                "The relationship is '{}'; only a relationship in 'approvalPending' (after a lockForApproval request) can be approved.",
                r.status.as_str()
            )));
        }
        r.activate((tid.clone(), name), now);
        r.requests.push(RelationshipRequest {
            id: uuid::Uuid::new_v4().to_string(),
            action: "approve".into(),
            created: now,
        });
        (partner, tid, r.to_json())
    };
    state.set_delegated_access(&customer_tid, &partner, true);
    tracing::info!(gdap.id = id, customer.id = %customer_tid, "GDAP relationship approved");
    Ok(json)
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

fn terminate(state: &State, idx: usize) -> Result<Value, GraphError> {
    let now = state.now();
    let (partner, customer, still_active, json) = {
        let mut data = state.partner.lock();
        let r = &mut data.relationships[idx];
        if r.status != Status::Active {
            return Err(GraphError::bad_request(format!(
                "The relationship is '{}'; only an active relationship can be terminated.",
                r.status.as_str()
            )));
        }
        r.status = Status::Terminated;
        r.end = Some(now);
        r.touch(now);
        let req = RelationshipRequest {
            id: uuid::Uuid::new_v4().to_string(),
            action: "terminate".into(),
            created: now,
        };
        r.requests.push(req.clone());
        let partner = r.partner.clone();
        let customer = r.customer_tenant().unwrap_or_default().to_string();
        let still = data.has_active_relationship(&partner, &customer);
        (partner, customer, still, req.to_json())
    };
    if !still_active {
        state.set_delegated_access(&customer, &partner, false);
    }
    Ok(json)
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
        let action = body.get("action").and_then(Value::as_str).ok_or_else(|| GraphError::bad_request("The action property is required."))?.to_string();
        let (idx, partner, customer) = {
            let data = state.partner.lock();
            let idx = data.relationships.iter().position(|r| r.id.eq_ignore_ascii_case(&id)).ok_or_else(|| relationship_not_found(&id))?;
            let r = &data.relationships[idx];
            (idx, r.partner.clone(), r.customer_tenant().map(str::to_string))
        };
        let is_partner = caller.tenant().eq_ignore_ascii_case(&partner);
        let is_customer = customer.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(caller.tenant()))
            || (customer.is_none() && state.partner.lock().customer(&partner, caller.tenant()).is_some());
        if !is_partner && !is_customer {
            return Err(relationship_not_found(&id));
        }
        if is_partner {
            // Same gate as the other partner operations (tenant kind, app-only prerequisite).
            partner_caller(&state, &req, WRITE)?;
        }
        let json = match action.as_str() {
            "lockForApproval" if is_partner => {
                let now = state.now();
                let mut data = state.partner.lock();
                let r = &mut data.relationships[idx];
                if r.status != Status::Created {
                    return Err(GraphError::bad_request(format!("The relationship is '{}'; lockForApproval needs a relationship in 'created'.", r.status.as_str())));
                }
                r.status = Status::ApprovalPending;
                r.touch(now);
                let request = RelationshipRequest { id: uuid::Uuid::new_v4().to_string(), action: action.clone(), created: now };
                r.requests.push(request.clone());
                request.to_json()
            }
            "approve" if is_customer => {
                if super::directory_roles(&state, &caller).is_empty() || caller.is_foreign_user() {
                    return Err(GraphError::denied_because("Only an administrator of the customer tenant can approve a delegated admin relationship."));
                }
                approve(&state, &id, Some(caller.tenant()))?;
                let data = state.partner.lock();
                data.relationships[idx].requests.last().map(RelationshipRequest::to_json).unwrap_or(Value::Null)
            }
            "terminate" => terminate(&state, idx)?,
            "lockForApproval" | "approve" => {
                return Err(GraphError::denied_because(format!("The action '{action}' cannot be requested by this tenant.")));
            }
            other => {
                return Err(GraphError::bad_request(format!("The action '{other}' is not valid: use lockForApproval, approve or terminate.")));
            }
        };
        let ctx = context(&state, &format!("delegatedAdminRelationships('{id}')/requests/$entity"));
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
    let result = (|| {
        let caller = partner_caller(&state, &req, READ)?;
        let data = state.partner.lock();
        let r = data
            .relationships
            .iter()
            .find(|r| {
                r.id.eq_ignore_ascii_case(&id) && r.partner.eq_ignore_ascii_case(caller.tenant())
            })
            .ok_or_else(|| relationship_not_found(&id))?;
        let value: Vec<Value> = r
            .requests
            .iter()
            .map(RelationshipRequest::to_json)
            .collect();
        Ok(HttpResponse::Ok().json(json!({"@odata.context": context(&state, &format!("delegatedAdminRelationships('{id}')/requests")), "value": value})))
    })();
    finish(&req, result)
}

fn find_mine(
    data: &crate::model::partner_data::Inner,
    caller: &Caller,
    id: &str,
) -> Result<usize, GraphError> {
    data.relationships
        .iter()
        .position(|r| {
            r.id.eq_ignore_ascii_case(id) && r.partner.eq_ignore_ascii_case(caller.tenant())
        })
        .ok_or_else(|| relationship_not_found(id))
}

/// `GET …/{id}/accessAssignments`
pub async fn list_assignments(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    state.count("graph.gdap.assignments.list");
    let result = (|| {
        let caller = partner_caller(&state, &req, READ)?;
        let data = state.partner.lock();
        let idx = find_mine(&data, &caller, &id)?;
        let value: Vec<Value> = data.relationships[idx]
            .assignments
            .iter()
            .map(gdap::AccessAssignment::to_json)
            .collect();
        Ok(HttpResponse::Ok().json(json!({"@odata.context": context(&state, &format!("delegatedAdminRelationships('{id}')/accessAssignments")), "value": value})))
    })();
    finish(&req, result)
}

/// `POST …/{id}/accessAssignments`
pub async fn create_assignment(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    state.count("graph.gdap.assignments.create");
    let result = async {
        let caller = partner_caller(&state, &req, WRITE)?;
        let body = read_json(body).await?;
        let now = state.now();
        let mut data = state.partner.lock();
        let idx = find_mine(&data, &caller, &id)?;
        let r = &mut data.relationships[idx];
        if r.status != Status::Active {
            return Err(GraphError::bad_request(format!("The relationship is '{}'; access assignments can only be created on an active relationship.", r.status.as_str())));
        }
        let (group, roles) = gdap::parse_assignment(&body, &r.roles).map_err(rejected)?;
        if r.assignments.iter().any(|a| a.group == group) {
            return Err(GraphError::new(StatusCode::CONFLICT, "conflict", format!("An access assignment for the security group '{group}' already exists on this relationship.")));
        }
        let a = gdap::AccessAssignment { id: uuid::Uuid::new_v4().to_string(), group, roles, created: now, modified: now };
        let json = with_context(a.to_json(), context(&state, &format!("delegatedAdminRelationships('{id}')/accessAssignments/$entity")));
        let location = format!("{}/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments/{}", base(&state), a.id);
        r.assignments.push(a);
        r.touch(now);
        Ok(HttpResponse::Created().insert_header(("location", location)).json(json))
    }
    .await;
    finish(&req, result)
}

/// `GET …/{id}/accessAssignments/{aid}`
pub async fn get_assignment(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, aid) = path.into_inner();
    let result: GraphResult = (|| {
        let caller = partner_caller(&state, &req, READ)?;
        let data = state.partner.lock();
        let idx = find_mine(&data, &caller, &id)?;
        let a = data.relationships[idx]
            .assignments
            .iter()
            .find(|a| a.id.eq_ignore_ascii_case(&aid))
            .ok_or_else(|| {
                GraphError::new(
                    StatusCode::NOT_FOUND,
                    "itemNotFound",
                    format!("The access assignment '{aid}' was not found."),
                )
            })?;
        Ok(HttpResponse::Ok().json(with_context(
            a.to_json(),
            context(
                &state,
                &format!("delegatedAdminRelationships('{id}')/accessAssignments/$entity"),
            ),
        )))
    })();
    finish(&req, result)
}

/// `DELETE …/{id}/accessAssignments/{aid}`
pub async fn delete_assignment(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, aid) = path.into_inner();
    let result: GraphResult = (|| {
        let caller = partner_caller(&state, &req, WRITE)?;
        let now = state.now();
        let mut data = state.partner.lock();
        let idx = find_mine(&data, &caller, &id)?;
        let r = &mut data.relationships[idx];
        let before = r.assignments.len();
        r.assignments.retain(|a| !a.id.eq_ignore_ascii_case(&aid));
        if r.assignments.len() == before {
            return Err(GraphError::new(
                StatusCode::NOT_FOUND,
                "itemNotFound",
                format!("The access assignment '{aid}' was not found."),
            ));
        }
        r.touch(now);
        Ok(HttpResponse::NoContent().finish())
    })();
    finish(&req, result)
}
