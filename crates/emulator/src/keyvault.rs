//! Azure Key Vault secrets data plane (protocol-facts §4), selected by the Host header
//! `{vault}.vault.localhost[:port]`. Challenge-based auth: an unauthenticated request gets
//! 401 with `WWW-Authenticate: Bearer authorization="https://127.0.0.1:{port}/{tenant}",
//! resource="https://vault.localhost:{port}"`, which the Rust, Python and JS SDKs accept with
//! challenge verification on.

use crate::caller::Caller;
use crate::model::resources::ResourceKind;
use crate::model::state::State;
use crate::model::tokens::TokenRejection;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub use crate::model::vault::{DeletedSecret, Secret, SecretVersion, Vault, is_valid_vault_name};

/// Largest secret value (25 KB, "maximum size of 25k bytes", about-secrets.md).
pub const MAX_VALUE_BYTES: usize = 25 * 1024;
/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const RECOVERABLE_DAYS: i64 = 90;
/// 7.4 and later: `7.x[-preview.N]` or dated versions (`2025-07-01`, newer SDKs send later dates).
fn is_supported_api_version(v: &str) -> bool {
    let base = v.split("-preview").next().unwrap_or(v);
    if let Some(minor) = base.strip_prefix("7.") {
        return minor.parse::<u32>().is_ok_and(|m| m >= 4);
    }
    let parts: Vec<&str> = base.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && parts[0] >= "2025"
}

/// The emulator's vaults, locked; a poisoned lock still yields the data.
fn lock_vaults(state: &State) -> std::sync::MutexGuard<'_, BTreeMap<String, Vault>> {
    state
        .vaults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Secret names: 1–127 characters of `0-9a-zA-Z-`.
fn is_valid_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn kv_error(status: StatusCode, code: &str, message: &str, inner: Option<&str>) -> HttpResponse {
    let mut err = json!({"code": code, "message": message});
    if let Some(i) = inner {
        err["innererror"] = json!({"code": i});
    }
    HttpResponse::build(status)
        .insert_header(("x-ms-error-code", inner.unwrap_or(code)))
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-ms-keyvault-service-version", "1.9.0.0"))
        .insert_header(("x-ms-request-id", uuid::Uuid::new_v4().to_string()))
        .content_type("application/json; charset=utf-8")
        .body(json!({"error": err}).to_string())
}

fn ok_json(v: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-ms-keyvault-service-version", "1.9.0.0"))
        .insert_header(("x-ms-keyvault-region", "localhost"))
        .insert_header(("x-ms-request-id", uuid::Uuid::new_v4().to_string()))
        .content_type("application/json; charset=utf-8")
        .body(v.to_string())
}

/// Host → vault name, if the request is for a vault.
pub fn vault_name_of(host: &str) -> Option<String> {
    let host = host
        .rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    host.to_ascii_lowercase()
        .strip_suffix(".vault.localhost")
        .map(str::to_string)
}

/// The actix guard selecting Key Vault requests.
pub fn is_vault_request(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(vault_name_of)
        .is_some()
        || ctx.head().uri.host().and_then(vault_name_of).is_some()
}

struct Ctx {
    vault: String,
    base: String,
    api_version: String,
}

fn challenge(state: &State, tenant: &str, status: StatusCode, message: &str) -> HttpResponse {
    let port = state.port();
    let mut r = kv_error(status, "Unauthorized", message, None);
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&format!(
        r#"Bearer authorization="https://127.0.0.1:{port}/{tenant}", resource="https://vault.localhost:{port}""#
    )) {
        r.headers_mut()
            .insert(actix_web::http::header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Check vault, api-version and bearer token; returns the context and the caller's object ID.
fn admit(state: &State, req: &HttpRequest, op: &str) -> Result<(Ctx, String), HttpResponse> {
    state.count(&format!("keyvault.{op}"));
    let host = req.connection_info().host().to_string();
    let Some(vault_name) = vault_name_of(&host) else {
        return Err(kv_error(
            StatusCode::NOT_FOUND,
            "VaultNotFound",
            "The vault was not found.",
            None,
        ));
    };
    let tenant = match lock_vaults(state).get(&vault_name) {
        Some(v) => v.tenant.clone(),
        None => {
            return Err(kv_error(
                StatusCode::NOT_FOUND,
                "VaultNotFound",
                &format!(
                    "The vault '{vault_name}' was not found. (Emulated vaults are those of the emulator's data file.)"
                ),
                None,
            ));
        }
    };
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let api_version = query
        .iter()
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.clone());
    let Some(api_version) = api_version else {
        return Err(kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The request URI contains an invalid or missing api-version query parameter.",
            None,
        ));
    };
    if !is_supported_api_version(&api_version) {
        return Err(kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            &format!(
                "The specified version ({api_version}) is not recognized. Consider using the latest supported version (2025-07-01)."
            ),
            None,
        ));
    }
    let caller = Caller::identify(state, req, ResourceKind::KeyVault).map_err(|e| {
        let msg = match e {
            TokenRejection::Missing => {
                return challenge(
                    state,
                    &tenant,
                    StatusCode::UNAUTHORIZED,
                    "AKV10000: Request is missing a Bearer or PoP token.",
                );
            }
            TokenRejection::Audience(a) => format!("AKV10022: Invalid audience. Expected https://vault.azure.net, found: {a}."),
            TokenRejection::Issuer(i) => format!("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant}/, found: {i}."),
            TokenRejection::Expired => "AKV10000: Token is expired.".to_string(),
            other => format!("AKV10000: Request is missing a Bearer or PoP token. ({other})"),
        };
        tracing::info!(reason = %msg, "key vault refused a bearer token");
        challenge(state, &tenant, StatusCode::UNAUTHORIZED, &msg)
    })?;
    let validated = &caller.token;
    if validated.tenant_id != tenant {
        return Err(challenge(
            state,
            &tenant,
            StatusCode::UNAUTHORIZED,
            &format!(
                "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant}/, found: https://sts.windows.net/{}/.",
                validated.tenant_id
            ),
        ));
    }
    let base = format!("https://{}", host.to_ascii_lowercase());
    Ok((
        Ctx {
            vault: vault_name,
            base,
            api_version,
        },
        format!(
            "{}|{}|{}",
            validated.object_id, validated.app_id, validated.tenant_id
        ),
    ))
}

fn forbidden(ctx: &Ctx, principal: &str, perm: &str) -> HttpResponse {
    let mut parts = principal.split('|');
    let (oid, appid, tid) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    kv_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "The user, group or application 'appid={appid};oid={oid};iss=https://sts.windows.net/{tid}/' does not have secrets {perm} permission on key vault '{};location=localhost'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
            ctx.vault
        ),
        Some("AccessDenied"),
    )
}

fn check(state: &State, ctx: &Ctx, principal: &str, perm: &str) -> Result<(), HttpResponse> {
    let oid = principal.split('|').next().unwrap_or_default();
    let allowed = lock_vaults(state)
        .get(&ctx.vault)
        .is_some_and(|v| v.allows(oid, perm));
    if allowed {
        Ok(())
    } else {
        Err(forbidden(ctx, principal, perm))
    }
}

fn not_found(name: &str) -> HttpResponse {
    kv_error(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        &format!(
            "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
        None,
    )
}

fn deleted_not_found(name: &str) -> HttpResponse {
    kv_error(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        &format!("Deleted Secret not found: {name}"),
        None,
    )
}

fn bad_name(name: &str) -> HttpResponse {
    kv_error(
        StatusCode::BAD_REQUEST,
        "BadParameter",
        &format!("The request URI contains an invalid name: {name}"),
        None,
    )
}

fn attributes(v: &SecretVersion) -> Value {
    let mut a = json!({"enabled": v.enabled, "created": v.created, "updated": v.updated, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": RECOVERABLE_DAYS});
    if let Some(n) = v.nbf {
        a["nbf"] = json!(n);
    }
    if let Some(e) = v.exp {
        a["exp"] = json!(e);
    }
    a
}

fn bundle(ctx: &Ctx, s: &Secret, v: &SecretVersion, with_value: bool) -> Value {
    let mut b = json!({"id": format!("{}/secrets/{}/{}", ctx.base, s.name, v.version), "attributes": attributes(v)});
    if with_value {
        b["value"] = json!(v.value);
    }
    if let Some(ct) = &v.content_type {
        b["contentType"] = json!(ct);
    }
    if !v.tags.is_empty() {
        b["tags"] = json!(v.tags);
    }
    b
}

fn item(ctx: &Ctx, s: &Secret, v: &SecretVersion, versioned: bool) -> Value {
    let id = if versioned {
        format!("{}/secrets/{}/{}", ctx.base, s.name, v.version)
    } else {
        format!("{}/secrets/{}", ctx.base, s.name)
    };
    let mut b = json!({"id": id, "attributes": attributes(v)});
    if let Some(ct) = &v.content_type {
        b["contentType"] = json!(ct);
    }
    if !v.tags.is_empty() {
        b["tags"] = json!(v.tags);
    }
    b
}

fn deleted_fields(ctx: &Ctx, d: &DeletedSecret, mut b: Value) -> Value {
    b["recoveryId"] = json!(format!("{}/deletedsecrets/{}", ctx.base, d.secret.name));
    b["deletedDate"] = json!(d.deleted);
    b["scheduledPurgeDate"] = json!(d.deleted + RECOVERABLE_DAYS * 86_400);
    b
}

async fn read_json(mut payload: web::Payload) -> Result<Value, HttpResponse> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            kv_error(
                StatusCode::BAD_REQUEST,
                "BadParameter",
                "The request body could not be read.",
                None,
            )
        })?;
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(kv_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("The request body is larger than the maximum of {MAX_BODY_BYTES} bytes."),
                None,
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    let v: Value = serde_json::from_slice(&buf).map_err(|e| {
        kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            &format!("The request body is not valid JSON: {e}"),
            None,
        )
    })?;
    if !v.is_object() {
        return Err(kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The request body must be a JSON object.",
            None,
        ));
    }
    Ok(v)
}

fn parse_tags(v: &Value) -> Result<Option<BTreeMap<String, String>>, HttpResponse> {
    match v.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())).ok_or(()))
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map(Some)
            .map_err(|()| {
                kv_error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    "Tag values must be strings.",
                    None,
                )
            }),
        Some(_) => Err(kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "Property 'tags' must be an object.",
            None,
        )),
    }
}

fn apply_attributes(v: &mut SecretVersion, body: &Value) -> Result<(), HttpResponse> {
    let Some(a) = body.get("attributes") else {
        return Ok(());
    };
    if a.is_null() {
        return Ok(());
    }
    if !a.is_object() {
        return Err(kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "Property 'attributes' must be an object.",
            None,
        ));
    }
    if let Some(e) = a.get("enabled").and_then(Value::as_bool) {
        v.enabled = e;
    }
    if let Some(n) = a.get("nbf") {
        v.nbf = n.as_i64();
    }
    if let Some(x) = a.get("exp") {
        v.exp = x.as_i64();
    }
    Ok(())
}

macro_rules! admit {
    ($state:expr, $req:expr, $op:expr, $perm:expr) => {{
        let (ctx, principal) = match admit(&$state, &$req, $op) {
            Ok(v) => v,
            Err(r) => return r,
        };
        if let Err(r) = check(&$state, &ctx, &principal, $perm) {
            return r;
        }
        ctx
    }};
}

/// `PUT /secrets/{name}`
pub async fn set_secret(
    state: web::Data<State>,
    req: HttpRequest,
    name: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let ctx = admit!(state, req, "set_secret", "set");
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
    let ctx = admit!(state, req, "get_secret", "get");
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
    let ctx = admit!(state, req, "update_secret", "set");
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

#[derive(Debug, serde::Deserialize)]
struct Paging {
    maxresults: Option<String>,
    #[serde(rename = "$skiptoken")]
    skiptoken: Option<String>,
}

fn paging(req: &HttpRequest) -> Result<(usize, usize), HttpResponse> {
    let p: Paging = serde_urlencoded::from_str(req.query_string()).unwrap_or(Paging {
        maxresults: None,
        skiptoken: None,
    });
    let max = match p.maxresults.as_deref() {
        None => 25,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=25).contains(&n) => n,
            _ => {
                return Err(kv_error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    "maxresults must be an integer between 1 and 25.",
                    None,
                ));
            }
        },
    };
    let skip = match p.skiptoken.as_deref() {
        None => 0,
        Some(t) => {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("skip:").and_then(|n| n.parse().ok()))
                .ok_or_else(|| {
                    kv_error(
                        StatusCode::BAD_REQUEST,
                        "BadParameter",
                        "The $skiptoken is invalid.",
                        None,
                    )
                })?
        }
    };
    Ok((max, skip))
}

fn page_of(ctx: &Ctx, path: &str, items: Vec<Value>, max: usize, skip: usize) -> HttpResponse {
    use base64::Engine as _;
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(skip).take(max).collect();
    let next = (skip + max < total).then(|| {
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("skip:{}", skip + max));
        format!(
            "{}{path}?api-version={}&$skiptoken={token}&maxresults={max}",
            ctx.base, ctx.api_version
        )
    });
    ok_json(json!({"value": page, "nextLink": next}))
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
fn list(
    state: &State,
    req: &HttpRequest,
    operation: &str,
    path: &str,
    items: impl FnOnce(&Ctx, &Vault) -> Vec<Value>,
) -> HttpResponse {
    let ctx = admit!(state, req, operation, "list");
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
    let ctx = admit!(state, req, "list_secret_versions", "list");
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
    let ctx = admit!(state, req, "delete_secret", "delete");
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

/// `GET /deletedsecrets/{name}`
pub async fn get_deleted(
    state: web::Data<State>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    let ctx = admit!(state, req, "get_deleted_secret", "list");
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
    let ctx = admit!(state, req, "recover_deleted_secret", "recover");
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
    let ctx = admit!(state, req, "purge_deleted_secret", "purge");
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

/// Routes of the vault host.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("")
            .guard(actix_web::guard::fn_guard(is_vault_request))
            .route("/secrets", web::get().to(list_secrets))
            .route("/secrets/{name}/versions", web::get().to(list_versions))
            .route("/secrets/{name}", web::put().to(set_secret))
            .route("/secrets/{name}", web::get().to(get_secret_latest))
            .route("/secrets/{name}/", web::get().to(get_secret_latest))
            .route("/secrets/{name}", web::patch().to(update_secret_latest))
            .route("/secrets/{name}/", web::patch().to(update_secret_latest))
            .route("/secrets/{name}", web::delete().to(delete_secret))
            .route("/secrets/{name}/{version}", web::get().to(get_secret))
            .route("/secrets/{name}/{version}", web::patch().to(update_secret))
            .route("/deletedsecrets", web::get().to(list_deleted))
            .route("/deletedsecrets/{name}", web::get().to(get_deleted))
            .route("/deletedsecrets/{name}", web::delete().to(purge))
            .route("/deletedsecrets/{name}/recover", web::post().to(recover))
            .default_service(web::to(unknown)),
    );
}
