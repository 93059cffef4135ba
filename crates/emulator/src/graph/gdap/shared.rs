//! What every GDAP handler shares: permissions, errors, the partner-caller gate, the
//! `@odata.context`, and the clock's effect on relationships.

use crate::graph::{Caller, GraphError, GraphResult, authenticate, base};
use crate::model::partner_data::Inner;
use crate::model::partner_data::catalog::PARTNER_CUSTOMER_DELEGATED_ADMIN_APP_ID;
use crate::model::partner_data::gdap::{Operation, Rejected, Relationship, RelationshipRequest};
use crate::model::seed::TenantKind;
use crate::model::state::State;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

/// Permissions that read relationships.
pub const READ: &[&str] = &[
    "DelegatedAdminRelationship.Read.All",
    "DelegatedAdminRelationship.ReadWrite.All",
];
/// Permissions that change them.
pub const WRITE: &[&str] = &["DelegatedAdminRelationship.ReadWrite.All"];

/// A model refusal as a Graph error.
pub fn rejected(r: Rejected) -> GraphError {
    GraphError::new(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
        r.code,
        r.message,
    )
}

/// 404 for a relationship.
pub fn relationship_not_found(id: &str) -> GraphError {
    not_found("delegated admin relationship", id)
}

/// 404 `itemNotFound` for a `what` of ID `id`.
pub fn not_found(what: &str, id: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "itemNotFound",
        format!("The {what} '{id}' was not found."),
    )
}

/// `@odata.context` under `tenantRelationships`.
pub fn context(state: &State, suffix: &str) -> String {
    format!("{}/tenantRelationships/$metadata#{suffix}", base(state))
}

/// `v` with its `@odata.context`.
pub fn with_context(mut v: Value, ctx: String) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("@odata.context".into(), json!(ctx));
    }
    v
}

/// The caller must be the partner: a token of a partner tenant with the permission; app-only
/// callers also need the "Partner Customer Delegated Administration" service principal.
pub fn partner_caller(
    state: &State,
    req: &HttpRequest,
    wanted: &[&str],
) -> Result<Caller, GraphError> {
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

/// Let the emulator's clock act on every relationship (its transitional states, expiry,
/// auto-extension, its assignments') before a read or change: relationships are evaluated
/// when Graph is next called, not by a timer. A partner whose relationship became active gains
/// delegated access to the customer; one left without an active relationship loses it.
pub fn apply_clock(state: &State) {
    let changes = state.partner.lock().apply_clock(state.now());
    for (partner, customer) in changes.gained {
        tracing::info!(customer.id = %customer, "GDAP relationship active");
        state.set_delegated_access(&customer, &partner, true);
    }
    for (partner, customer) in changes.lost {
        tracing::info!(customer.id = %customer, "GDAP relationship no longer active");
        state.set_delegated_access(&customer, &partner, false);
    }
}

/// The position of the caller's relationship `id`.
pub fn find_mine(data: &Inner, caller: &Caller, id: &str) -> Result<usize, GraphError> {
    data.relationships
        .iter()
        .position(|r| {
            r.id.eq_ignore_ascii_case(id) && r.partner.eq_ignore_ascii_case(caller.tenant())
        })
        .ok_or_else(|| relationship_not_found(id))
}

/// What a relationship holds as a collection of its own: `…/{id}/requests` and
/// `…/{id}/operations` are listed and read the same way.
pub trait Child: Sized {
    /// The collection's path segment (`requests`, `operations`).
    const SEGMENT: &'static str;
    /// What a 404 calls one.
    const NOUN: &'static str;
    /// The relationship's collection.
    fn of(r: &Relationship) -> &[Self];
    /// Its ID.
    fn id(&self) -> &str;
    /// Graph JSON at `now` (its status moves on the emulator's clock).
    fn json(&self, now: i64) -> Value;
}

impl Child for RelationshipRequest {
    const SEGMENT: &'static str = "requests";
    const NOUN: &'static str = "delegated admin relationship request";
    fn of(r: &Relationship) -> &[Self] {
        &r.requests
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn json(&self, now: i64) -> Value {
        self.to_json(now)
    }
}

impl Child for Operation {
    const SEGMENT: &'static str = "operations";
    const NOUN: &'static str = "delegated admin relationship operation";
    fn of(r: &Relationship) -> &[Self] {
        &r.operations
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn json(&self, now: i64) -> Value {
        self.to_json(now)
    }
}

/// `GET …/delegatedAdminRelationships/{id}/{requests|operations}`.
pub fn list_children<C: Child>(state: &State, req: &HttpRequest, id: &str) -> GraphResult {
    let caller = partner_caller(state, req, READ)?;
    let now = state.now();
    let data = state.partner.lock();
    let idx = find_mine(&data, &caller, id)?;
    let value: Vec<Value> = C::of(&data.relationships[idx])
        .iter()
        .map(|c| c.json(now))
        .collect();
    let ctx = context(
        state,
        &format!("delegatedAdminRelationships('{id}')/{}", C::SEGMENT),
    );
    Ok(HttpResponse::Ok().json(json!({"@odata.context": ctx, "value": value})))
}

/// `GET …/delegatedAdminRelationships/{id}/{requests|operations}/{child}`.
pub fn get_child<C: Child>(state: &State, req: &HttpRequest, id: &str, child: &str) -> GraphResult {
    let caller = partner_caller(state, req, READ)?;
    let now = state.now();
    let data = state.partner.lock();
    let idx = find_mine(&data, &caller, id)?;
    let c = C::of(&data.relationships[idx])
        .iter()
        .find(|c| c.id().eq_ignore_ascii_case(child))
        .ok_or_else(|| not_found(C::NOUN, child))?;
    let ctx = context(
        state,
        &format!("delegatedAdminRelationships('{id}')/{}/$entity", C::SEGMENT),
    );
    Ok(HttpResponse::Ok().json(with_context(c.json(now), ctx)))
}
