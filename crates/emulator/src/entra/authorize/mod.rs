//! `GET /{tenant}/oauth2/authorize` and `/{tenant}/oauth2/v2.0/authorize`: HTML pages a
//! browser walks through (sign-in, MFA, consent), then a redirect to the registered redirect
//! URI with `code`, `state` and `session_state` (docs/microsoft-behaviour.md §1.1, §2.1).
//!
//! Pages post to `/{tenant}/login`, `/{tenant}/mfa` and `/{tenant}/consent`; the pending
//! request lives server-side under an opaque `flow` ID carried in a hidden field. This file
//! checks the request and starts the flow; [`sign_in`] and [`consent`] serve the pages, [`flow`]
//! holds what they share.

pub mod consent;
pub mod flow;
mod redirect;
pub mod sign_in;

use crate::entra::error::AadError;
use crate::entra::issue;
use crate::entra::token::request::resolve_authority;
use crate::model::resources::{is_oidc_scope, split_scope};
use crate::model::sessions::{Authority, Flow, Version};
use crate::model::state::{App, State};
use actix_web::{HttpRequest, HttpResponse, web};
use consent::after_sign_in;
use flow::{SSO_COOKIE, error_page, redirect_error, store_flow};
use sign_in::sign_in_page;
use std::collections::BTreeMap;

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
        // A session signed in with a password only is stepped up when MFA is asked for now.
        let user = state.directory().user(&s.user_id).cloned();
        if let Some(user) = user.filter(|u| u.has_mfa() && !flow.amr.iter().any(|m| m == "mfa"))
            && sign_in::mfa_demanded(state, &flow, &user)
        {
            store_flow(state, &flow_id, flow.clone());
            return sign_in::mfa_page(&flow, &flow_id, None);
        }
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
    if !redirect::registered(&app, &redirect_uri) {
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
        mfa_requested: q
            .get("amr_values")
            .is_some_and(|v| v.split([' ', ',']).any(|m| m == "mfa")),
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
    if flow.version == Version::V2 && q.contains_key("amr_values") {
        // docs/microsoft-behaviour.md §2.1: the v2 endpoint does not take `amr_values`.
        return Err(reject(
            "invalid_request",
            901002,
            "The 'amr_values' parameter is not supported. Use 'claims' or Conditional Access to require multi-factor authentication.",
        ));
    }
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
