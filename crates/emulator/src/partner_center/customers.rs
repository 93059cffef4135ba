//! `GET /v1/customers` (`size`, `filter`, seek paging), `GET /v1/customers/{id}`,
//! `GET /v1/customers/{id}/users`, `GET /v1/customers/{id}/subscriptions`
//! (docs/microsoft-behaviour.md §5.3, §5.4).

use super::{Auth, Caller, PcError, PcResult, authenticate, finish, rate_limit};
use crate::model::partner_data::Customer;
use crate::model::state::State;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Page size when `size` is absent.
pub const DEFAULT_SIZE: usize = 100;
/// Largest `size`.
pub const MAX_SIZE: usize = 500;

/// What a continuation token carries (opaque to clients).
#[derive(Serialize, Deserialize)]
struct Continuation {
    /// Which collection.
    k: String,
    /// Offset of the next page.
    o: usize,
    /// Page size.
    s: usize,
    /// Filter (JSON as sent).
    f: Option<String>,
}

fn encode(c: &Continuation) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode(token: &str) -> Option<Continuation> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Paging state of a request: fresh (`size`, `filter`) or a `seekOperation=Next` continuation.
struct Paging {
    offset: usize,
    size: usize,
    filter: Option<String>,
}

fn paging(req: &HttpRequest, kind: &str) -> Result<Paging, PcError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|_| PcError::invalid("The query string is malformed."))?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if let Some(op) = get("seekOperation") {
        if !op.eq_ignore_ascii_case("Next") {
            return Err(PcError::invalid(format!(
                "seekOperation '{op}' is not supported: use Next."
            )));
        }
        let token = req
            .headers()
            .get("ms-continuationtoken")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                PcError::invalid(
                    "seekOperation=Next needs the MS-ContinuationToken header from links.next.",
                )
            })?;
        let c = decode(token).filter(|c| c.k == kind).ok_or_else(|| {
            PcError::invalid(
                "The MS-ContinuationToken header is not a continuation token of this collection.",
            )
        })?;
        return Ok(Paging {
            offset: c.o,
            size: c.s,
            filter: c.f,
        });
    }
    let size = match get("size") {
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_SIZE).contains(n))
            .ok_or_else(|| {
                PcError::invalid(format!(
                    "Invalid size '{s}': must be between 1 and {MAX_SIZE}."
                ))
            })?,
        None => DEFAULT_SIZE,
    };
    Ok(Paging {
        offset: 0,
        size,
        filter: get("filter"),
    })
}

/// A customer filter: `{"Field":"CompanyName"|"Domain","Value":"…","Operator":"starts_with"}`.
struct Filter {
    by_domain: bool,
    value: String,
}

fn parse_filter(text: &str) -> Result<Filter, PcError> {
    let v: Value = serde_json::from_str(text).map_err(|_| PcError::invalid("The filter is not valid JSON: expected {\"Field\":\"CompanyName\",\"Value\":\"…\",\"Operator\":\"starts_with\"}."))?;
    let field = v.get("Field").and_then(Value::as_str).unwrap_or_default();
    let by_domain = match field.to_ascii_lowercase().as_str() {
        "companyname" => false,
        "domain" => true,
        _ => {
            return Err(PcError::invalid(format!(
                "The filter field '{field}' is not supported: use CompanyName or Domain."
            )));
        }
    };
    let op = v
        .get("Operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !op.eq_ignore_ascii_case("starts_with") {
        return Err(PcError::invalid(format!(
            "The filter operator '{op}' is not supported: use starts_with."
        )));
    }
    let value = v
        .get("Value")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| PcError::invalid("The filter needs a non-empty Value."))?;
    Ok(Filter {
        by_domain,
        value: value.to_ascii_lowercase(),
    })
}

fn link(uri: String) -> Value {
    json!({"uri": uri, "method": "GET", "headers": []})
}

fn customer_json(c: &Customer, with_access: Option<bool>) -> Value {
    let mut v = json!({
        "id": c.tenant,
        "commerceId": crate::model::partner_data::catalog::stable_guid(&format!("commerce|{}", c.tenant)),
        "companyProfile": {
            "tenantId": c.tenant,
            "domain": c.domain,
            "companyName": c.company_name,
            "links": {"self": link(format!("/v1/customers/{}/profiles/company", c.tenant))},
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "relationshipToPartner": c.relationship,
        "customDomains": [c.domain],
        "links": {"self": link(format!("/v1/customers/{}", c.tenant))},
        "attributes": {"objectType": "Customer"},
    });
    if let (Some(access), Value::Object(m)) = (with_access, &mut v) {
        m.insert("allowDelegatedAccess".into(), json!(access));
    }
    v
}

fn collection(items: Vec<Value>, self_uri: String, next: Option<(String, String)>) -> HttpResponse {
    let mut links = serde_json::Map::new();
    links.insert("self".into(), link(self_uri));
    let mut body = serde_json::Map::new();
    body.insert("totalCount".into(), json!(items.len()));
    body.insert("items".into(), Value::Array(items));
    if let Some((uri, token)) = next {
        links.insert("next".into(), json!({"uri": uri, "method": "GET", "headers": [{"key": "MS-ContinuationToken", "value": token}]}));
        body.insert("continuationToken".into(), json!(token));
    }
    body.insert("links".into(), Value::Object(links));
    body.insert("attributes".into(), json!({"objectType": "Collection"}));
    HttpResponse::Ok().json(Value::Object(body))
}

fn customers_caller(state: &State, req: &HttpRequest) -> Result<Caller, PcError> {
    let caller = authenticate(state, req, Auth::AppOrUser)?;
    let settings = state.partner.lock().settings.clone();
    rate_limit(
        state,
        &format!("customers|{}", caller.tenant()),
        settings.customers_rate_limit,
        settings.customers_rate_window_secs,
    )?;
    Ok(caller)
}

/// `GET /v1/customers`
pub async fn list(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("partnercenter.customers.list");
    let result: PcResult = (|| {
        let caller = customers_caller(&state, &req)?;
        let p = paging(&req, "customers")?;
        let filter = p.filter.as_deref().map(parse_filter).transpose()?;
        let data = state.partner.lock();
        let mut matching = data
            .customers
            .iter()
            .filter(|c| c.partner.eq_ignore_ascii_case(caller.tenant()))
            .filter(|c| {
                filter.as_ref().is_none_or(|f| {
                    let field = if f.by_domain {
                        &c.domain
                    } else {
                        &c.company_name
                    };
                    field.to_ascii_lowercase().starts_with(&f.value)
                })
            });
        let items: Vec<Value> = matching
            .by_ref()
            .skip(p.offset)
            .take(p.size)
            .map(|c| customer_json(c, None))
            .collect();
        let more = matching.next().is_some();
        drop(data);
        let next = more.then(|| {
            let token = encode(&Continuation {
                k: "customers".into(),
                o: p.offset + p.size,
                s: p.size,
                f: p.filter.clone(),
            });
            (
                format!("/v1/customers?size={}&seekOperation=Next", p.size),
                token,
            )
        });
        Ok(collection(
            items,
            format!("/v1/customers?size={}", p.size),
            next,
        ))
    })();
    finish(&req, result)
}

/// The partner's customer named in the path, or 404 / 403 as Partner Center answers.
fn customer_of(state: &State, caller: &Caller, id: &str) -> Result<Customer, PcError> {
    let data = state.partner.lock();
    if let Some(c) = data.customer(caller.tenant(), id) {
        return Ok(c.clone());
    }
    if data.is_customer(id) {
        return Err(PcError::new(
            StatusCode::FORBIDDEN,
            20002,
            format!(
                "The partner ID {} has no commerce relationship with the customer ID {id}.",
                caller.tenant()
            ),
        ));
    }
    Err(PcError::new(
        StatusCode::NOT_FOUND,
        1000,
        format!("Customer {id} was not found."),
    ))
}

/// `GET /v1/customers/{id}`
pub async fn get(state: web::Data<State>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    state.count("partnercenter.customers.get");
    let result: PcResult = (|| {
        let caller = customers_caller(&state, &req)?;
        let c = customer_of(&state, &caller, &id)?;
        let access = state.has_delegated_access(&c.tenant, caller.tenant());
        Ok(HttpResponse::Ok().json(customer_json(&c, Some(access))))
    })();
    finish(&req, result)
}

/// `GET /v1/customers/{id}/users`
pub async fn users(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    state.count("partnercenter.customers.users");
    let result: PcResult = (|| {
        let caller = customers_caller(&state, &req)?;
        let c = customer_of(&state, &caller, &id)?;
        let kind = format!("users|{}", c.tenant);
        let p = paging(&req, &kind)?;
        let dir = state.directory();
        let mut matching = dir
            .users
            .iter()
            .filter(|u| u.tenant.eq_ignore_ascii_case(&c.tenant));
        let items: Vec<Value> = matching
            .by_ref()
            .skip(p.offset)
            .take(p.size)
            .map(|u| {
                let (first, last) = u
                    .display_name
                    .split_once(' ')
                    .unwrap_or((u.display_name.as_str(), ""));
                json!({
                    "id": u.id,
                    "userPrincipalName": u.upn,
                    "firstName": first,
                    "lastName": last,
                    "displayName": u.display_name,
                    "userDomainType": "none",
                    "state": "active",
                    "softDeletionTime": Value::Null,
                    "lastDirectorySyncTime": Value::Null,
                    "links": {"self": link(format!("/v1/customers/{}/users/{}", c.tenant, u.id))},
                    "attributes": {"objectType": "CustomerUser"},
                })
            })
            .collect();
        let more = matching.next().is_some();
        drop(dir);
        // Documented without the API root: `"uri": "/customers/{id}/users?size=..."`
        // (develop/get-a-list-of-all-user-accounts-for-a-customer.md; docs/microsoft-behaviour.md §0).
        let base = format!("/customers/{}/users", c.tenant);
        let next = more.then(|| {
            let token = encode(&Continuation {
                k: kind.clone(),
                o: p.offset + p.size,
                s: p.size,
                f: None,
            });
            (format!("{base}?size={}&seekOperation=Next", p.size), token)
        });
        Ok(collection(items, format!("{base}?size={}", p.size), next))
    })();
    finish(&req, result)
}

/// `GET /v1/customers/{id}/subscriptions`
pub async fn subscriptions(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    state.count("partnercenter.customers.subscriptions");
    let result: PcResult = (|| {
        let caller = customers_caller(&state, &req)?;
        let c = customer_of(&state, &caller, &id)?;
        let created = crate::model::partner_data::gdap::iso(0);
        let items = c
            .subscriptions
            .iter()
            .map(|s| {
                let annual = s.billing_cycle.eq_ignore_ascii_case("annual");
                json!({
                    "id": s.id,
                    "offerId": s.offer_id,
                    "offerName": s.offer_name,
                    "friendlyName": s.friendly_name.clone().unwrap_or_else(|| s.offer_name.clone()),
                    "quantity": s.quantity,
                    "unitType": "Licenses",
                    "creationDate": created,
                    "effectiveStartDate": created,
                    "status": s.status,
                    "autoRenewEnabled": s.auto_renew,
                    "billingType": "license",
                    "billingCycle": s.billing_cycle,
                    "termDuration": if annual { "P1Y" } else { "P1M" },
                    "isTrial": false,
                    "links": {"self": link(format!("/v1/customers/{}/subscriptions/{}", c.tenant, s.id))},
                    "attributes": {"objectType": "Subscription"},
                })
            })
            .collect();
        Ok(collection(
            items,
            format!("/v1/customers/{}/subscriptions", c.tenant),
            None,
        ))
    })();
    finish(&req, result)
}
