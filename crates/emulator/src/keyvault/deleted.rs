//! A vault's soft-deleted secrets: get, list, recover, purge.

use super::auth::admit_checked;
use super::secrets::list;
use super::wire::{bundle, deleted_fields, deleted_not_found, item, lock_vaults, ok_json};
use crate::model::state::State;
use actix_web::{HttpRequest, HttpResponse, web};

/// `GET /deletedsecrets/{name}`
pub async fn get_deleted(
    state: web::Data<State>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    let ctx = admit_checked!(state, req, "get_deleted_secret", "list");
    let vaults = lock_vaults(&state);
    let Some(d) = vaults
        .get(&ctx.vault)
        .and_then(|v| v.deleted.get(&name.to_ascii_lowercase()))
    else {
        return deleted_not_found(&name);
    };
    let Some(latest) = d.secret.versions.last() else {
        return deleted_not_found(&name);
    };
    ok_json(deleted_fields(
        &ctx,
        d,
        bundle(&ctx, &d.secret, latest, false),
    ))
}

/// `GET /deletedsecrets`
pub async fn list_deleted(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    list(
        &state,
        &req,
        "list_deleted_secrets",
        "/deletedsecrets",
        |ctx, vault| {
            vault
                .deleted
                .values()
                .filter_map(|d| {
                    d.secret
                        .versions
                        .last()
                        .map(|l| deleted_fields(ctx, d, item(ctx, &d.secret, l, false)))
                })
                .collect()
        },
    )
}

/// `POST /deletedsecrets/{name}/recover`
pub async fn recover(
    state: web::Data<State>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    let ctx = admit_checked!(state, req, "recover_deleted_secret", "recover");
    let mut vaults = lock_vaults(&state);
    let Some(vault) = vaults.get_mut(&ctx.vault) else {
        return deleted_not_found(&name);
    };
    let key = name.to_ascii_lowercase();
    let Some(d) = vault.deleted.remove(&key) else {
        return deleted_not_found(&name);
    };
    let Some(latest) = d.secret.versions.last().cloned() else {
        return deleted_not_found(&name);
    };
    let body = bundle(&ctx, &d.secret, &latest, false);
    vault.secrets.insert(key, d.secret);
    ok_json(body)
}

/// `DELETE /deletedsecrets/{name}`
pub async fn purge(
    state: web::Data<State>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    let ctx = admit_checked!(state, req, "purge_deleted_secret", "purge");
    let mut vaults = lock_vaults(&state);
    match vaults
        .get_mut(&ctx.vault)
        .and_then(|v| v.deleted.remove(&name.to_ascii_lowercase()))
    {
        Some(_) => HttpResponse::NoContent()
            .insert_header(("x-ms-request-id", uuid::Uuid::new_v4().to_string()))
            .finish(),
        None => deleted_not_found(&name),
    }
}
