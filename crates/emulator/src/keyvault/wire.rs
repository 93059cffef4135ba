//! Key Vault's wire format: error and success bodies with the service's headers, secret
//! bundles and list items, request bodies (tags, attributes) and paging (`maxresults`,
//! `$skiptoken`).

use crate::model::state::State;
use crate::model::vault::{DeletedSecret, Secret, SecretVersion, Vault};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Largest secret value (25 KB, "maximum size of 25k bytes", about-secrets.md).
pub const MAX_VALUE_BYTES: usize = 25 * 1024;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const RECOVERABLE_DAYS: i64 = 90;

/// The emulator's vaults, locked; a poisoned lock still yields the data.
pub(crate) fn lock_vaults(state: &State) -> std::sync::MutexGuard<'_, BTreeMap<String, Vault>> {
    state
        .vaults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Secret names: 1–127 characters of `0-9a-zA-Z-`.
pub(crate) fn is_valid_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub(crate) fn kv_error(
    status: StatusCode,
    code: &str,
    message: &str,
    inner: Option<&str>,
) -> HttpResponse {
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

pub(crate) fn ok_json(v: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-ms-keyvault-service-version", "1.9.0.0"))
        .insert_header(("x-ms-keyvault-region", "localhost"))
        .insert_header(("x-ms-request-id", uuid::Uuid::new_v4().to_string()))
        .content_type("application/json; charset=utf-8")
        .body(v.to_string())
}

pub(crate) struct Ctx {
    pub(crate) vault: String,
    pub(crate) base: String,
    pub(crate) api_version: String,
}

pub(crate) fn not_found(name: &str) -> HttpResponse {
    kv_error(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        &format!(
            "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
        None,
    )
}

pub(crate) fn deleted_not_found(name: &str) -> HttpResponse {
    kv_error(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        &format!("Deleted Secret not found: {name}"),
        None,
    )
}

pub(crate) fn bad_name(name: &str) -> HttpResponse {
    kv_error(
        StatusCode::BAD_REQUEST,
        "BadParameter",
        &format!("The request URI contains an invalid name: {name}"),
        None,
    )
}

pub(crate) fn attributes(v: &SecretVersion) -> Value {
    let mut a = json!({"enabled": v.enabled, "created": v.created, "updated": v.updated, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": RECOVERABLE_DAYS});
    if let Some(n) = v.nbf {
        a["nbf"] = json!(n);
    }
    if let Some(e) = v.exp {
        a["exp"] = json!(e);
    }
    a
}

pub(crate) fn bundle(ctx: &Ctx, s: &Secret, v: &SecretVersion, with_value: bool) -> Value {
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

pub(crate) fn item(ctx: &Ctx, s: &Secret, v: &SecretVersion, versioned: bool) -> Value {
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

pub(crate) fn deleted_fields(ctx: &Ctx, d: &DeletedSecret, mut b: Value) -> Value {
    b["recoveryId"] = json!(format!("{}/deletedsecrets/{}", ctx.base, d.secret.name));
    b["deletedDate"] = json!(d.deleted);
    b["scheduledPurgeDate"] = json!(d.deleted + RECOVERABLE_DAYS * 86_400);
    b
}

pub(crate) async fn read_json(mut payload: web::Payload) -> Result<Value, HttpResponse> {
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

pub(crate) fn parse_tags(v: &Value) -> Result<Option<BTreeMap<String, String>>, HttpResponse> {
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

pub(crate) fn apply_attributes(v: &mut SecretVersion, body: &Value) -> Result<(), HttpResponse> {
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

#[derive(Debug, serde::Deserialize)]
pub(crate) struct Paging {
    maxresults: Option<String>,
    #[serde(rename = "$skiptoken")]
    skiptoken: Option<String>,
}

pub(crate) fn paging(req: &HttpRequest) -> Result<(usize, usize), HttpResponse> {
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

pub(crate) fn page_of(
    ctx: &Ctx,
    path: &str,
    items: Vec<Value>,
    max: usize,
    skip: usize,
) -> HttpResponse {
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
