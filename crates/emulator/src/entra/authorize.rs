//! `GET /{tenant}/oauth2/authorize` and `/{tenant}/oauth2/v2.0/authorize`: HTML pages a
//! browser walks through (sign-in, MFA, consent), then a redirect to the registered redirect
//! URI with `code`, `state` and `session_state` (protocol-facts §1.1, §2.1).
//!
//! Pages post to `/{tenant}/login`, `/{tenant}/mfa` and `/{tenant}/consent`; the pending
//! request lives server-side under an opaque `flow` ID carried in a hidden field.

use super::error::AadError;
use super::issue::{self, UserContext};
use super::token::request::resolve_authority;
use crate::model::resources::{is_oidc_scope, split_scope};
use crate::model::seed::{PermissionSeed, UserSeed};
use crate::model::sessions::{AuthCode, Authority, Flow, SsoSession, Version};
use crate::model::state::{App, State};
use crate::pages;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use std::collections::BTreeMap;

const SSO_COOKIE: &str = "ESTSAUTH";

/// The error page Entra shows instead of redirecting (unknown client, bad redirect URI…).
fn error_page(e: &AadError) -> HttpResponse {
    tracing::info!(aadsts = e.code, "authorize error page");
    pages::sign_in(
        StatusCode::BAD_REQUEST,
        &pages::SignInError {
            code: e.code,
            message: &e.message,
            error: e.error,
        },
    )
}

type Query = BTreeMap<String, String>;

fn parse_query(req: &HttpRequest) -> Result<Query, AadError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).map_err(|_| {
            AadError::invalid_request(9002313, "Invalid request. Request is malformed or invalid.")
        })?;
    Ok(pairs.into_iter().collect())
}

/// `GET /{tenant}/oauth2/authorize`
pub async fn authorize_v1(
    state: web::Data<State>,
    req: HttpRequest,
    tenant: web::Path<String>,
) -> HttpResponse {
    authorize(&state, &req, &tenant, Version::V1)
}

/// `GET /{tenant}/oauth2/v2.0/authorize`
pub async fn authorize_v2(
    state: web::Data<State>,
    req: HttpRequest,
    tenant: web::Path<String>,
) -> HttpResponse {
    authorize(&state, &req, &tenant, Version::V2)
}

fn authorize(state: &State, req: &HttpRequest, tenant_seg: &str, version: Version) -> HttpResponse {
    state.count("entra.authorize");
    let (q, app, directory, mut flow) = match new_flow(state, req, tenant_seg, version) {
        Ok(v) => v,
        Err(page) => return page,
    };
    // From here on errors go back to the app as a redirect.
    if let Err(e) = check_request(state, &q, &app, &directory, &mut flow) {
        return redirect_error(&flow, e.error, e.code, &e.message);
    }
    // Single sign-on: an existing session skips the sign-in page unless prompt says otherwise.
    let prompt = flow.prompt.clone().unwrap_or_default();
    let session = req.cookie(SSO_COOKIE).and_then(|c| {
        state
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(c.value())
            .cloned()
    });
    if prompt == "none" && session.is_none() {
        return redirect_error(
            &flow,
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in.",
        );
    }
    let flow_id = issue::random_token("", 24);
    if let Some(s) = session.filter(|_| !matches!(prompt.as_str(), "login" | "select_account")) {
        flow.user_id = Some(s.user_id.clone());
        flow.amr = s.amr.clone();
        flow.auth_time = s.auth_time;
        flow.session_id = s.session_id.clone();
        return after_sign_in(state, flow_id, flow, None);
    }
    let hint = flow.login_hint.clone().unwrap_or_default();
    store_flow(state, &flow_id, flow.clone());
    sign_in_page(&flow, &flow_id, &hint, None)
}

/// The checks whose failures Entra shows as an error page (it cannot trust the redirect URI
/// yet), then the pending request. Returns the query, the app and the directory's name too.
fn new_flow(
    state: &State,
    req: &HttpRequest,
    tenant_seg: &str,
    version: Version,
) -> Result<(Query, App, String, Flow), HttpResponse> {
    let q = parse_query(req).map_err(|e| error_page(&e))?;
    let authority = resolve_authority(state, tenant_seg).map_err(|e| error_page(&e))?;
    let Some(client_id) = q.get("client_id") else {
        return Err(error_page(&AadError::invalid_request(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )));
    };
    let directory = match &authority {
        Authority::Tenant(t) => t.domain.clone(),
        Authority::Common => tenant_seg.to_string(),
    };
    let Some(app) = state.directory().app(client_id).cloned() else {
        return Err(error_page(&AadError::app_not_found(client_id, &directory)));
    };
    let redirect_uri = match q.get("redirect_uri") {
        Some(r) => r.clone(),
        None if version == Version::V1 && !app.seed.redirect_uris.is_empty() => {
            app.seed.redirect_uris[0].clone()
        }
        None => {
            return Err(error_page(&AadError::invalid_request(
                900144,
                "The request body must contain the following parameter: 'redirect_uri'.",
            )));
        }
    };
    if !app.seed.redirect_uris.contains(&redirect_uri) {
        return Err(error_page(&AadError::invalid_request(
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
            ),
        )));
    }
    let response_type = q.get("response_type").cloned().unwrap_or_default();
    let default_mode = if response_type.split(' ').any(|t| t == "id_token") {
        "fragment"
    } else {
        "query"
    };
    let response_mode = q
        .get("response_mode")
        .filter(|m| matches!(m.as_str(), "query" | "fragment" | "form_post"))
        .cloned()
        .unwrap_or_else(|| default_mode.into());
    let flow = Flow {
        version,
        tenant_seg: tenant_seg.to_string(),
        authority,
        client_id: app.seed.app_id.clone(),
        redirect_uri,
        response_type,
        response_mode,
        state: q.get("state").cloned(),
        target: String::new(),
        nonce: q.get("nonce").cloned(),
        prompt: q.get("prompt").cloned(),
        login_hint: q.get("login_hint").cloned(),
        code_challenge: None,
        user_id: None,
        amr: Vec::new(),
        auth_time: 0,
        session_id: uuid::Uuid::new_v4().to_string(),
        created: state.now(),
    };
    Ok((q, app, directory, flow))
}

/// An authorize-request problem that goes back to the app as an error redirect.
struct Rejection {
    error: &'static str,
    code: u32,
    message: String,
}

fn reject(error: &'static str, code: u32, message: impl Into<String>) -> Rejection {
    Rejection {
        error,
        code,
        message: message.into(),
    }
}

/// Response type, PKCE, nonce and what is asked for (v1 `resource`, v2 `scope`).
fn check_request(
    state: &State,
    q: &Query,
    app: &App,
    tenant_name: &str,
    flow: &mut Flow,
) -> Result<(), Rejection> {
    let response_type = flow.response_type.clone();
    if !response_type.split(' ').any(|t| t == "code")
        || response_type
            .split(' ')
            .any(|t| !matches!(t, "code" | "id_token"))
    {
        return Err(reject(
            "unsupported_response_type",
            700054,
            format!("response_type '{response_type}' is not enabled for the application."),
        ));
    }
    flow.code_challenge = code_challenge(q)?;
    let has_id_token = response_type.split(' ').any(|t| t == "id_token");
    if has_id_token && flow.nonce.is_none() {
        return Err(reject(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'nonce'.",
        ));
    }
    match flow.version {
        Version::V1 => {
            let resource = q.get("resource").cloned().unwrap_or_default();
            if !resource.is_empty() && state.resource_for_audience(&resource).is_none() {
                return Err(resource_not_found(&resource, tenant_name));
            }
            // v1 asks for the app's static permissions; `scope=openid` only adds an id_token.
            let openid = q
                .get("scope")
                .is_some_and(|s| s.split(' ').any(|x| x == "openid"));
            flow.target = resource;
            if openid {
                flow.response_type = format!("{} +openid", flow.response_type);
            }
        }
        Version::V2 => flow.target = checked_scope(state, q, app, tenant_name)?,
    }
    Ok(())
}

/// PKCE (RFC 7636 §4.3): the challenge and its method (`plain` when absent).
fn code_challenge(q: &Query) -> Result<Option<(String, String)>, Rejection> {
    match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (Some(c), m) => {
            let method = m.cloned().unwrap_or_else(|| "plain".into());
            if !matches!(method.as_str(), "S256" | "plain") {
                return Err(reject(
                    "invalid_request",
                    501491,
                    format!(
                        "Invalid code_challenge_method '{method}'. Supported methods are 'plain' and 'S256'."
                    ),
                ));
            }
            if c.len() < 43 || c.len() > 128 {
                return Err(reject(
                    "invalid_request",
                    501491,
                    "Invalid size of Code_Challenge parameter.",
                ));
            }
            Ok(Some((c.clone(), method)))
        }
        (None, Some(_)) => Err(reject(
            "invalid_request",
            501491,
            "The code_challenge_method is given without a code_challenge.",
        )),
        (None, None) => Ok(None),
    }
}

fn resource_not_found(resource: &str, tenant_name: &str) -> Rejection {
    reject(
        "invalid_resource",
        500011,
        format!(
            "The resource principal named {resource} was not found in the tenant named {tenant_name}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ),
    )
}

/// The v2 `scope`: present, and every scope one a known resource exposes.
fn checked_scope(
    state: &State,
    q: &Query,
    app: &App,
    tenant_name: &str,
) -> Result<String, Rejection> {
    let Some(scope) = q.get("scope").filter(|s| !s.trim().is_empty()) else {
        return Err(reject(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        ));
    };
    for s in scope
        .split(' ')
        .filter(|s| !s.is_empty() && !is_oidc_scope(s))
    {
        match split_scope(state.resources(), s) {
            Some((r, _, p)) if p == ".default" || r.scope(&p).is_some() => {}
            Some(_) | None if !s.contains('/') => {
                return Err(reject(
                    "invalid_client",
                    650053,
                    format!(
                        "The application '{}' asked for scope '{s}' that doesn't exist on the resource '00000003-0000-0000-c000-000000000000'. Contact the app vendor.",
                        app.seed.display_name
                    ),
                ));
            }
            _ => {
                return Err(resource_not_found(
                    s.rsplit_once('/').map_or(s, |(i, _)| i),
                    tenant_name,
                ));
            }
        }
    }
    Ok(scope.clone())
}

fn store_flow(state: &State, id: &str, flow: Flow) {
    let mut flows = state
        .flows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = state.now();
    flows.retain(|_, f| now - f.created < 3600);
    flows.insert(id.to_string(), flow);
}

fn take_flow(state: &State, id: &str) -> Option<Flow> {
    state
        .flows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(id)
        .cloned()
}

fn sign_in_page(flow: &Flow, flow_id: &str, login: &str, error: Option<&str>) -> HttpResponse {
    pages::sign_in(
        StatusCode::OK,
        &pages::SignIn {
            pending: pages::Pending {
                tenant: &flow.tenant_seg,
                flow_id,
            },
            login,
            error,
        },
    )
}

fn mfa_page(flow: &Flow, flow_id: &str, error: Option<&str>) -> HttpResponse {
    pages::sign_in(
        StatusCode::OK,
        &pages::Mfa {
            pending: pages::Pending {
                tenant: &flow.tenant_seg,
                flow_id,
            },
            error,
        },
    )
}

/// Form posted by the sign-in page.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    flow: String,
    login: String,
    passwd: String,
}

/// Form posted by the MFA page.
#[derive(Debug, serde::Deserialize)]
pub struct MfaForm {
    flow: String,
    otc: String,
}

/// Form posted by the consent page.
#[derive(Debug, serde::Deserialize)]
pub struct ConsentForm {
    flow: String,
    action: String,
}

fn expired_flow() -> HttpResponse {
    error_page(&AadError::invalid_request(
        90100,
        "The sign-in request is unknown or has expired. Go back to the application and sign in again.",
    ))
}

/// `POST /{tenant}/login`
pub async fn login(
    state: web::Data<State>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    state.count("entra.login");
    let Some(mut flow) = take_flow(&state, &form.flow) else {
        return expired_flow();
    };
    let user = state.directory().user(form.login.trim()).cloned();
    let Some(user) = user.filter(|u| u.upn.eq_ignore_ascii_case(form.login.trim())) else {
        return sign_in_page(
            &flow,
            &form.flow,
            &form.login,
            Some(
                "This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin. (AADSTS50034)",
            ),
        );
    };
    if user.password != form.passwd {
        tracing::info!(user.id = %user.id, "sign-in failed: wrong password");
        return sign_in_page(
            &flow,
            &form.flow,
            &form.login,
            Some(
                "Your account or password is incorrect. If you don't remember your password, reset it now. (AADSTS50126)",
            ),
        );
    }
    if let Err(e) = check_user_may_sign_in(&state, &flow, &user) {
        return error_page(&e);
    }
    flow.user_id = Some(user.id.clone());
    flow.amr = vec!["pwd".into()];
    flow.auth_time = state.now();
    if user.has_mfa() {
        store_flow(&state, &form.flow, flow.clone());
        return mfa_page(&flow, &form.flow, None);
    }
    after_sign_in(
        &state,
        form.flow.clone(),
        flow,
        Some(req.app_config().secure()),
    )
}

fn check_user_may_sign_in(state: &State, flow: &Flow, user: &UserSeed) -> Result<(), AadError> {
    let dir = state.directory();
    let app = dir
        .app(&flow.client_id)
        .ok_or_else(|| AadError::app_not_found(&flow.client_id, &flow.tenant_seg))?;
    if let Authority::Tenant(t) = &flow.authority
        && t.id != user.tenant
        && !(user.admin_agent && dir.has_delegated_access(&t.id, &user.tenant))
    {
        return Err(AadError::invalid_grant(
            50020,
            format!(
                "User account '{}' from identity provider 'https://sts.windows.net/{}/' does not exist in tenant '{}' and cannot access the application '{}'({}) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Microsoft Entra user account.",
                user.upn, user.tenant, t.display_name, app.seed.app_id, app.seed.display_name
            ),
        ));
    }
    if !app.seed.multitenant && user.tenant != app.seed.tenant {
        let domain = dir
            .tenant(&user.tenant)
            .map(|t| t.domain.clone())
            .unwrap_or_default();
        return Err(AadError::app_not_found(&flow.client_id, &domain));
    }
    Ok(())
}

/// `POST /{tenant}/mfa`
pub async fn mfa(
    state: web::Data<State>,
    req: HttpRequest,
    form: web::Form<MfaForm>,
) -> HttpResponse {
    state.count("entra.mfa");
    let Some(mut flow) = take_flow(&state, &form.flow) else {
        return expired_flow();
    };
    let Some(user) = flow
        .user_id
        .as_deref()
        .and_then(|id| state.directory().user(id).cloned())
    else {
        return expired_flow();
    };
    if user.mfa_code.as_deref() != Some(form.otc.trim()) {
        return mfa_page(
            &flow,
            &form.flow,
            Some(
                "You didn't enter the expected verification code. Please try again. (AADSTS50126)",
            ),
        );
    }
    flow.amr = vec!["pwd".into(), "mfa".into()];
    after_sign_in(
        &state,
        form.flow.clone(),
        flow,
        Some(req.app_config().secure()),
    )
}

/// The delegated permissions the request needs, per resource app ID.
fn requested_permissions(state: &State, flow: &Flow, app: &App) -> Vec<PermissionSeed> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let add_required = |resource: &str, map: &mut BTreeMap<String, Vec<String>>| {
        for p in app
            .seed
            .required_delegated
            .iter()
            .filter(|p| resource.is_empty() || p.resource.eq_ignore_ascii_case(resource))
        {
            map.entry(p.resource.to_ascii_lowercase())
                .or_default()
                .extend(p.scopes.iter().cloned());
        }
    };
    match flow.version {
        Version::V1 => add_required("", &mut map),
        Version::V2 => {
            for s in flow
                .target
                .split(' ')
                .filter(|s| !s.is_empty() && !is_oidc_scope(s))
            {
                if let Some((r, _, p)) = split_scope(state.resources(), s) {
                    if p == ".default" {
                        // `.default` consents to every permission of the registration, all resources.
                        let _ = r;
                        add_required("", &mut map);
                    } else {
                        map.entry(r.app_id.to_string()).or_default().push(p);
                    }
                }
            }
        }
    }
    if map.is_empty() {
        // Sign-in only: Microsoft Graph User.Read, as Entra does.
        map.insert(
            crate::model::resources::GRAPH_APP_ID.into(),
            vec!["User.Read".into()],
        );
    }
    map.into_iter()
        .map(|(resource, mut scopes)| {
            scopes.sort();
            scopes.dedup();
            PermissionSeed { resource, scopes }
        })
        .collect()
}

/// The signed-in user and the requesting app of `flow`, while both still exist.
fn flow_user_and_app(state: &State, flow: &Flow) -> Option<(UserSeed, App)> {
    let directory = state.directory();
    let user = directory.user(flow.user_id.as_deref()?)?.clone();
    let app = directory.app(&flow.client_id)?.clone();
    Some((user, app))
}

/// `new_session`: `Some(secure)` after a sign-in here (a new SSO cookie, `secure` when the page
/// came over TLS), `None` when an existing session was reused.
fn after_sign_in(
    state: &State,
    flow_id: String,
    flow: Flow,
    new_session: Option<bool>,
) -> HttpResponse {
    let Some((user, app)) = flow_user_and_app(state, &flow) else {
        return expired_flow();
    };
    let mut session_cookie = None;
    if let Some(secure) = new_session {
        let sid = issue::random_token("", 24);
        state
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                sid.clone(),
                SsoSession {
                    user_id: user.id.clone(),
                    amr: flow.amr.clone(),
                    auth_time: flow.auth_time,
                    session_id: flow.session_id.clone(),
                },
            );
        // Entra's cookie is `Secure; SameSite=None`; over the plain-HTTP loopback listener a
        // browser would drop that, so there it is a `Lax` cookie (top-level navigations only).
        session_cookie = Some(
            Cookie::build(SSO_COOKIE, sid)
                .path("/")
                .secure(secure)
                .http_only(true)
                .same_site(if secure {
                    SameSite::None
                } else {
                    SameSite::Lax
                })
                .finish(),
        );
    }
    let needed = requested_permissions(state, &flow, &app);
    let missing = {
        let dir = state.directory();
        needed.iter().any(|p| {
            let have = dir.consented_scopes(&user.tenant, &app.seed.app_id, &user.id, &p.resource);
            p.scopes.iter().any(|s| !have.contains(s))
        })
    };
    let prompt = flow.prompt.clone().unwrap_or_default();
    let mut resp = if missing || matches!(prompt.as_str(), "consent" | "admin_consent") {
        store_flow(state, &flow_id, flow.clone());
        consent_page(state, &flow, &flow_id, &app, &user, &needed)
    } else {
        state
            .flows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&flow_id);
        issue_code(state, &flow, &user)
    };
    if let Some(c) = session_cookie
        && resp.add_cookie(&c).is_err()
    {
        tracing::warn!("could not set the sign-in session cookie");
    }
    resp
}

fn needs_admin(state: &State, needed: &[PermissionSeed]) -> bool {
    needed.iter().any(|p| {
        state
            .resources()
            .iter()
            .find(|r| r.app_id.eq_ignore_ascii_case(&p.resource))
            .is_some_and(|r| {
                p.scopes
                    .iter()
                    .any(|s| r.scope(s).is_some_and(|d| d.admin_consent_required))
            })
    })
}

fn consent_page(
    state: &State,
    flow: &Flow,
    flow_id: &str,
    app: &App,
    user: &UserSeed,
    needed: &[PermissionSeed],
) -> HttpResponse {
    let mut permissions = Vec::new();
    for p in needed {
        let resource = state
            .resources()
            .iter()
            .find(|r| r.app_id.eq_ignore_ascii_case(&p.resource));
        for s in &p.scopes {
            permissions.push(pages::PermissionLine {
                resource: &p.resource,
                scope: s,
                description: resource
                    .and_then(|r| r.scope(s))
                    .map(|d| d.description)
                    .unwrap_or(""),
                resource_name: resource
                    .map(|r| r.display_name)
                    .unwrap_or("Unknown resource"),
            });
        }
    }
    if needs_admin(state, needed) && !user.is_global_admin() {
        return pages::sign_in(
            StatusCode::OK,
            &pages::NeedAdmin {
                app: &app.seed.display_name,
                pending: pages::Pending {
                    tenant: &flow.tenant_seg,
                    flow_id,
                },
                permissions: &permissions,
            },
        );
    }
    pages::sign_in(
        StatusCode::OK,
        &pages::Consent {
            app: &app.seed.display_name,
            publisher: app.seed.publisher.as_deref().unwrap_or("unverified"),
            app_id: &app.seed.app_id,
            pending: pages::Pending {
                tenant: &flow.tenant_seg,
                flow_id,
            },
            permissions: &permissions,
            for_organization: user.is_global_admin(),
        },
    )
}

/// `POST /{tenant}/consent`
pub async fn consent(state: web::Data<State>, form: web::Form<ConsentForm>) -> HttpResponse {
    state.count("entra.consent");
    let Some(flow) = take_flow(&state, &form.flow) else {
        return expired_flow();
    };
    state
        .flows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&form.flow);
    let Some((user, app)) = flow_user_and_app(&state, &flow) else {
        return expired_flow();
    };
    if form.action != "accept" {
        return redirect_error(
            &flow,
            "access_denied",
            65004,
            "User declined to consent to access the app.",
        );
    }
    let needed = requested_permissions(&state, &flow, &app);
    if needs_admin(&state, &needed) && !user.is_global_admin() {
        return redirect_error(
            &flow,
            "access_denied",
            90094,
            "The grant requires admin permission.",
        );
    }
    // An administrator consents for the whole tenant; a user for themselves.
    let for_user = (!user.is_global_admin()).then_some(user.id.as_str());
    state.grant_consent(&user.tenant, &app.seed.app_id, for_user, &needed);
    tracing::info!(app.id = %app.seed.app_id, tenant.id = %user.tenant, admin = for_user.is_none(), "consent granted");
    issue_code(&state, &flow, &user)
}

fn issue_code(state: &State, flow: &Flow, user: &UserSeed) -> HttpResponse {
    let tenant = match &flow.authority {
        Authority::Tenant(t) => t.id.clone(),
        Authority::Common => user.tenant.clone(),
    };
    let wants_openid = match flow.version {
        Version::V1 => {
            flow.response_type.contains("openid")
                || flow.response_type.split(' ').any(|t| t == "id_token")
        }
        Version::V2 => flow.target.split(' ').any(|s| s == "openid"),
    };
    let wants_rt = flow.target.split(' ').any(|s| s == "offline_access");
    let code = issue::store_auth_code(
        state,
        AuthCode {
            client_id: flow.client_id.clone(),
            redirect_uri: flow.redirect_uri.clone(),
            user_id: user.id.clone(),
            tenant: tenant.clone(),
            target: flow.target.clone(),
            wants_id_token: wants_openid,
            wants_refresh_token: wants_rt,
            code_challenge: flow.code_challenge.clone(),
            nonce: flow.nonce.clone(),
            amr: flow.amr.clone(),
            auth_time: flow.auth_time,
            issued_at: state.now(),
            redeemed: false,
            session_id: flow.session_id.clone(),
        },
    );
    let mut params: Vec<(String, String)> = vec![("code".into(), code.clone())];
    if flow.response_type.split(' ').any(|t| t == "id_token") {
        let ctx = UserContext {
            user: user.clone(),
            tenant,
            amr: flow.amr.clone(),
            auth_time: flow.auth_time,
            session_id: flow.session_id.clone(),
        };
        params.push((
            "id_token".into(),
            issue::id_token(
                state,
                flow.version,
                &ctx,
                &flow.client_id,
                flow.nonce.as_deref(),
                issue::IdTokenFrom::Authorize {
                    c_hash: issue::half_hash(&code),
                },
            ),
        ));
    }
    if let Some(s) = &flow.state {
        params.push(("state".into(), s.clone()));
    }
    params.push(("session_state".into(), flow.session_id.clone()));
    respond(flow, &params)
}

fn redirect_error(flow: &Flow, error: &str, code: u32, message: &str) -> HttpResponse {
    let e = AadError::new(StatusCode::BAD_REQUEST, "x", code, message);
    let body = e.body();
    let description = body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut params = vec![
        ("error".to_string(), error.to_string()),
        ("error_description".to_string(), description),
    ];
    if let Some(s) = &flow.state {
        params.push(("state".into(), s.clone()));
    }
    tracing::info!(error, aadsts = code, "authorize redirect with error");
    respond(flow, &params)
}

fn respond(flow: &Flow, params: &[(String, String)]) -> HttpResponse {
    let encoded = serde_urlencoded::to_string(params).unwrap_or_default();
    match flow.response_mode.as_str() {
        "form_post" => pages::render(
            StatusCode::OK,
            &pages::FormPost {
                action: &flow.redirect_uri,
                fields: params,
            },
        ),
        mode => {
            let sep = if mode == "fragment" {
                '#'
            } else if flow.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            HttpResponse::Found()
                .insert_header(("location", format!("{}{sep}{encoded}", flow.redirect_uri)))
                .insert_header(("cache-control", "no-store"))
                .finish()
        }
    }
}
