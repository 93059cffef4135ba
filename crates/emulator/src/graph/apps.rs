//! App setup through Graph: `/v1.0/applications` (create, get, update `requiredResourceAccess`,
//! `web.redirectUris`, `signInAudience`, `keyCredentials`; `addPassword`, `removePassword`),
//! `/v1.0/servicePrincipals` (list with `$filter=appId eq '…'`, get, create — as
//! `New-MgServicePrincipal` does for the Partner Center app), `appRoleAssignments`, and
//! `/v1.0/oauth2PermissionGrants`. All backed by the app registrations, service principals and
//! consents Entra ID itself uses ([`crate::model::state::Directory`]), so an app created here can
//! sign users in, and grants read here are the ones tokens carry.

use super::query::{Query, page};
use super::{
    Caller, GraphError, authenticate, base, collection_page, finish, read_json, require_app_admin,
    require_foreign_access,
};
use crate::model::partner_data::catalog::{
    self, PermissionKind, first_party_name, permission_id, permission_value, stable_guid,
};
use crate::model::partner_data::{AppMeta, PasswordMeta};
use crate::model::seed::{AppSeed, PermissionSeed, ServicePrincipalSeed};
use crate::model::state::{App, Directory, State};
use crate::model::tokens::CertificateCredential;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use rand::RngCore as _;
use serde_json::{Value, json};
use sha2::Digest as _;

const READ_APPS: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_APPS: &[&str] = &["Application.ReadWrite.All", "Directory.ReadWrite.All"];
const READ_GRANTS: &[&str] = &[
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "DelegatedPermissionGrant.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All",
];
const MAX_TOP: usize = 999;
const DEFAULT_TOP: usize = 100;
const TWO_YEARS: i64 = 2 * 365 * 86_400;
const AUDIENCES: &[&str] = &[
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

fn iso(t: i64) -> String {
    crate::model::partner_data::gdap::iso(t)
}

fn read_caller(state: &State, req: &HttpRequest, wanted: &[&str]) -> Result<Caller, GraphError> {
    let caller = authenticate(state, req)?;
    caller.require(wanted, wanted)?;
    require_foreign_access(state, &caller)?;
    Ok(caller)
}

fn write_caller(state: &State, req: &HttpRequest) -> Result<Caller, GraphError> {
    let caller = read_caller(state, req, WRITE_APPS)?;
    require_app_admin(state, &caller)?;
    Ok(caller)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Object ID of the service principal of `app_id` in `tenant`: the stored one, or the stable
/// ID of the first-party one every tenant has (Microsoft Graph).
pub fn sp_object_id(dir: &Directory, tenant: &str, app_id: &str) -> String {
    dir.service_principal(tenant, app_id)
        .map(|s| s.object_id.clone())
        .unwrap_or_else(|| {
            stable_guid(&format!(
                "servicePrincipal|{}|{}",
                tenant.to_ascii_lowercase(),
                app_id.to_ascii_lowercase()
            ))
        })
}

fn resource_scopes(state: &State, resource_app_id: &str) -> Vec<&'static str> {
    state
        .resources()
        .iter()
        .find(|r| r.app_id.eq_ignore_ascii_case(resource_app_id))
        .map(|r| r.scopes.iter().map(|s| s.value).collect())
        .unwrap_or_default()
}

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
        "spa": {"redirectUris": []},
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
            "web" => c.redirect_uris = Some(parse_web(v)?),
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
                    "Invalid property '{other}'. The emulator's application supports displayName, signInAudience, isFallbackPublicClient, web, requiredResourceAccess and keyCredentials."
                )));
            }
        }
    }
    Ok(c)
}

/// `web`: its `redirectUris`, each absolute and https (http only for localhost), at most 256.
fn parse_web(v: &Value) -> Result<Vec<String>, GraphError> {
    let uris = v
        .get("redirectUris")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::bad_request("web.redirectUris must be an array of strings."))?;
    let mut out = Vec::new();
    for u in uris {
        let s = u.as_str().ok_or_else(|| {
            GraphError::bad_request("web.redirectUris must be an array of strings.")
        })?;
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

// ---------------------------------------------------------------- service principals

fn sp_json(state: &State, dir: &Directory, tenant: &str, app_id: &str, object_id: &str) -> Value {
    let app = dir.app(app_id);
    let display = app
        .map(|a| a.seed.display_name.clone())
        .or_else(|| first_party_name(app_id).map(str::to_string))
        .unwrap_or_default();
    let owner = app.map_or(catalog::MICROSOFT_SERVICES_TENANT.to_string(), |a| {
        a.seed.tenant.clone()
    });
    let audience = app.map_or("AzureADMultipleOrgs", |a| {
        if a.seed.multitenant {
            "AzureADMultipleOrgs"
        } else {
            "AzureADMyOrg"
        }
    });
    let resource = state
        .resources()
        .iter()
        .find(|r| r.app_id.eq_ignore_ascii_case(app_id));
    let scopes: Vec<Value> = resource
        .map(|r| {
            r.scopes
                .iter()
                .map(|s| {
                    json!({"id": permission_id(r.app_id, PermissionKind::Scope, s.value), "value": s.value, "type": if s.admin_consent_required { "Admin" } else { "User" },
                           "adminConsentDisplayName": s.description, "adminConsentDescription": s.description, "userConsentDisplayName": s.description,
                           "userConsentDescription": s.description, "isEnabled": true})
                })
                .collect()
        })
        .unwrap_or_default();
    let roles: Vec<Value> = catalog::app_roles(app_id)
        .iter()
        .map(|v| json!({"id": permission_id(app_id, PermissionKind::Role, v), "value": v, "displayName": v, "description": v, "allowedMemberTypes": ["Application"], "isEnabled": true, "origin": "Application"}))
        .collect();
    let _ = tenant;
    json!({
        "id": object_id,
        "appId": app_id,
        "displayName": display,
        "appDisplayName": display,
        "servicePrincipalType": "Application",
        "accountEnabled": true,
        "appOwnerOrganizationId": owner,
        "appRoleAssignmentRequired": false,
        "servicePrincipalNames": [app_id],
        "signInAudience": audience,
        "tags": [],
        "appRoles": roles,
        "oauth2PermissionScopes": scopes,
    })
}

/// Service principals of a tenant: the stored ones, plus Microsoft Graph's, which every
/// tenant has. (tenant, app ID, object ID).
fn tenant_sps(dir: &Directory, tenant: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = dir
        .service_principals
        .iter()
        .filter(|s| s.tenant.eq_ignore_ascii_case(tenant))
        .map(|s| (s.app_id.clone(), s.object_id.clone()))
        .collect();
    if !out
        .iter()
        .any(|(a, _)| a.eq_ignore_ascii_case(crate::model::resources::GRAPH_APP_ID))
    {
        out.insert(
            0,
            (
                crate::model::resources::GRAPH_APP_ID.to_string(),
                sp_object_id(dir, tenant, crate::model::resources::GRAPH_APP_ID),
            ),
        );
    }
    out
}

/// `GET /v1.0/servicePrincipals`
pub async fn list_service_principals(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("graph.servicePrincipals.list");
    let result = (|| {
        let caller = read_caller(&state, &req, READ_APPS)?;
        let q = Query::parse(
            &req,
            MAX_TOP,
            &["appId", "displayName", "id"],
            "servicePrincipal",
        )?;
        let dir = state.directory();
        let all: Vec<Value> = tenant_sps(&dir, caller.tenant())
            .iter()
            .map(|(a, o)| sp_json(&state, &dir, caller.tenant(), a, o))
            .collect();
        drop(dir);
        let matching = all
            .into_iter()
            .filter(|v| q.matches(|p| v.get(p).and_then(Value::as_str)));
        let (items, next) = page(matching, q.offset, q.top.unwrap_or(DEFAULT_TOP));
        Ok(collection_page(
            format!("{}/$metadata#servicePrincipals", base(&state)),
            &format!("{}/servicePrincipals", base(&state)),
            &q,
            items,
            next,
        ))
    })();
    finish(&req, result)
}

fn find_sp(dir: &Directory, tenant: &str, id: &str) -> Option<(String, String)> {
    tenant_sps(dir, tenant)
        .into_iter()
        .find(|(_, o)| o.eq_ignore_ascii_case(id))
}

/// `GET /v1.0/servicePrincipals/{id}`
pub async fn get_service_principal(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let result = (|| {
        let caller = read_caller(&state, &req, READ_APPS)?;
        let dir = state.directory();
        let (app_id, object_id) =
            find_sp(&dir, caller.tenant(), &id).ok_or_else(|| GraphError::not_found(&id))?;
        let mut v = sp_json(&state, &dir, caller.tenant(), &app_id, &object_id);
        if let Value::Object(m) = &mut v {
            m.insert(
                "@odata.context".into(),
                json!(format!(
                    "{}/$metadata#servicePrincipals/$entity",
                    base(&state)
                )),
            );
        }
        Ok(HttpResponse::Ok().json(v))
    })();
    finish(&req, result)
}

/// `POST /v1.0/servicePrincipals` `{"appId": …}` → 201.
pub async fn create_service_principal(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    state.count("graph.servicePrincipals.create");
    let result = async {
        let caller = write_caller(&state, &req)?;
        let body = read_json(body).await?;
        let app_id = body.get("appId").and_then(Value::as_str).ok_or_else(|| GraphError::bad_request("The appId property is required."))?.to_ascii_lowercase();
        let tenant = caller.tenant().to_string();
        let mut dir = state.directory_mut();
        let known = match dir.app(&app_id) {
            Some(a) => a.seed.multitenant || a.seed.tenant.eq_ignore_ascii_case(&tenant),
            None => first_party_name(&app_id).is_some(),
        };
        if !known {
            return Err(GraphError::bad_request(format!("The appId '{app_id}' of the service principal does not reference a valid application object.")));
        }
        let exists = dir.service_principal(&tenant, &app_id).is_some() || app_id == crate::model::resources::GRAPH_APP_ID;
        if exists {
            return Err(GraphError::new(
                StatusCode::CONFLICT,
                "Request_MultipleObjectsWithSameKeyValue",
                "Another object with the same value for property servicePrincipalNames already exists.",
            ));
        }
        let canonical = dir.app(&app_id).map_or(app_id.clone(), |a| a.seed.app_id.clone());
        let object_id = uuid::Uuid::new_v4().to_string();
        dir.service_principals.push(ServicePrincipalSeed { tenant: tenant.clone(), app_id: canonical.clone(), object_id: object_id.clone(), app_roles: Vec::new() });
        let mut v = sp_json(&state, &dir, &tenant, &canonical, &object_id);
        if let Value::Object(m) = &mut v {
            m.insert("@odata.context".into(), json!(format!("{}/$metadata#servicePrincipals/$entity", base(&state))));
        }
        let location = format!("{}/servicePrincipals/{object_id}", base(&state));
        Ok(HttpResponse::Created().insert_header(("location", location)).json(v))
    }
    .await;
    finish(&req, result)
}

/// `GET /v1.0/servicePrincipals/{id}/appRoleAssignments`: the application permissions granted
/// to the service principal (what the `roles` claim of its app-only tokens carries).
pub async fn list_app_role_assignments(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    state.count("graph.servicePrincipals.appRoleAssignments");
    let result = (|| {
        let caller = read_caller(&state, &req, READ_APPS)?;
        let dir = state.directory();
        let tenant = caller.tenant();
        let (app_id, object_id) =
            find_sp(&dir, tenant, &id).ok_or_else(|| GraphError::not_found(&id))?;
        let principal_name = app_name(&dir, &app_id);
        let mut value = Vec::new();
        if let Some(sp) = dir.service_principal(tenant, &app_id) {
            for p in &sp.app_roles {
                for role in &p.scopes {
                    value.push(assignment_json(
                        &dir,
                        tenant,
                        (&principal_name, &object_id),
                        &p.resource,
                        role,
                    ));
                }
            }
        }
        Ok(HttpResponse::Ok().json(json!({"@odata.context": format!("{}/$metadata#servicePrincipals('{object_id}')/appRoleAssignments", base(&state)), "value": value})))
    })();
    finish(&req, result)
}

fn grants_json(dir: &Directory, tenant: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for c in dir
        .consents
        .iter()
        .filter(|c| c.tenant.eq_ignore_ascii_case(tenant))
    {
        let client = sp_object_id(dir, tenant, &c.app_id);
        for (resource, scopes) in &c.scopes {
            if scopes.is_empty() {
                continue;
            }
            let resource_id = sp_object_id(dir, tenant, resource);
            let id = crate::model::tokens::b64url(
                &sha2::Sha256::digest(
                    format!("{client}|{resource_id}|{}", c.user.as_deref().unwrap_or(""))
                        .as_bytes(),
                )[..32],
            );
            out.push(json!({
                "id": id,
                "clientId": client,
                "consentType": if c.user.is_some() { "Principal" } else { "AllPrincipals" },
                "principalId": c.user,
                "resourceId": resource_id,
                "scope": scopes.iter().cloned().collect::<Vec<_>>().join(" "),
            }));
        }
    }
    out
}

fn grants_response(
    state: &State,
    req: &HttpRequest,
    only_client: Option<&str>,
) -> super::GraphResult {
    let caller = read_caller(state, req, READ_GRANTS)?;
    let q = Query::parse(
        req,
        MAX_TOP,
        &["clientId", "resourceId", "consentType", "principalId", "id"],
        "oAuth2PermissionGrant",
    )?;
    let dir = state.directory();
    if let Some(sp) = only_client {
        find_sp(&dir, caller.tenant(), sp).ok_or_else(|| GraphError::not_found(sp))?;
    }
    let all = grants_json(&dir, caller.tenant());
    drop(dir);
    let matching = all
        .into_iter()
        .filter(|g| {
            only_client.is_none_or(|c| {
                g["clientId"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(c))
            })
        })
        .filter(|g| q.matches(|p| g.get(p).and_then(Value::as_str)));
    let (items, next) = page(matching, q.offset, q.top.unwrap_or(DEFAULT_TOP));
    Ok(collection_page(
        format!("{}/$metadata#oauth2PermissionGrants", base(state)),
        &format!("{}/oauth2PermissionGrants", base(state)),
        &q,
        items,
        next,
    ))
}

/// `GET /v1.0/oauth2PermissionGrants[?$filter=clientId eq '…']`: delegated permission grants
/// (admin consent = `AllPrincipals`, user consent = `Principal`).
pub async fn list_grants(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("graph.oauth2PermissionGrants.list");
    let result = grants_response(&state, &req, None);
    finish(&req, result)
}

/// `GET /v1.0/servicePrincipals/{id}/oauth2PermissionGrants`
pub async fn list_sp_grants(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let result = grants_response(&state, &req, Some(&id));
    finish(&req, result)
}

/// The display name of an app: its registration's, or a first-party app's.
fn app_name(dir: &Directory, app_id: &str) -> String {
    dir.app(app_id)
        .map(|a| a.seed.display_name.clone())
        .or_else(|| first_party_name(app_id).map(str::to_string))
        .unwrap_or_default()
}

/// ID of an app-role assignment: stable for (principal, resource app, role), so assignments need
/// no storage beyond the service principal's `app_roles`.
fn assignment_id(principal: &str, resource_app: &str, role: &str) -> String {
    crate::model::tokens::b64url(
        &sha2::Sha256::digest(format!("{principal}|{resource_app}|{role}").as_bytes())[..24],
    )
}

/// An `appRoleAssignment` (Graph `resources/approleassignment.md`): `principal` is the client
/// service principal's (display name, object ID).
fn assignment_json(
    dir: &Directory,
    tenant: &str,
    principal: (&str, &str),
    resource_app: &str,
    role: &str,
) -> Value {
    let (principal_name, principal_id) = principal;
    json!({
        "id": assignment_id(principal_id, resource_app, role),
        "appRoleId": permission_id(resource_app, PermissionKind::Role, role),
        "createdDateTime": iso(0),
        "deletedDateTime": Value::Null,
        "principalDisplayName": principal_name,
        "principalId": principal_id,
        "principalType": "ServicePrincipal",
        "resourceDisplayName": app_name(dir, resource_app),
        "resourceId": sp_object_id(dir, tenant, resource_app),
    })
}

/// Directory roles that may assign app roles in delegated calls
/// (`api-reference/v1.0/api/serviceprincipal-post-approleassignedto.md`): Directory
/// Synchronization Accounts, Directory Writers, Hybrid Identity Administrator, Identity
/// Governance Administrator, Privileged Role Administrator, User Administrator, Application
/// Administrator, Cloud Application Administrator — and Global Administrator.
const ASSIGNING_ROLES: &[&str] = &[
    "d29b2b05-8046-44ba-8758-1e26182fcf32",
    "9360feb5-f418-4baa-8175-e2a00bac4301",
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
    "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e",
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "158c047a-c907-4556-b7ef-446551a6b5f7",
    catalog::GLOBAL_ADMINISTRATOR,
];

/// A caller that may create or delete app-role assignments: `AppRoleAssignment.ReadWrite.All`
/// together with `Application.Read.All` (or a higher read permission), and in delegated calls one
/// of [`ASSIGNING_ROLES`] in the tenant (a partner's user gets it through GDAP).
fn assignment_caller(state: &State, req: &HttpRequest) -> Result<Caller, GraphError> {
    const ASSIGN: &[&str] = &["AppRoleAssignment.ReadWrite.All"];
    let caller = read_caller(state, req, READ_APPS)?;
    caller.require(ASSIGN, ASSIGN)?;
    if !caller.is_app_only() {
        let roles = super::directory_roles(state, &caller);
        if !roles
            .iter()
            .any(|r| ASSIGNING_ROLES.iter().any(|a| a.eq_ignore_ascii_case(r)))
        {
            return Err(GraphError::denied_because(
                "Insufficient privileges to complete the operation. Assigning app roles needs a directory role such as Application Administrator, Cloud Application Administrator, Privileged Role Administrator or User Administrator.",
            ));
        }
    }
    Ok(caller)
}

/// `POST /v1.0/servicePrincipals/{id}/appRoleAssignedTo` `{principalId, resourceId, appRoleId}`
/// → 201: grants the client service principal `principalId` the app role `appRoleId` (an
/// application permission) of the resource service principal `{id}`
/// (`api-reference/v1.0/api/serviceprincipal-post-approleassignedto.md`). The role then appears
/// in the `roles` of the client's app-only tokens in this tenant.
pub async fn assign_app_role(
    state: web::Data<State>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    state.count("graph.servicePrincipals.appRoleAssignedTo.create");
    let result = async {
        let caller = assignment_caller(&state, &req)?;
        let body = read_json(body).await?;
        let field = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| GraphError::bad_request(format!("The {name} property is required.")))
        };
        let (principal_id, resource_id, role_id) =
            (field("principalId")?, field("resourceId")?, field("appRoleId")?);
        let tenant = caller.tenant().to_string();
        let mut dir = state.directory_mut();
        let (resource_app, resource_object) =
            find_sp(&dir, &tenant, &id).ok_or_else(|| GraphError::not_found(&id))?;
        if !resource_object.eq_ignore_ascii_case(&resource_id) {
            return Err(GraphError::bad_request(
                "The resourceId must be the id of the resource service principal in the request URL.",
            ));
        }
        let role = catalog::app_roles(&resource_app)
            .iter()
            .find(|v| permission_id(&resource_app, PermissionKind::Role, v).eq_ignore_ascii_case(&role_id))
            .ok_or_else(|| GraphError::bad_request(format!("Permission being assigned was not found on application '{resource_app}'.")))?;
        let principal_app = dir
            .service_principals
            .iter()
            .find(|s| s.tenant.eq_ignore_ascii_case(&tenant) && s.object_id.eq_ignore_ascii_case(&principal_id))
            .map(|s| s.app_id.clone())
            .ok_or_else(|| GraphError::bad_request(format!("The principalId '{principal_id}' is not a service principal in this tenant.")))?;
        let principal_name = app_name(&dir, &principal_app);
        let Some(sp) = dir
            .service_principals
            .iter_mut()
            .find(|s| s.tenant.eq_ignore_ascii_case(&tenant) && s.object_id.eq_ignore_ascii_case(&principal_id))
        else {
            return Err(GraphError::not_found(&principal_id));
        };
        match sp.app_roles.iter_mut().find(|p| p.resource.eq_ignore_ascii_case(&resource_app)) {
            Some(p) if p.scopes.iter().any(|r| r.eq_ignore_ascii_case(role)) => {
                return Err(GraphError::bad_request("Permission being assigned already exists on the object"));
            }
            Some(p) => p.scopes.push((*role).to_string()),
            None => sp.app_roles.push(PermissionSeed { resource: resource_app.clone(), scopes: vec![(*role).to_string()] }),
        }
        let principal_object = sp.object_id.clone();
        let mut v = assignment_json(&dir, &tenant, (&principal_name, &principal_object), &resource_app, role);
        drop(dir);
        if let Value::Object(m) = &mut v {
            m.insert("@odata.context".into(), json!(format!("{}/$metadata#servicePrincipals('{resource_object}')/appRoleAssignedTo/$entity", base(&state))));
        }
        tracing::info!(tenant.id = %tenant, role, "app role assigned");
        Ok(HttpResponse::Created().json(v))
    }
    .await;
    finish(&req, result)
}

/// `DELETE /v1.0/servicePrincipals/{id}/appRoleAssignedTo/{assignmentId}` (by the resource) and
/// `DELETE /v1.0/servicePrincipals/{id}/appRoleAssignments/{assignmentId}` (by the client) → 204
/// (`serviceprincipal-delete-approleassignedto.md`, `serviceprincipal-delete-approleassignments.md`).
pub async fn delete_app_role_assignment(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    state.count("graph.servicePrincipals.appRoleAssignments.delete");
    let (id, assignment) = path.into_inner();
    let result = (|| {
        let caller = assignment_caller(&state, &req)?;
        let tenant = caller.tenant().to_string();
        let mut dir = state.directory_mut();
        let (sp_app, sp_object) =
            find_sp(&dir, &tenant, &id).ok_or_else(|| GraphError::not_found(&id))?;
        let mut removed = false;
        for sp in dir
            .service_principals
            .iter_mut()
            .filter(|s| s.tenant.eq_ignore_ascii_case(&tenant))
        {
            let principal = sp.object_id.clone();
            for p in &mut sp.app_roles {
                let by_resource = p.resource.eq_ignore_ascii_case(&sp_app);
                if !(principal.eq_ignore_ascii_case(&sp_object) || by_resource) {
                    continue;
                }
                let before = p.scopes.len();
                let resource = p.resource.clone();
                p.scopes
                    .retain(|r| assignment_id(&principal, &resource, r) != assignment);
                removed |= p.scopes.len() != before;
            }
            sp.app_roles.retain(|p| !p.scopes.is_empty());
        }
        drop(dir);
        if !removed {
            return Err(GraphError::not_found(&assignment));
        }
        Ok(HttpResponse::NoContent().finish())
    })();
    finish(&req, result)
}
