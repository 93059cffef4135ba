//! `GET /me/memberOf` and `GET /users/{id}/memberOf`: a partner user's security groups, the
//! access containers of GDAP access assignments.

use crate::graph::{GraphError, authenticate, base, finish};
use crate::model::state::State;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

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
