//! `POST /{tenant}/oauth2/token` and `POST /{tenant}/oauth2/v2.0/token`: authorization code,
//! refresh token and client credentials grants; client authentication by secret (post and
//! basic) or certificate assertion (protocol-facts §1.2, §2.2, §2.3).

use super::error::AadError;
use super::issue::{self, Target, TokenResponse, UserContext, Version};
use crate::model::partner_data::gdap::iso;
use crate::model::resources::{is_oidc_scope, split_scope};
pub use crate::model::sessions::Authority;
use crate::model::sessions::{AuthCode, RefreshGrant};
use crate::model::state::{App, State};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use futures::StreamExt as _;
use jsonwebtoken::Algorithm;
use std::collections::{BTreeSet, HashMap};

/// Largest form body accepted (Entra refuses large bodies; 64 KiB is plenty for any grant).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A parsed form body.
pub type Form = HashMap<String, String>;

/// A token request whose client is authenticated: what every grant works from.
#[derive(Clone, Copy)]
pub(crate) struct Grant<'a> {
    pub state: &'a State,
    pub app: &'a App,
    /// How the client authenticated: "0" public, "1" secret, "2" certificate.
    pub appidacr: &'a str,
    pub authority: &'a Authority,
    /// The tenant segment of the request's path, as sent.
    pub tenant_seg: &'a str,
    pub form: &'a Form,
    pub version: Version,
}

/// Read a form-urlencoded body with a size limit, answering Entra-shaped errors.
pub async fn read_form(mut payload: web::Payload) -> Result<Form, AadError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            AadError::invalid_request(900144, "The request body could not be read.")
        })?;
        if buf.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(AadError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                90015,
                format!(
                    "The request body is too large. The maximum size is {MAX_FORM_BYTES} bytes."
                ),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    parse_form(&buf)
}

/// A form-urlencoded body as Entra reads it: malformed is AADSTS9002313, a repeated parameter
/// AADSTS90015.
fn parse_form(buf: &[u8]) -> Result<Form, AadError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(buf).map_err(|_| {
        AadError::invalid_request(9002313, "Invalid request. Request is malformed or invalid.")
    })?;
    let mut form = Form::new();
    for (k, v) in pairs {
        if form.contains_key(&k) {
            return Err(AadError::invalid_request(
                90015,
                format!("Requested query string is invalid: the parameter '{k}' is duplicated."),
            ));
        }
        form.insert(k, v);
    }
    Ok(form)
}

/// Resolve the `{tenant}` path segment.
pub fn resolve_authority(state: &State, segment: &str) -> Result<Authority, AadError> {
    match segment.to_ascii_lowercase().as_str() {
        "common" | "organizations" => Ok(Authority::Common),
        "consumers" => Err(AadError::invalid_request(
            9002331,
            "Application is configured for use by Microsoft Account users only. Please use the /consumers endpoint to serve this request.",
        )),
        _ => state
            .directory()
            .tenant(segment)
            .cloned()
            .map(Authority::Tenant)
            .ok_or_else(|| AadError::tenant_not_found(segment)),
    }
}

/// `POST /{tenant}/oauth2/token`
pub async fn token_v1(
    state: web::Data<State>,
    req: HttpRequest,
    tenant: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    token(&state, &req, &tenant, body, Version::V1).await
}

/// `POST /{tenant}/oauth2/v2.0/token`
pub async fn token_v2(
    state: web::Data<State>,
    req: HttpRequest,
    tenant: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    token(&state, &req, &tenant, body, Version::V2).await
}

async fn token(
    state: &State,
    req: &HttpRequest,
    tenant: &str,
    body: web::Payload,
    version: Version,
) -> HttpResponse {
    state.count("entra.token");
    let correlation = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| uuid::Uuid::parse_str(v).is_ok())
        .map(str::to_string);
    let result = match read_form(body).await {
        Ok(form) => {
            let grant = form.get("grant_type").cloned().unwrap_or_default();
            state.count(&format!(
                "entra.token.{}",
                if grant.is_empty() {
                    "missing"
                } else {
                    grant.as_str()
                }
            ));
            handle(state, req, tenant, &form, version)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => r.into_response(version),
        Err(e) => {
            tracing::info!(error = %e.error, aadsts = e.code, tenant, "token request refused");
            e.with_correlation(correlation).response()
        }
    }
}

fn handle(
    state: &State,
    req: &HttpRequest,
    tenant_seg: &str,
    form: &Form,
    version: Version,
) -> Result<TokenResponse, AadError> {
    let authority = resolve_authority(state, tenant_seg)?;
    let grant = form
        .get("grant_type")
        .map(String::as_str)
        .ok_or_else(|| AadError::missing("grant_type"))?;
    if !matches!(
        grant,
        "authorization_code"
            | "refresh_token"
            | "client_credentials"
            | super::device_code::GRANT_TYPE
    ) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let basic = basic_credentials(req);
    let client_id = form
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| AadError::missing("client_id"))?;
    let directory_name = match &authority {
        Authority::Tenant(t) => t.domain.clone(),
        Authority::Common => tenant_seg.to_string(),
    };
    let app = state
        .directory()
        .app(&client_id)
        .cloned()
        .ok_or_else(|| AadError::app_not_found(&client_id, &directory_name))?;
    if let Authority::Tenant(t) = &authority
        && t.id != app.seed.tenant
        && !app.seed.multitenant
    {
        return Err(AadError::app_not_found(&client_id, &t.domain));
    }
    let appidacr = authenticate_client(
        state,
        &app,
        form,
        basic.as_ref().map(|(_, s)| s.as_str()),
        tenant_seg,
        &authority,
    )?;
    let g = Grant {
        state,
        app: &app,
        appidacr,
        authority: &authority,
        tenant_seg,
        form,
        version,
    };
    match grant {
        "client_credentials" => client_credentials(&g),
        "authorization_code" => authorization_code(&g),
        super::device_code::GRANT_TYPE => super::device_code::redeem(&g),
        _ => refresh_token(&g),
    }
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
    let unescape = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|v| v.into_iter().next().map(|(_, v)| v))
            .unwrap_or_else(|| s.to_string())
    };
    Some((unescape(id), unescape(secret)))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Authenticate the client; returns `appidacr` ("0" public, "1" secret, "2" certificate).
fn authenticate_client(
    state: &State,
    app: &App,
    form: &Form,
    basic_secret: Option<&str>,
    tenant_seg: &str,
    authority: &Authority,
) -> Result<&'static str, AadError> {
    let app_id = &app.seed.app_id;
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(AadError::invalid_request(
                50027,
                "Invalid client_assertion_type. Expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
            ));
        }
        // Workload identity federation: an external issuer's token (`super::federated`).
        if let Some(federated) = super::federated::verify(state, app, assertion) {
            return federated.map(|()| "2");
        }
        verify_assertion(state, app, assertion, tenant_seg, authority)?;
        return Ok("2");
    }
    let secret = form
        .get("client_secret")
        .map(String::as_str)
        .or(basic_secret);
    match secret {
        Some(s) => {
            if app
                .seed
                .secrets
                .iter()
                .any(|k| constant_time_eq(k.as_bytes(), s.as_bytes()))
            {
                Ok("1")
            } else {
                Err(AadError::invalid_client(
                    7000215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app_id}'."
                    ),
                ))
            }
        }
        None if app.seed.public_client => Ok("0"),
        None => Err(AadError::invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
    }
}

fn verify_assertion(
    state: &State,
    app: &App,
    assertion: &str,
    tenant_seg: &str,
    authority: &Authority,
) -> Result<(), AadError> {
    let malformed = || AadError::invalid_client(50027, "JWT token is invalid or malformed.");
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(AadError::invalid_client(
            5002738,
            format!(
                "Invalid JWT token. '{:?}' is not a supported signature algorithm. Supported signing algorithms are: 'RS256, PS256'.",
                header.alg
            ),
        ));
    }
    let app_id = &app.seed.app_id;
    let Some(cert) = app.certificates.iter().find(|c| c.matches(&header)) else {
        let thumb = header
            .x5t
            .clone()
            .or_else(|| header.x5t_s256.clone())
            .unwrap_or_default();
        return Err(AadError::invalid_client(
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumb}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{app_id}'.]"
            ),
        ));
    };
    let claims = cert
        .verify(assertion, header.alg)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                AadError::invalid_client(700027, "Client assertion failed signature validation.")
            }
            _ => malformed(),
        })?;
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    if text("iss") != *app_id || text("sub") != *app_id {
        return Err(AadError::invalid_client(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        ));
    }
    let auds: Vec<String> = match claims.get("aud") {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !auds
        .iter()
        .any(|a| is_token_endpoint_for(state, a, tenant_seg, authority))
    {
        return Err(AadError::invalid_client(
            700023,
            format!(
                "Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials . Audience: '{}'.",
                auds.join(",")
            ),
        ));
    }
    let now = state.now();
    // MSAL Python sends `exp`/`iat` as floats (time.time()); accept any JSON number.
    let num = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64)))
    };
    let exp = num("exp");
    const SKEW: i64 = 300;
    super::federated::check_lifetime(state, &claims)?;
    let jti = text("jti");
    if jti.is_empty() {
        return Err(malformed());
    }
    let mut jtis = state
        .assertion_jtis
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    jtis.retain(|_, e| *e + SKEW >= now);
    let key = format!("{app_id}|{jti}");
    if jtis.contains_key(&key) {
        return Err(AadError::invalid_client(
            700027,
            format!(
                "Client assertion contains a jti that was already used: '{jti}'. A client assertion is single use."
            ),
        ));
    }
    jtis.insert(key, exp.unwrap_or(now));
    Ok(())
}

fn is_token_endpoint_for(
    state: &State,
    aud: &str,
    tenant_seg: &str,
    authority: &Authority,
) -> bool {
    let Ok(url) = url::Url::parse(aud) else {
        return false;
    };
    let host_ok = matches!(url.host_str(), Some("127.0.0.1" | "localhost"))
        && url.port() == Some(state.port())
        || url.host_str() == Some("login.microsoftonline.com");
    if !host_ok {
        return false;
    }
    let path = url.path().trim_end_matches('/');
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let seg = segments.next().unwrap_or_default();
    let rest = segments.next().unwrap_or_default();
    let tenant_ok = seg.eq_ignore_ascii_case(tenant_seg)
        || match authority {
            Authority::Tenant(t) => {
                seg.eq_ignore_ascii_case(&t.id) || seg.eq_ignore_ascii_case(&t.domain)
            }
            Authority::Common => false,
        };
    tenant_ok && matches!(rest, "oauth2/token" | "oauth2/v2.0/token" | "v2.0" | "")
}

/// Resolve what a token request asks for: v1 `resource`, or v2 `scope` (one resource).
pub fn resolve_target(
    state: &State,
    version: Version,
    value: &str,
    tenant_name: &str,
) -> Result<Target, AadError> {
    match version {
        Version::V1 => {
            let resource = state
                .resource_for_audience(value)
                .cloned()
                .ok_or_else(|| resource_not_found(value, tenant_name))?;
            Ok(Target {
                resource,
                aud: value.to_string(),
                permissions: Vec::new(),
                is_default: true,
                oidc: Vec::new(),
            })
        }
        Version::V2 => {
            let mut oidc = Vec::new();
            let mut found: Option<Target> = None;
            for s in value.split(' ').filter(|s| !s.is_empty()) {
                if is_oidc_scope(s) {
                    oidc.push(s.to_string());
                    continue;
                }
                let (resource, ident, perm) = match split_scope(state.resources(), s) {
                    Some(v) => v,
                    None if s.contains("://") || s.contains('/') => {
                        let ident = s.rsplit_once('/').map_or(s, |(i, _)| i);
                        return Err(resource_not_found(ident, tenant_name));
                    }
                    None => return Err(invalid_scope(s)),
                };
                if perm != ".default" && resource.scope(&perm).is_none() {
                    return Err(invalid_scope(s));
                }
                match &mut found {
                    Some(t) if t.resource.app_id != resource.app_id => {
                        return Err(AadError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_scope",
                            28000,
                            format!(
                                "Provided value for the input parameter scope '{value}' is not valid because it contains more than one resource. Scope {value} is not valid."
                            ),
                        ));
                    }
                    Some(t) => {
                        if perm == ".default" {
                            t.is_default = true;
                        } else {
                            t.permissions.push(perm);
                        }
                    }
                    None => {
                        let is_default = perm == ".default";
                        found = Some(Target {
                            resource: resource.clone(),
                            aud: ident,
                            permissions: if is_default { Vec::new() } else { vec![perm] },
                            is_default,
                            oidc: Vec::new(),
                        });
                    }
                }
            }
            let mut target = match found {
                Some(t) => t,
                // Only OIDC scopes: Entra issues a Graph token for User.Read.
                None => {
                    let graph = state
                        .resources()
                        .iter()
                        .find(|r| r.kind == crate::model::resources::ResourceKind::Graph)
                        .cloned()
                        .ok_or_else(|| invalid_scope(value))?;
                    Target {
                        resource: graph,
                        aud: "https://graph.microsoft.com".into(),
                        permissions: vec!["User.Read".into()],
                        is_default: false,
                        oidc: Vec::new(),
                    }
                }
            };
            target.oidc = oidc;
            Ok(target)
        }
    }
}

fn resource_not_found(resource: &str, tenant_name: &str) -> AadError {
    AadError::new(
        StatusCode::BAD_REQUEST,
        "invalid_resource",
        500011,
        format!(
            "The resource principal named {resource} was not found in the tenant named {tenant_name}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ),
    )
}

fn invalid_scope(scope: &str) -> AadError {
    AadError::new(
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        70011,
        format!(
            "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
        ),
    )
}

fn client_credentials(g: &Grant<'_>) -> Result<TokenResponse, AadError> {
    let Grant {
        state,
        app,
        appidacr,
        authority,
        tenant_seg,
        form,
        version,
    } = *g;
    let tenant = match authority {
        Authority::Tenant(t) => t.clone(),
        Authority::Common => {
            return Err(AadError::invalid_request(
                700016,
                format!(
                    "Use a tenant-specific endpoint or configure the application to be multi-tenant. The client credentials grant needs a tenant, not '{tenant_seg}'."
                ),
            ));
        }
    };
    let target = match version {
        Version::V1 => {
            let resource = form
                .get("resource")
                .ok_or_else(|| AadError::missing("resource"))?;
            resolve_target(state, version, resource, &tenant.domain)?
        }
        Version::V2 => {
            let scope = form
                .get("scope")
                .ok_or_else(|| AadError::missing("scope"))?;
            let t = resolve_target(state, version, scope, &tenant.domain)?;
            if !t.is_default || !t.permissions.is_empty() || !t.oidc.is_empty() {
                return Err(AadError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    1002012,
                    format!(
                        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                    ),
                ));
            }
            t
        }
    };
    let dir = state.directory();
    let sp = dir
        .service_principal(&tenant.id, &app.seed.app_id)
        .ok_or_else(|| AadError::app_not_found(&app.seed.app_id, &tenant.domain))?;
    let roles: Vec<String> = sp
        .app_roles
        .iter()
        .filter(|p| p.resource.eq_ignore_ascii_case(target.resource.app_id))
        .flat_map(|p| p.scopes.iter().cloned())
        .collect();
    let (access_token, iat, exp) = issue::app_access_token(
        state,
        &tenant.id,
        &app.seed.app_id,
        appidacr,
        &sp.object_id,
        &target.aud,
        &roles,
    );
    Ok(TokenResponse {
        access_token,
        iat,
        exp,
        resource: (version == Version::V1).then(|| target.aud.clone()),
        ..TokenResponse::default()
    })
}

/// The delegated scopes the app holds for `user` on the target's resource in `tenant`, or
/// AADSTS65001. In a tenant other than the user's own (a partner's admin agent in a customer
/// tenant through GDAP) the app needs its own service principal and a tenant-wide consent
/// there: the partner's consent does not reach its customers (protocol-facts §0, "GDAP and
/// multitenant apps"; Microsoft consents the app per customer with the Partner Center consent
/// API).
fn delegated_scopes(
    state: &State,
    app: &App,
    user_id: &str,
    tenant: &str,
    home_tenant: &str,
    target: &Target,
) -> Result<Vec<String>, AadError> {
    let dir = state.directory();
    let foreign = !tenant.eq_ignore_ascii_case(home_tenant);
    let present = !foreign || dir.service_principal(tenant, &app.seed.app_id).is_some();
    let consented = if present {
        dir.consented_scopes(tenant, &app.seed.app_id, user_id, target.resource.app_id)
    } else {
        BTreeSet::new()
    };
    drop(dir);
    if foreign && (consented.is_empty() || !covers(&consented, &target.permissions)) {
        let name = state
            .directory()
            .tenant(tenant)
            .map_or_else(|| tenant.to_string(), |t| t.display_name.clone());
        return Err(AadError::invalid_grant(
            65001,
            format!("The user or administrator has not consented to use the application with ID '{}' named '{}' in tenant '{name}'. Send an interactive authorization request for this user and resource, or consent the application in that tenant.", app.seed.app_id, app.seed.display_name),
        )
        .with_suberror("consent_required"));
    }
    if consented.is_empty() || !covers(&consented, &target.permissions) {
        return Err(AadError::invalid_grant(
            65001,
            format!("The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource.", app.seed.app_id, app.seed.display_name),
        )
        .with_suberror("consent_required"));
    }
    Ok(consented.into_iter().collect())
}

/// Whether every requested permission is among those consented (case-insensitive).
fn covers(consented: &BTreeSet<String>, requested: &[String]) -> bool {
    requested
        .iter()
        .all(|p| consented.iter().any(|c| c.eq_ignore_ascii_case(p)))
}

fn require_mfa(target: &Target, amr: &[String]) -> Result<(), AadError> {
    if target.resource.requires_mfa && !amr.iter().any(|m| m == "mfa") {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "interaction_required",
            50076,
            format!("Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{}'.", target.resource.app_id),
        )
        .with_suberror("basic_action"));
    }
    Ok(())
}

/// A token response for a user (code or refresh-token redemption), without the refresh token:
/// v1 names the resource and the granted scopes; v2 the scopes with their resource prefix;
/// `client_info` (MSAL's account key) only when the client asked for it with `client_info=1`.
/// A user grant's answer: an access token for `target`, the ID token when `id_token` is
/// `Some(nonce)`, and `refresh_token`.
fn user_response(
    g: &Grant<'_>,
    ctx: &UserContext,
    target: &Target,
    scopes: &[String],
    id_token: Option<Option<&str>>,
    refresh_token: Option<String>,
) -> TokenResponse {
    let client_id = &g.app.seed.app_id;
    let (access_token, iat, exp) = issue::user_access_token(
        g.state,
        ctx,
        client_id,
        g.appidacr,
        &target.aud,
        &scopes.join(" "),
    );
    TokenResponse {
        access_token,
        iat,
        exp,
        resource: (g.version == Version::V1).then(|| target.aud.clone()),
        scope: Some(match g.version {
            Version::V1 => scopes.join(" "),
            Version::V2 => v2_scope_string(target, scopes),
        }),
        refresh_token,
        id_token: id_token.map(|nonce| {
            issue::id_token(
                g.state,
                g.version,
                ctx,
                client_id,
                nonce,
                issue::IdTokenFrom::TokenEndpoint,
            )
        }),
        client_info: g
            .form
            .get("client_info")
            .filter(|v| *v == "1")
            .map(|_| issue::client_info(&ctx.user)),
    }
}

fn v2_scope_string(target: &Target, scopes: &[String]) -> String {
    let mut out: Vec<String> = scopes
        .iter()
        .map(|s| format!("{}/{}", target.aud, s))
        .collect();
    out.extend(target.oidc.iter().cloned());
    out.join(" ")
}

pub(crate) fn authorization_code(g: &Grant<'_>) -> Result<TokenResponse, AadError> {
    let code = redeem_code(g.state, g.app, g.authority, g.form)?;
    let user = g
        .state
        .directory()
        .user(&code.user_id)
        .cloned()
        .ok_or_else(|| AadError::invalid_grant(70000, "Provided grant is invalid or malformed."))?;
    if g.state
        .tokens_valid_from(&user.id)
        .is_some_and(|from| code.auth_time < from)
    {
        return Err(revoked_error(
            code.auth_time,
            g.state.tokens_valid_from(&user.id).unwrap_or_default(),
        ));
    }
    let target = code_target(g.state, g.form, &code, g.version)?;
    require_mfa(&target, &code.amr)?;
    let scopes = delegated_scopes(
        g.state,
        g.app,
        &user.id,
        &user.tenant,
        &user.tenant,
        &target,
    )?;
    let ctx = UserContext {
        user: user.clone(),
        tenant: code.tenant.clone(),
        amr: code.amr.clone(),
        auth_time: code.auth_time,
        session_id: code.session_id.clone(),
    };
    let wants_rt = g.version == Version::V1 || code.wants_refresh_token;
    let refresh_token = wants_rt.then(|| {
        new_refresh_token(
            g.state,
            RefreshGrant {
                user_id: user.id.clone(),
                client_id: g.app.seed.app_id.clone(),
                home_tenant: user.tenant.clone(),
                amr: code.amr.clone(),
                auth_time: code.auth_time,
                issued_at: g.state.now(),
                wants_id_token: code.wants_id_token,
                original_target: code.target.clone(),
                session_id: code.session_id.clone(),
            },
        )
    });
    let id_token = code.wants_id_token.then_some(code.nonce.as_deref());
    Ok(user_response(
        g,
        &ctx,
        &target,
        &scopes,
        id_token,
        refresh_token,
    ))
}

/// Marks the authorization code redeemed (single use even when a check below fails, as in
/// Entra) and checks it: age, client, tenant, redirect URI and PKCE verifier (RFC 7636 §4.6).
fn redeem_code(
    state: &State,
    app: &App,
    authority: &Authority,
    form: &Form,
) -> Result<AuthCode, AadError> {
    let code_value = form.get("code").ok_or_else(|| AadError::missing("code"))?;
    let code = {
        let mut codes = state
            .codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let code = codes.get_mut(code_value).ok_or_else(|| {
            AadError::invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
        })?;
        if code.redeemed {
            return Err(AadError::invalid_grant(
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
        // Single use even when the redemption fails below, as in Entra.
        code.redeemed = true;
        code.clone()
    };
    if state.now() - code.issued_at
        > i64::try_from(state.lifetimes.auth_code.as_secs()).unwrap_or(600)
    {
        return Err(AadError::invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        ));
    }
    if !code.client_id.eq_ignore_ascii_case(&app.seed.app_id) {
        return Err(AadError::invalid_grant(
            70000,
            "Provided grant is invalid or malformed.",
        ));
    }
    if let Authority::Tenant(t) = authority
        && t.id != code.tenant
    {
        return Err(AadError::invalid_grant(
            50148,
            "The code was issued for another tenant: redeem it at the authority it was requested from.",
        ));
    }
    match form.get("redirect_uri") {
        Some(r) if *r == code.redirect_uri => {}
        Some(r) => {
            return Err(AadError::invalid_grant(
                500112,
                format!(
                    "The reply address '{r}' does not match the reply address '{}' provided when requesting Authorization code.",
                    code.redirect_uri
                ),
            ));
        }
        None => return Err(AadError::missing("redirect_uri")),
    }
    if let Some((challenge, method)) = &code.code_challenge {
        let verifier = form
            .get("code_verifier")
            .ok_or_else(|| AadError::missing("code_verifier"))?;
        let computed = if method.eq_ignore_ascii_case("S256") {
            crate::model::tokens::b64url(<sha2::Sha256 as sha2::Digest>::digest(
                verifier.as_bytes(),
            ))
        } else {
            verifier.clone()
        };
        if computed != *challenge {
            return Err(AadError::invalid_grant(
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
    }
    Ok(code)
}

/// What a code is redeemed for: v1 `resource` or v2 `scope` of the token request, else the
/// authorize request's.
fn code_target(
    state: &State,
    form: &Form,
    code: &AuthCode,
    version: Version,
) -> Result<Target, AadError> {
    let tenant_name = code.tenant.clone();
    Ok(match version {
        Version::V1 => {
            let resource = form
                .get("resource")
                .cloned()
                .unwrap_or_else(|| code.target.clone());
            if resource.is_empty() {
                return Err(AadError::missing("resource"));
            }
            resolve_target(state, version, &resource, &tenant_name)?
        }
        Version::V2 => {
            let scope = form
                .get("scope")
                .cloned()
                .unwrap_or_else(|| code.target.clone());
            let mut t = resolve_target(state, version, &scope, &tenant_name)?;
            // OIDC scopes from the authorize request decide id_token / refresh_token.
            for s in code.target.split(' ').filter(|s| is_oidc_scope(s)) {
                if !t.oidc.iter().any(|o| o == s) {
                    t.oidc.push(s.to_string());
                }
            }
            t
        }
    })
}

/// Store a new refresh grant and return its opaque token.
pub fn new_refresh_token(state: &State, grant: RefreshGrant) -> String {
    let token = issue::random_token("1.AXEA", 96);
    state
        .refresh_tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(token.clone(), grant);
    token
}

fn revoked_error(issued: i64, valid_from: i64) -> AadError {
    AadError::invalid_grant(
        50173,
        format!(
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '{}' and the TokensValidFrom date (before which tokens are not valid) for this user is '{}'.",
            iso(issued),
            iso(valid_from)
        ),
    )
}

fn refresh_token(g: &Grant<'_>) -> Result<TokenResponse, AadError> {
    let grant = usable_grant(g.state, g.app, g.form)?;
    let now = g.state.now();
    let user = g
        .state
        .directory()
        .user(&grant.user_id)
        .cloned()
        .ok_or_else(|| AadError::invalid_grant(70000, "Provided grant is invalid or malformed."))?;
    let token_tenant = token_tenant(g.state, g.app, g.authority, &user)?;
    let requested = match g.version {
        Version::V1 => g.form.get("resource").cloned(),
        Version::V2 => g.form.get("scope").cloned(),
    }
    .filter(|s| !s.trim().is_empty());
    let target_text = requested.unwrap_or_else(|| grant.original_target.clone());
    if target_text.trim().is_empty() {
        return Err(AadError::missing(if g.version == Version::V1 {
            "resource"
        } else {
            "scope"
        }));
    }
    let target = resolve_target(g.state, g.version, &target_text, &token_tenant)?;
    require_mfa(&target, &grant.amr)?;
    let scopes = delegated_scopes(
        g.state,
        g.app,
        &user.id,
        &token_tenant,
        &user.tenant,
        &target,
    )?;
    let ctx = UserContext {
        user: user.clone(),
        tenant: token_tenant,
        amr: grant.amr.clone(),
        auth_time: grant.auth_time,
        session_id: grant.session_id.clone(),
    };
    let wants_id = grant.wants_id_token
        || target.oidc.iter().any(|s| s == "openid")
        || g.form
            .get("scope")
            .is_some_and(|s| s.split(' ').any(|x| x == "openid"));
    // Rotation: every redemption returns a new refresh token; the old one stays valid.
    let new_rt = new_refresh_token(
        g.state,
        RefreshGrant {
            issued_at: now,
            ..grant
        },
    );
    Ok(user_response(
        g,
        &ctx,
        &target,
        &scopes,
        wants_id.then_some(None),
        Some(new_rt),
    ))
}

/// The stored refresh grant named by the form, if this app may redeem it now: known, issued to
/// this client, not revoked (password change, `revokeSignInSessions`) and not idle for longer
/// than the inactivity limit (AADSTS700082).
fn usable_grant(state: &State, app: &App, form: &Form) -> Result<RefreshGrant, AadError> {
    let rt = form
        .get("refresh_token")
        .ok_or_else(|| AadError::missing("refresh_token"))?;
    let grant = state
        .refresh_tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(rt)
        .cloned()
        .ok_or_else(|| {
            AadError::invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
        })?;
    if !grant.client_id.eq_ignore_ascii_case(&app.seed.app_id) {
        return Err(AadError::invalid_grant(
            70000,
            "Provided grant is invalid or malformed.",
        ));
    }
    let now = state.now();
    if let Some(from) = state.tokens_valid_from(&grant.user_id)
        && grant.auth_time < from
    {
        return Err(revoked_error(grant.issued_at, from));
    }
    let inactivity =
        i64::try_from(state.lifetimes.refresh_token_inactivity.as_secs()).unwrap_or(i64::MAX / 4);
    if now - grant.issued_at > inactivity {
        let days = inactivity / 86_400;
        let rest = inactivity % 86_400;
        return Err(AadError::invalid_grant(
            700082,
            format!(
                "The refresh token has expired due to inactivity. The token was issued on {} and was inactive for {days}.{:02}:{:02}:{:02}.",
                iso(grant.issued_at),
                rest / 3600,
                rest % 3600 / 60,
                rest % 60
            ),
        ));
    }
    Ok(grant)
}

/// The tenant a refreshed token is for: the user's own, or a customer's through delegated
/// (GDAP) access of an admin agent (otherwise AADSTS50020).
fn token_tenant(
    state: &State,
    app: &App,
    authority: &Authority,
    user: &crate::model::seed::UserSeed,
) -> Result<String, AadError> {
    Ok(match authority {
        Authority::Common => user.tenant.clone(),
        Authority::Tenant(t) if t.id == user.tenant => t.id.clone(),
        Authority::Tenant(t) => {
            if user.admin_agent && state.has_delegated_access(&t.id, &user.tenant) {
                t.id.clone()
            } else {
                return Err(AadError::invalid_grant(
                    50020,
                    format!(
                        "User account '{}' from identity provider 'https://sts.windows.net/{}/' does not exist in tenant '{}' and cannot access the application '{}'({}) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Microsoft Entra user account.",
                        user.upn,
                        user.tenant,
                        t.display_name,
                        app.seed.app_id,
                        app.seed.display_name
                    ),
                ));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any token-request body is a form or an Entra error, never a panic; a form of
        /// distinct keys round-trips.
        #[test]
        fn any_body_is_a_form_or_an_entra_error(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            pairs in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{0,24}", 0..6),
        ) {
            let _ = parse_form(&body);
            let encoded = serde_urlencoded::to_string(&pairs).unwrap();
            let form = parse_form(encoded.as_bytes()).expect("an encoded form parses");
            proptest::prop_assert_eq!(form.len(), pairs.len());
            for (k, v) in &pairs {
                proptest::prop_assert_eq!(form.get(k), Some(v));
            }
        }

        /// Any `Authorization` header is read as Basic credentials or ignored, never a panic.
        #[test]
        fn any_authorization_header_is_read_or_ignored(value in "\\PC{0,80}", id in "[ -~]{1,20}", secret in "[ -~]{0,20}") {
            if let Ok(header) = actix_web::http::header::HeaderValue::from_str(&value) {
                let req = actix_web::test::TestRequest::default()
                    .insert_header(("authorization", header))
                    .to_http_request();
                let _ = basic_credentials(&req);
            }
            // RFC 6749 §2.3.1: both parts form-urlencoded, then Base64.
            let enc = |s: &str| serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_owned();
            let raw = format!("{}:{}", enc(&id), enc(&secret));
            let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
            let req = actix_web::test::TestRequest::default()
                .insert_header(("authorization", header))
                .to_http_request();
            proptest::prop_assert_eq!(basic_credentials(&req), Some((id.clone(), secret.clone())));
        }
    }
}
