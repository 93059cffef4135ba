//! `/v1.0/applications`: list, get, create, update (`requiredResourceAccess`,
//! `web.redirectUris`, `signInAudience`, `keyCredentials`), `addPassword`, `removePassword`.

use super::{
    AUDIENCES, DEFAULT_TOP, MAX_TOP, READ_APPS, TWO_YEARS, iso, read_caller, resource_scopes,
    sha256_hex, write_caller,
};
use crate::graph::query::{Query, page};
use crate::graph::{Caller, GraphError, base, collection_page, finish, read_json};
use crate::model::partner_data::catalog::{
    PermissionKind, permission_id, permission_value, stable_guid,
};
use crate::model::partner_data::{AppMeta, PasswordMeta};
use crate::model::seed::{AppSeed, PermissionSeed};
use crate::model::state::{App, State};
use crate::model::tokens::CertificateCredential;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use rand::RngCore as _;
use serde_json::{Value, json};
use sha2::Digest as _;

// ---------------------------------------------------------------- applications

fn cert_json(pem: &str, meta: &AppMeta) -> Value {
    let parsed = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok();
    let der = parsed
        .as_ref()
        .map(|(_, p)| p.contents.clone())
        .unwrap_or_default();
    let thumb = hex::encode_upper(sha1::Sha1::digest(&der));
    let (start, end, subject) = x509_parser::parse_x509_certificate(&der)
        .map(|(_, c)| {
            (
                c.validity().not_before.timestamp(),
                c.validity().not_after.timestamp(),
                c.subject().to_string(),
            )
        })
        .unwrap_or((0, 0, String::new()));
    json!({
        "customKeyIdentifier": thumb,
        "displayName": meta.key_names.get(&thumb).cloned().unwrap_or(subject),
        "endDateTime": iso(end),
        "key": Value::Null,
        "keyId": stable_guid(&format!("keyCredential|{thumb}")),
        "startDateTime": iso(start),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    })
}

fn password_json(secret: &str, meta: &AppMeta, app_id: &str) -> Value {
    let hash = sha256_hex(secret);
    let m = meta.passwords.iter().find(|p| p.value_sha256 == hash);
    let start = m.map_or(meta.created, |p| p.start);
    json!({
        "customKeyIdentifier": Value::Null,
        "displayName": m.and_then(|p| p.display_name.clone()),
        "endDateTime": iso(m.map_or(start + TWO_YEARS, |p| p.end)),
        "hint": secret.chars().take(3).collect::<String>(),
        "keyId": m.map_or_else(|| stable_guid(&format!("password|{app_id}|{hash}")), |p| p.key_id.clone()),
        "secretText": Value::Null,
        "startDateTime": iso(start),
    })
}

fn required_resource_access(app: &App, meta: &AppMeta) -> Value {
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    let mut push = |resource: &str, id: String, kind: PermissionKind| {
        let entry = json!({"id": id, "type": kind.as_str()});
        match groups
            .iter_mut()
            .find(|(r, _)| r.eq_ignore_ascii_case(resource))
        {
            Some((_, list)) => list.push(entry),
            None => groups.push((resource.to_string(), vec![entry])),
        }
    };
    for p in &app.seed.required_delegated {
        for s in &p.scopes {
            push(
                &p.resource,
                permission_id(&p.resource, PermissionKind::Scope, s),
                PermissionKind::Scope,
            );
        }
    }
    for (r, id) in &meta.unnamed_scopes {
        push(r, id.clone(), PermissionKind::Scope);
    }
    for (r, id) in &meta.required_roles {
        push(r, id.clone(), PermissionKind::Role);
    }
    Value::Array(
        groups
            .into_iter()
            .map(|(r, list)| json!({"resourceAppId": r, "resourceAccess": list}))
            .collect(),
    )
}

fn application_json(state: &State, app: &App, meta: &AppMeta) -> Value {
    let dir = state.directory();
    let domain = dir
        .tenant(&app.seed.tenant)
        .map(|t| t.domain.clone())
        .unwrap_or_default();
    drop(dir);
    let audience = meta.sign_in_audience.clone().unwrap_or_else(|| {
        if app.seed.multitenant {
            "AzureADMultipleOrgs".into()
        } else {
            "AzureADMyOrg".into()
        }
    });
    json!({
        "@odata.context": format!("{}/$metadata#applications/$entity", base(state)),
        "id": meta.object_id,
        "appId": app.seed.app_id,
        "displayName": app.seed.display_name,
        "createdDateTime": iso(meta.created),
        "publisherDomain": domain,
        "signInAudience": audience,
        "isFallbackPublicClient": app.seed.public_client,
        "identifierUris": [],
        "tags": [],
        "web": {"redirectUris": app.seed.redirect_uris, "homePageUrl": Value::Null, "logoutUrl": Value::Null,
                "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}},
        "publicClient": {"redirectUris": []},
        "spa": {"redirectUris": app.seed.spa_redirect_uris},
        "requiredResourceAccess": required_resource_access(app, meta),
        "passwordCredentials": app.seed.secrets.iter().map(|s| password_json(s, meta, &app.seed.app_id)).collect::<Vec<_>>(),
        "keyCredentials": app.seed.certificates.iter().map(|p| cert_json(p, meta)).collect::<Vec<_>>(),
    })
}

/// Find an app registration of the caller's tenant by object ID (or app ID).
fn find_app(state: &State, caller: &Caller, id: &str) -> Result<(App, AppMeta), GraphError> {
    let apps: Vec<App> = state
        .directory()
        .apps
        .iter()
        .filter(|a| a.seed.tenant.eq_ignore_ascii_case(caller.tenant()))
        .cloned()
        .collect();
    let mut data = state.partner.lock();
    for app in apps {
        let meta = data.app_meta(&app.seed.app_id).clone();
        if meta.object_id.eq_ignore_ascii_case(id) || app.seed.app_id.eq_ignore_ascii_case(id) {
            return Ok((app, meta));
        }
    }
    Err(GraphError::not_found(id))
}

/// `GET /v1.0/applications`
pub async fn list_applications(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("graph.applications.list");
    let result = (|| {
        let caller = read_caller(&state, &req, READ_APPS)?;
        let q = Query::parse(
            &req,
            MAX_TOP,
            &["appId", "displayName", "id"],
            "application",
        )?;
        let apps: Vec<App> = state
            .directory()
            .apps
            .iter()
            .filter(|a| a.seed.tenant.eq_ignore_ascii_case(caller.tenant()))
            .cloned()
            .collect();
        let metas: Vec<AppMeta> = {
            let mut data = state.partner.lock();
            apps.iter()
                .map(|a| data.app_meta(&a.seed.app_id).clone())
                .collect()
        };
        let matching = apps.iter().zip(metas.iter()).filter(|(a, m)| {
            q.matches(|p| match p.to_ascii_lowercase().as_str() {
                "appid" => Some(a.seed.app_id.as_str()),
                "displayname" => Some(a.seed.display_name.as_str()),
                "id" => Some(m.object_id.as_str()),
                _ => None,
            })
        });
        let (items, next) = page(matching, q.offset, q.top.unwrap_or(DEFAULT_TOP));
        let mut value = Vec::new();
        for (a, m) in items {
            let mut v = application_json(&state, a, m);
            if let Value::Object(o) = &mut v {
                o.remove("@odata.context");
            }
            value.push(v);
        }
        Ok(collection_page(
            format!("{}/$metadata#applications", base(&state)),
            &format!("{}/applications", base(&state)),
            &q,
            value,
            next,
        ))
    })();
    finish(&req, result)
}

/// `GET /v1.0/applications/{id}`
pub async fn get_application(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    state.count("graph.applications.get");
    let result = (|| {
        let caller = read_caller(&state, &req, READ_APPS)?;
        let (app, meta) = find_app(&state, &caller, &id)?;
        Ok(HttpResponse::Ok().json(application_json(&state, &app, &meta)))
    })();
    finish(&req, result)
}

/// Changes an application body asks for, validated before anything is applied.
#[derive(Default)]
struct AppChanges {
    display_name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    spa_redirect_uris: Option<Vec<String>>,
    audience: Option<String>,
    fallback_public: Option<bool>,
    delegated: Option<Vec<PermissionSeed>>,
    unnamed_scopes: Option<Vec<(String, String)>>,
    roles: Option<Vec<(String, String)>>,
    certificates: Option<Vec<(String, CertificateCredential, Option<String>)>>,
}

fn parse_changes(state: &State, body: &Value) -> Result<AppChanges, GraphError> {
    let obj = body
        .as_object()
        .ok_or_else(|| GraphError::bad_request("The request body must be a JSON object."))?;
    let mut c = AppChanges::default();
    for (k, v) in obj {
        match k.as_str() {
            "displayName" => {
                let n = v
                    .as_str()
                    .filter(|s| !s.trim().is_empty() && s.chars().count() <= 256)
                    .ok_or_else(|| {
                        GraphError::bad_request(
                            "displayName must be a non-empty string of at most 256 characters.",
                        )
                    })?;
                c.display_name = Some(n.to_string());
            }
            "signInAudience" => {
                let a = v.as_str().and_then(|s| AUDIENCES.iter().find(|x| x.eq_ignore_ascii_case(s))).ok_or_else(|| {
                    GraphError::bad_request(format!("Invalid value specified for property 'signInAudience' of resource 'Application'. Use one of: {}.", AUDIENCES.join(", ")))
                })?;
                c.audience = Some((*a).to_string());
            }
            "isFallbackPublicClient" => {
                c.fallback_public = Some(v.as_bool().ok_or_else(|| {
                    GraphError::bad_request("isFallbackPublicClient must be a boolean.")
                })?)
            }
            "web" => c.redirect_uris = Some(parse_redirect_uris(v, "web")?),
            "spa" => c.spa_redirect_uris = Some(parse_redirect_uris(v, "spa")?),
            "requiredResourceAccess" => {
                let (delegated, unnamed, roles) = parse_required_resource_access(state, v)?;
                c.delegated = Some(delegated);
                c.unnamed_scopes = Some(unnamed);
                c.roles = Some(roles);
            }
            "keyCredentials" => c.certificates = Some(parse_key_credentials(v)?),
            "id" | "appId" | "@odata.type" => {
                return Err(GraphError::bad_request(format!(
                    "Property '{k}' is read-only and cannot be set."
                )));
            }
            other => {
                return Err(GraphError::bad_request(format!(
                    "Invalid property '{other}'. The emulator's application supports displayName, signInAudience, isFallbackPublicClient, web, spa, requiredResourceAccess and keyCredentials."
                )));
            }
        }
    }
    Ok(c)
}

/// `web` or `spa` (`platform`): its `redirectUris`, each absolute and https (http only for
/// localhost), at most 256.
fn parse_redirect_uris(v: &Value, platform: &str) -> Result<Vec<String>, GraphError> {
    let not_strings = || {
        GraphError::bad_request(format!(
            "{platform}.redirectUris must be an array of strings."
        ))
    };
    let uris = v
        .get("redirectUris")
        .and_then(Value::as_array)
        .ok_or_else(not_strings)?;
    let mut out = Vec::new();
    for u in uris {
        let s = u.as_str().ok_or_else(not_strings)?;
        let parsed = url::Url::parse(s).map_err(|_| GraphError::bad_request(format!("Invalid value specified for property 'redirectUris' of resource 'Application': '{s}' is not an absolute URI.")))?;
        let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1"));
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && local) {
            return Err(GraphError::bad_request(format!(
                "Invalid value specified for property 'redirectUris' of resource 'Application': '{s}' must use https (http is allowed only for localhost)."
            )));
        }
        out.push(s.to_string());
    }
    if out.len() > 256 {
        return Err(GraphError::bad_request(
            "An application can have at most 256 redirect URIs.",
        ));
    }
    Ok(out)
}

/// Permissions `requiredResourceAccess` asks for: delegated scopes by name, delegated scope IDs
/// the resource does not name, and application roles (resource app ID, role ID).
type RequiredAccess = (
    Vec<PermissionSeed>,
    Vec<(String, String)>,
    Vec<(String, String)>,
);

/// `requiredResourceAccess`, split into the three kinds of [`RequiredAccess`].
fn parse_required_resource_access(state: &State, v: &Value) -> Result<RequiredAccess, GraphError> {
    let list = v
        .as_array()
        .ok_or_else(|| GraphError::bad_request("requiredResourceAccess must be an array."))?;
    let (mut delegated, mut unnamed, mut roles) =
        (Vec::<PermissionSeed>::new(), Vec::new(), Vec::new());
    for entry in list {
        let resource = entry
            .get("resourceAppId")
            .and_then(Value::as_str)
            .filter(|r| uuid::Uuid::parse_str(r).is_ok())
            .ok_or_else(|| {
                GraphError::bad_request(
                    "Each requiredResourceAccess entry needs a resourceAppId (GUID).",
                )
            })?
            .to_ascii_lowercase();
        let access = entry
            .get("resourceAccess")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                GraphError::bad_request(
                    "Each requiredResourceAccess entry needs a resourceAccess array.",
                )
            })?;
        let scopes = resource_scopes(state, &resource);
        for a in access {
            let id = a
                .get("id")
                .and_then(Value::as_str)
                .filter(|r| uuid::Uuid::parse_str(r).is_ok())
                .ok_or_else(|| {
                    GraphError::bad_request("Each resourceAccess entry needs an id (GUID).")
                })?
                .to_ascii_lowercase();
            match a.get("type").and_then(Value::as_str) {
                Some("Scope") => {
                    match permission_value(&resource, PermissionKind::Scope, &id, &scopes) {
                        Some(value) => {
                            match delegated.iter_mut().find(|p| p.resource == resource) {
                                Some(p) => p.scopes.push(value),
                                None => delegated.push(PermissionSeed {
                                    resource: resource.clone(),
                                    scopes: vec![value],
                                }),
                            }
                        }
                        None => unnamed.push((resource.clone(), id)),
                    }
                }
                Some("Role") => roles.push((resource.clone(), id)),
                _ => {
                    return Err(GraphError::bad_request(
                        "resourceAccess type must be 'Scope' or 'Role'.",
                    ));
                }
            }
        }
    }
    Ok((delegated, unnamed, roles))
}

/// `keyCredentials`: X.509 certificates as PEM, their parsed credential and display name.
fn parse_key_credentials(
    v: &Value,
) -> Result<Vec<(String, CertificateCredential, Option<String>)>, GraphError> {
    let list = v
        .as_array()
        .ok_or_else(|| GraphError::bad_request("keyCredentials must be an array."))?;
    let mut certs = Vec::new();
    for k in list {
        if k.get("type").and_then(Value::as_str) != Some("AsymmetricX509Cert")
            || k.get("usage").and_then(Value::as_str) != Some("Verify")
        {
            return Err(GraphError::bad_request(
                "keyCredentials entries must have type 'AsymmetricX509Cert' and usage 'Verify'.",
            ));
        }
        let der = k
            .get("key")
            .and_then(Value::as_str)
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .ok_or_else(|| {
                GraphError::bad_request(
                    "keyCredentials.key must be the base64 DER of an X.509 certificate.",
                )
            })?;
        let cred = CertificateCredential::from_der(&der).map_err(|_| {
            GraphError::bad_request(
                "Key credential is not a valid X.509 certificate with an RSA public key.",
            )
        })?;
        let body = base64::engine::general_purpose::STANDARD.encode(&der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        );
        certs.push((
            pem,
            cred,
            k.get("displayName")
                .and_then(Value::as_str)
                .map(str::to_string),
        ));
    }
    Ok(certs)
}

fn apply_changes(state: &State, app_id: &str, c: AppChanges) {
    let mut data = state.partner.lock();
    let meta = data.app_meta(app_id);
    if let Some(a) = &c.audience {
        meta.sign_in_audience = Some(a.clone());
    }
    if let Some(u) = c.unnamed_scopes {
        meta.unnamed_scopes = u;
    }
    if let Some(r) = c.roles {
        meta.required_roles = r;
    }
    if let Some(certs) = &c.certificates {
        meta.key_names = certs
            .iter()
            .filter_map(|(_, cred, n)| n.clone().map(|n| (cred.thumbprint_hex.clone(), n)))
            .collect();
    }
    let mut dir = state.directory_mut();
    let Some(app) = dir
        .apps
        .iter_mut()
        .find(|a| a.seed.app_id.eq_ignore_ascii_case(app_id))
    else {
        return;
    };
    if let Some(n) = c.display_name {
        app.seed.display_name = n;
    }
    if let Some(u) = c.redirect_uris {
        app.seed.redirect_uris = u;
    }
    if let Some(u) = c.spa_redirect_uris {
        app.seed.spa_redirect_uris = u;
    }
    if let Some(a) = c.audience {
        app.seed.multitenant = a != "AzureADMyOrg";
    }
    if let Some(f) = c.fallback_public {
        app.seed.public_client = f;
    }
    if let Some(d) = c.delegated {
        app.seed.required_delegated = d;
    }
    if let Some(certs) = c.certificates {
        app.seed.certificates = certs.iter().map(|(p, _, _)| p.clone()).collect();
        app.certificates = certs.into_iter().map(|(_, c, _)| c).collect();
    }
}

/// `POST /v1.0/applications`
pub async fn create_application(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    state.count("graph.applications.create");
    let result = async {
        let caller = write_caller(&state, &req)?;
        let body = read_json(body).await?;
        let changes = parse_changes(&state, &body)?;
        let display_name = changes
            .display_name
            .clone()
            .ok_or_else(|| GraphError::bad_request("The displayName property is required."))?;
        let app_id = uuid::Uuid::new_v4().to_string();
        let seed = AppSeed {
            app_id: app_id.clone(),
            display_name,
            publisher: state
                .directory()
                .tenant(caller.tenant())
                .map(|t| t.display_name.clone()),
            tenant: caller.tenant().to_string(),
            multitenant: false,
            public_client: false,
            redirect_uris: Vec::new(),
            spa_redirect_uris: Vec::new(),
            secrets: Vec::new(),
            certificates: Vec::new(),
            required_delegated: Vec::new(),
        };
        state
            .add_app(seed)
            .map_err(|e| GraphError::bad_request(e.to_string()))?;
        state.partner.lock().app_meta(&app_id).created = state.now();
        apply_changes(&state, &app_id, changes);
        let (app, meta) = find_app(&state, &caller, &app_id)?;
        let location = format!("{}/applications/{}", base(&state), meta.object_id);
        Ok(HttpResponse::Created()
            .insert_header(("location", location))
            .json(application_json(&state, &app, &meta)))
    }
    .await;
    finish(&req, result)
}

/// `PATCH /v1.0/applications/{id}` → 204.
pub async fn update_application(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    state.count("graph.applications.update");
    let result = async {
        let caller = write_caller(&state, &req)?;
        let (app, _) = find_app(&state, &caller, &id)?;
        let body = read_json(body).await?;
        let changes = parse_changes(&state, &body)?;
        apply_changes(&state, &app.seed.app_id, changes);
        Ok(HttpResponse::NoContent().finish())
    }
    .await;
    finish(&req, result)
}

fn new_secret() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    let mut bytes = [0u8; 37];
    rand::rng().fill_bytes(&mut bytes);
    let body: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    // Entra secrets carry `~` as their fourth character.
    format!("{}~{}", &body[..3], &body[3..])
}

/// `POST /v1.0/applications/{id}/addPassword` → the new password credential with
/// `secretText` (shown only here, as in Entra).
pub async fn add_password(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    state.count("graph.applications.addPassword");
    let result = async {
        let caller = write_caller(&state, &req)?;
        let (app, _) = find_app(&state, &caller, &id)?;
        let body = read_json(body).await.or_else(|e| if e.code == "BadRequest" { Ok(json!({})) } else { Err(e) })?;
        let cred = body.get("passwordCredential").cloned().unwrap_or_else(|| json!({}));
        let now = state.now();
        let end = match cred.get("endDateTime").and_then(Value::as_str) {
            Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|d| d.unix_timestamp())
                .map_err(|_| GraphError::bad_request(format!("Invalid value '{s}' for endDateTime: use an ISO 8601 date-time.")))?,
            None => now + TWO_YEARS,
        };
        if end <= now {
            return Err(GraphError::bad_request("The password credential's endDateTime must be in the future."));
        }
        let secret = new_secret();
        let meta = PasswordMeta {
            key_id: uuid::Uuid::new_v4().to_string(),
            display_name: cred.get("displayName").and_then(Value::as_str).map(str::to_string),
            start: now,
            end,
            value_sha256: sha256_hex(&secret),
        };
        state.partner.lock().app_meta(&app.seed.app_id).passwords.push(meta.clone());
        if let Some(a) = state.directory_mut().apps.iter_mut().find(|a| a.seed.app_id == app.seed.app_id) {
            a.seed.secrets.push(secret.clone());
        }
        Ok(HttpResponse::Ok().json(json!({
            "@odata.context": format!("{}/$metadata#microsoft.graph.passwordCredential", base(&state)),
            "customKeyIdentifier": Value::Null,
            "displayName": meta.display_name,
            "endDateTime": iso(end),
            "hint": secret.chars().take(3).collect::<String>(),
            "keyId": meta.key_id,
            "secretText": secret,
            "startDateTime": iso(now),
        })))
    }
    .await;
    finish(&req, result)
}

/// `POST /v1.0/applications/{id}/removePassword` `{"keyId": …}` → 204.
pub async fn remove_password(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let result = async {
        let caller = write_caller(&state, &req)?;
        let (app, meta) = find_app(&state, &caller, &id)?;
        let body = read_json(body).await?;
        let key_id = body
            .get("keyId")
            .and_then(Value::as_str)
            .ok_or_else(|| GraphError::bad_request("The keyId property is required."))?;
        let target = app
            .seed
            .secrets
            .iter()
            .find(|s| {
                password_json(s, &meta, &app.seed.app_id)["keyId"]
                    .as_str()
                    .is_some_and(|k| k.eq_ignore_ascii_case(key_id))
            })
            .cloned();
        let Some(secret) = target else {
            return Err(GraphError::bad_request(format!(
                "No password credential with keyId '{key_id}' exists on the application."
            )));
        };
        if let Some(a) = state
            .directory_mut()
            .apps
            .iter_mut()
            .find(|a| a.seed.app_id == app.seed.app_id)
        {
            a.seed.secrets.retain(|s| *s != secret);
        }
        Ok(HttpResponse::NoContent().finish())
    }
    .await;
    finish(&req, result)
}
