//! The secrets of a vault: set, get (latest or a version), update attributes, list, list a
//! secret's versions, delete (soft: the secret moves to the deleted ones).

use super::auth::{admit, admit_checked};
use super::wire::{
    Ctx, MAX_VALUE_BYTES, apply_attributes, bad_name, bundle, deleted_fields, is_valid_secret_name,
    item, kv_error, lock_vaults, not_found, ok_json, page_of, paging, parse_tags, read_json,
};
use crate::model::state::State;
use crate::model::vault::{DeletedSecret, Secret, SecretVersion, Vault};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

/// `PUT /secrets/{name}`
pub async fn set_secret(
    state: web::Data<State>,
    req: HttpRequest,
    name: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let ctx = admit_checked!(state, req, "set_secret", "set");
    if !is_valid_secret_name(&name) {
        return bad_name(&name);
    }
    let body = match read_json(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(value) = body.get("value").and_then(Value::as_str) else {
        return kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "Property 'value' is required.",
            None,
        );
    };
    if value.len() > MAX_VALUE_BYTES {
        return kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            &format!(
                "Secret value is too large: {} bytes. The maximum size of a secret value is {MAX_VALUE_BYTES} bytes.",
                value.len()
            ),
            None,
        );
    }
    let tags = match parse_tags(&body) {
        Ok(t) => t.unwrap_or_default(),
        Err(r) => return r,
    };
    let now = state.now();
    let mut v = SecretVersion {
        version: uuid::Uuid::new_v4().simple().to_string(),
        value: value.to_string(),
        content_type: body
            .get("contentType")
            .and_then(Value::as_str)
            .map(str::to_string),
        tags,
        enabled: true,
        nbf: None,
        exp: None,
        created: now,
        updated: now,
    };
    if let Err(r) = apply_attributes(&mut v, &body) {
        return r;
    }
    let key = name.to_ascii_lowercase();
    let mut vaults = lock_vaults(&state);
    let Some(vault) = vaults.get_mut(&ctx.vault) else {
        return not_found(&name);
    };
    if vault.deleted.contains_key(&key) {
        return kv_error(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
            ),
            Some("ObjectIsDeletedButRecoverable"),
        );
    }
    let secret = vault.secrets.entry(key).or_insert_with(|| Secret {
        name: name.to_string(),
        versions: Vec::new(),
    });
    secret.versions.push(v.clone());
    ok_json(bundle(&ctx, secret, &v, true))
}

/// `GET /secrets/{name}` and `/secrets/{name}/` (latest)
pub async fn get_secret_latest(
    state: web::Data<State>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    get_secret_inner(&state, &req, &name, "").await
}

/// `GET /secrets/{name}/{version}`
pub async fn get_secret(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (name, version) = path.into_inner();
    if version == "versions" {
        return list_versions(state, req, web::Path::from(name)).await;
    }
    get_secret_inner(&state, &req, &name, &version).await
}

async fn get_secret_inner(
    state: &State,
    req: &HttpRequest,
    name: &str,
    version: &str,
) -> HttpResponse {
    let ctx = admit_checked!(state, req, "get_secret", "get");
    if !is_valid_secret_name(name) {
        return bad_name(name);
    }
    let vaults = lock_vaults(state);
    let Some(secret) = vaults
        .get(&ctx.vault)
        .and_then(|v| v.secrets.get(&name.to_ascii_lowercase()))
    else {
        return not_found(name);
    };
    let Some(v) = secret
        .version_index(version)
        .map(|idx| &secret.versions[idx])
    else {
        return not_found(name);
    };
    if !v.enabled {
        return kv_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
            Some("SecretDisabled"),
        );
    }
    ok_json(bundle(&ctx, secret, v, true))
}

/// `PATCH /secrets/{name}/{version}` (version may be empty)
pub async fn update_secret(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> HttpResponse {
    let (name, version) = path.into_inner();
    update_inner(&state, &req, &name, &version, body).await
}

/// `PATCH /secrets/{name}` or `/secrets/{name}/`
pub async fn update_secret_latest(
    state: web::Data<State>,
    req: HttpRequest,
    name: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    update_inner(&state, &req, &name, "", body).await
}

async fn update_inner(
    state: &State,
    req: &HttpRequest,
    name: &str,
    version: &str,
    body: web::Payload,
) -> HttpResponse {
    let ctx = admit_checked!(state, req, "update_secret", "set");
    if !is_valid_secret_name(name) {
        return bad_name(name);
    }
    let body = match read_json(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let tags = match parse_tags(&body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let now = state.now();
    let mut vaults = lock_vaults(state);
    let Some(secret) = vaults
        .get_mut(&ctx.vault)
        .and_then(|v| v.secrets.get_mut(&name.to_ascii_lowercase()))
    else {
        return not_found(name);
    };
    let Some(idx) = secret.version_index(version) else {
        return not_found(name);
    };
    let v = &mut secret.versions[idx];
    if let Err(r) = apply_attributes(v, &body) {
        return r;
    }
    if let Some(ct) = body.get("contentType") {
        v.content_type = ct.as_str().map(str::to_string);
    }
    if let Some(t) = tags {
        v.tags = t;
    }
    v.updated = now;
    let v = v.clone();
    ok_json(bundle(&ctx, secret, &v, false))
}

/// `GET /secrets`
pub async fn list_secrets(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    list(&state, &req, "list_secrets", "/secrets", |ctx, vault| {
        vault
            .secrets
            .values()
            .filter_map(|s| s.versions.last().map(|l| item(ctx, s, l, false)))
            .collect()
    })
}

/// A paged list of a vault's items (`list` permission): `items` picks and shapes them.
pub(crate) fn list(
    state: &State,
    req: &HttpRequest,
    operation: &str,
    path: &str,
    items: impl FnOnce(&Ctx, &Vault) -> Vec<Value>,
) -> HttpResponse {
    let ctx = admit_checked!(state, req, operation, "list");
    let (max, skip) = match paging(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items = lock_vaults(state)
        .get(&ctx.vault)
        .map(|v| items(&ctx, v))
        .unwrap_or_default();
    page_of(&ctx, path, items, max, skip)
}

/// `GET /secrets/{name}/versions`
pub async fn list_versions(
    state: web::Data<State>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    let ctx = admit_checked!(state, req, "list_secret_versions", "list");
    let (max, skip) = match paging(&req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items: Vec<Value> = {
        let vaults = lock_vaults(&state);
        match vaults
            .get(&ctx.vault)
            .and_then(|v| v.secrets.get(&name.to_ascii_lowercase()))
        {
            Some(s) => s.versions.iter().map(|v| item(&ctx, s, v, true)).collect(),
            None => return not_found(&name),
        }
    };
    page_of(&ctx, &format!("/secrets/{name}/versions"), items, max, skip)
}

/// `DELETE /secrets/{name}`
pub async fn delete_secret(
    state: web::Data<State>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    let ctx = admit_checked!(state, req, "delete_secret", "delete");
    let now = state.now();
    let mut vaults = lock_vaults(&state);
    let Some(vault) = vaults.get_mut(&ctx.vault) else {
        return not_found(&name);
    };
    let key = name.to_ascii_lowercase();
    let Some(secret) = vault.secrets.remove(&key) else {
        return not_found(&name);
    };
    let deleted = DeletedSecret {
        secret,
        deleted: now,
    };
    let Some(latest) = deleted.secret.versions.last() else {
        return not_found(&name);
    };
    let body = deleted_fields(&ctx, &deleted, bundle(&ctx, &deleted.secret, latest, false));
    vault.deleted.insert(key, deleted);
    ok_json(body)
}

/// Any other path on a vault host.
pub async fn unknown(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    if let Err(r) = admit(&state, &req, "unknown") {
        return r;
    }
    kv_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!(
            "The requested operation {} {} is not supported by the emulated vault.",
            req.method(),
            req.path()
        ),
        None,
    )
}
