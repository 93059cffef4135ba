//! GDAP access assignments (`pending` → `active`, `deleting` → `deleted`, each change a
//! long-running operation) and `…/operations` (docs/microsoft-behaviour.md §6.2a).

use super::shared::{
    READ, WRITE, context, find_mine, get_child, list_children, not_found, partner_caller, rejected,
    with_context,
};
use crate::graph::{GraphError, GraphResult, base, finish, read_json};
use crate::model::partner_data::gdap::{self, AssignmentStatus, Operation, Status, status::secs};
use crate::model::state::State;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

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

/// `POST …/{id}/accessAssignments`: `201 Created` with the assignment `pending`; it is
/// `active` (its group's members hold the roles) after the configured time.
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
        let wait = secs(data.timings.assignment_secs);
        let idx = find_mine(&data, &caller, &id)?;
        let r = &mut data.relationships[idx];
        if r.status != Status::Active {
            return Err(GraphError::bad_request(format!("The relationship is '{}'; access assignments can only be created on an active relationship.", r.status.as_str())));
        }
        let (group, roles) = gdap::parse_assignment(&body, &r.roles).map_err(rejected)?;
        let live = |s: AssignmentStatus| matches!(s, AssignmentStatus::Pending | AssignmentStatus::Active);
        if r.assignments.iter().any(|a| a.group == group && live(a.status)) {
            return Err(GraphError::new(StatusCode::CONFLICT, "conflict", format!("An access assignment for the security group '{group}' already exists on this relationship.")));
        }
        let a = gdap::AccessAssignment::pending(uuid::Uuid::new_v4().to_string(), group, roles, now, wait);
        let json = with_context(a.to_json(), context(&state, &format!("delegatedAdminRelationships('{id}')/accessAssignments/$entity")));
        let location = format!("{}/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments/{}", base(&state), a.id);
        r.operations.push(Operation::assignment_update(&a, now, now + wait));
        r.assignments.push(a);
        r.touch(now);
        data.wake();
        Ok(HttpResponse::Created().insert_header(("location", location)).json(json))
    }
    .await;
    finish(&req, result)
}

fn assignment_not_found(aid: &str) -> GraphError {
    not_found("access assignment", aid)
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
            .ok_or_else(|| assignment_not_found(&aid))?;
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

/// `DELETE …/{id}/accessAssignments/{aid}`: `204`; the assignment is `deleting` (its roles no
/// longer held), then `deleted`. One already being deleted or deleted is not found.
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
        let wait = secs(data.timings.assignment_secs);
        let idx = find_mine(&data, &caller, &id)?;
        let r = &mut data.relationships[idx];
        let a = r
            .assignments
            .iter_mut()
            .find(|a| {
                a.id.eq_ignore_ascii_case(&aid)
                    && matches!(
                        a.status,
                        AssignmentStatus::Pending | AssignmentStatus::Active
                    )
            })
            .ok_or_else(|| assignment_not_found(&aid))?;
        a.delete(now, wait);
        let op = Operation::assignment_update(a, now, now + wait);
        r.operations.push(op);
        r.touch(now);
        data.wake();
        Ok(HttpResponse::NoContent().finish())
    })();
    finish(&req, result)
}

/// `GET …/{id}/operations`
pub async fn list_operations(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    finish(&req, list_children::<Operation>(&state, &req, &id))
}

/// `GET …/{id}/operations/{oid}`
pub async fn get_operation(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, oid) = path.into_inner();
    finish(&req, get_child::<Operation>(&state, &req, &id, &oid))
}
