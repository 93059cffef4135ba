//! `/v1.0/me`, `/v1.0/organization`, `/v1.0/users`, `/v1.0/users/{id}` (docs/microsoft-behaviour.md §6.3).

use super::query::{Query, page};
use super::{
    Caller, GraphError, authenticate, base, collection_page, finish, require_foreign_access,
};
use crate::model::seed::UserSeed;
use crate::model::state::State;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

/// Properties a user has in the emulator (`$select` accepts these).
pub const USER_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "accountEnabled",
    "userType",
    "usageLocation",
];
const DEFAULT_PROPERTIES: usize = 11;
const FILTERABLE: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "mail",
    "givenName",
    "surname",
    "accountEnabled",
    "userType",
];

const READ_USERS_DELEGATED: &[&str] = &[
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
const READ_USERS_APP: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// Largest `$top` for users.
pub const MAX_TOP: usize = 999;
/// Page size without `$top`.
pub const DEFAULT_TOP: usize = 100;

fn names(u: &UserSeed) -> (String, String) {
    match u.display_name.split_once(' ') {
        Some((g, s)) => (g.to_string(), s.to_string()),
        None => (u.display_name.clone(), String::new()),
    }
}

/// A user as Graph returns it (all properties; callers project with `$select`).
pub fn user_json(u: &UserSeed) -> Map<String, Value> {
    let (given, surname) = names(u);
    let mut m = Map::new();
    m.insert("businessPhones".into(), json!([]));
    m.insert("displayName".into(), json!(u.display_name));
    m.insert("givenName".into(), json!(given));
    m.insert("jobTitle".into(), Value::Null);
    m.insert("mail".into(), json!(u.upn));
    m.insert("mobilePhone".into(), Value::Null);
    m.insert("officeLocation".into(), Value::Null);
    m.insert("preferredLanguage".into(), Value::Null);
    m.insert(
        "surname".into(),
        if surname.is_empty() {
            Value::Null
        } else {
            json!(surname)
        },
    );
    m.insert("userPrincipalName".into(), json!(u.upn));
    m.insert("id".into(), json!(u.id));
    m.insert("accountEnabled".into(), json!(true));
    m.insert("userType".into(), json!("Member"));
    m.insert("usageLocation".into(), Value::Null);
    m
}

fn default_view(mut m: Map<String, Value>, q: &Query) -> Result<Value, GraphError> {
    if q.select.is_none() {
        m.retain(|k, _| USER_PROPERTIES[..DEFAULT_PROPERTIES].contains(&k.as_str()));
        return Ok(Value::Object(m));
    }
    q.project(m, USER_PROPERTIES, "user")
}

fn user_property<'a>(u: &'a UserSeed, prop: &str) -> Option<&'a str> {
    match prop.to_ascii_lowercase().as_str() {
        "id" => Some(&u.id),
        "userprincipalname" | "mail" => Some(&u.upn),
        "displayname" => Some(&u.display_name),
        "givenname" => Some(
            u.display_name
                .split_once(' ')
                .map_or(u.display_name.as_str(), |(g, _)| g),
        ),
        "surname" => u.display_name.split_once(' ').map(|(_, s)| s),
        "accountenabled" => Some("true"),
        "usertype" => Some("Member"),
        _ => None,
    }
}

fn read_users_caller(state: &State, req: &HttpRequest) -> Result<Caller, GraphError> {
    let caller = authenticate(state, req)?;
    caller.require(READ_USERS_DELEGATED, READ_USERS_APP)?;
    require_foreign_access(state, &caller)?;
    Ok(caller)
}

/// `GET /v1.0/users`
pub async fn list(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("graph.users.list");
    let result = (|| {
        let caller = read_users_caller(&state, &req)?;
        let q = Query::parse(&req, MAX_TOP, FILTERABLE, "User")?;
        let top = q.top.unwrap_or(DEFAULT_TOP);
        let tid = caller.tenant().to_string();
        let dir = state.directory();
        let matching = dir
            .users_in(&tid)
            .filter(|u| q.matches(|p| user_property(u, p)));
        let (users, next) = page(matching, q.offset, top);
        let value = users
            .into_iter()
            .map(|u| default_view(user_json(u), &q))
            .collect::<Result<Vec<_>, _>>()?;
        drop(dir);
        let base = base(&state);
        Ok(collection_page(
            format!("{base}/$metadata#users"),
            &format!("{base}/users"),
            &q,
            value,
            next,
        ))
    })();
    finish(&req, result)
}

/// `GET /v1.0/users/{id | userPrincipalName}`
pub async fn get(state: web::Data<State>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    state.count("graph.users.get");
    let result = (|| {
        let caller = read_users_caller(&state, &req)?;
        let q = Query::parse(&req, MAX_TOP, &[], "User")?;
        let dir = state.directory();
        let user = dir
            .users
            .iter()
            .find(|u| {
                u.tenant.eq_ignore_ascii_case(caller.tenant())
                    && (u.id.eq_ignore_ascii_case(&id) || u.upn.eq_ignore_ascii_case(&id))
            })
            .ok_or_else(|| GraphError::not_found(&id))?;
        user_entity(&state, user, &q)
    })();
    finish(&req, result)
}

/// One user as `/users/{id}` and `/me` answer: the `$select`ed view with its `@odata.context`.
fn user_entity(state: &State, user: &UserSeed, q: &Query) -> Result<HttpResponse, GraphError> {
    let mut obj = default_view(user_json(user), q)?;
    if let Value::Object(m) = &mut obj {
        m.insert(
            "@odata.context".into(),
            json!(format!("{}/$metadata#users/$entity", base(state))),
        );
    }
    Ok(HttpResponse::Ok().json(obj))
}

/// `GET /v1.0/me` (delegated tokens only).
pub async fn me(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("graph.me");
    let result = (|| {
        let caller = authenticate(&state, &req)?;
        let Some(user) = caller.user.clone() else {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            ));
        };
        let mut any = vec!["User.Read", "User.ReadWrite", "User.ReadBasic.All"];
        any.extend_from_slice(READ_USERS_DELEGATED);
        caller.require(&any, &[])?;
        let q = Query::parse(&req, MAX_TOP, &[], "User")?;
        user_entity(&state, &user, &q)
    })();
    finish(&req, result)
}

/// `GET /v1.0/organization`
pub async fn organization(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("graph.organization");
    let result = (|| {
        let caller = authenticate(&state, &req)?;
        caller.require(
            &[
                "User.Read",
                "Organization.Read.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
                "Directory.AccessAsUser.All",
            ],
            &[
                "Organization.Read.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
        )?;
        require_foreign_access(&state, &caller)?;
        let dir = state.directory();
        let t = dir
            .tenant(caller.tenant())
            .ok_or_else(|| GraphError::not_found(caller.tenant()))?;
        let org = json!({
            "id": t.id,
            "displayName": t.display_name,
            "tenantType": "AAD",
            "countryLetterCode": "US",
            "preferredLanguage": "en",
            "businessPhones": [],
            "technicalNotificationMails": [],
            "verifiedDomains": [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": true, "isInitial": true, "name": t.domain, "type": "Managed"}],
        });
        Ok(HttpResponse::Ok().json(json!({"@odata.context": format!("{}/$metadata#organization", base(&state)), "value": [org]})))
    })();
    finish(&req, result)
}
