//! GDAP relationships: list, get, create, update (`PATCH` with `If-Match`), and
//! `delegatedAdminCustomers` (docs/microsoft-behaviour.md §6.2).

use super::shared::{
    READ, WRITE, context, find_mine, partner_caller, rejected, relationship_not_found, with_context,
};
use crate::graph::query::{Query, page};
use crate::graph::{GraphError, base, collection_body, collection_page, finish, read_json};
use crate::model::partner_data::gdap::{self, Relationship, Status};
use crate::model::state::State;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

const FILTERABLE: &[&str] = &["status", "displayName", "customer/tenantId", "id"];
const MAX_TOP: usize = 300;

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
    let prepared = (|| {
        let caller = partner_caller(&state, &req, READ)?;
        let q = Query::parse(&req, MAX_TOP, FILTERABLE, "delegatedAdminRelationship")?;
        Ok::<_, GraphError>((caller.tenant().to_owned(), q))
    })();
    let result = match prepared {
        Ok((tenant, q)) => {
            let context = context(&state, "delegatedAdminRelationships");
            let url = format!(
                "{}/tenantRelationships/delegatedAdminRelationships",
                base(&state)
            );
            let state = state.clone();
            // A page (up to 300 relationships) is serialized on the blocking pool, as the token
            // endpoint signs there: the connection's worker goes on serving the other requests
            // multiplexed on it.
            web::block(move || {
                let mut data = state.partner.lock();
                let mine = data
                    .partner_relationships(&tenant)
                    .filter(|r| q.matches(|p| property(r, p)));
                let (items, next) = page(mine, q.offset, q.top.unwrap_or(MAX_TOP));
                let value: Vec<_> = items.into_iter().map(Relationship::graph).collect();
                collection_body(context, &url, &q, value, next)
            })
            .await
            .map_err(|_| {
                GraphError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The service is shutting down.",
                )
            })
            .and_then(|body| {
                body.map_err(|e| {
                    GraphError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "generalException",
                        e.to_string(),
                    )
                })
            })
            .map(|body| {
                HttpResponse::Ok()
                    .content_type(actix_web::http::header::ContentType::json())
                    .body(body)
            })
        }
        Err(e) => Err(e),
    };
    finish(&req, result)
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
        data.wake();
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
        data.wake();
        let r = &data.relationships[idx];
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
