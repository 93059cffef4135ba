//! After sign-in: the consent page (`POST /{tenant}/consent`) when the app lacks consent, then
//! the authorization code sent to the redirect URI.

use super::flow::{SSO_COOKIE, expired_flow, redirect_error, respond, store_flow, take_flow};
use crate::entra::issue::{self, UserContext};
use crate::model::resources::{is_oidc_scope, split_scope};
use crate::model::seed::{PermissionSeed, UserSeed};
use crate::model::sessions::{AuthCode, Authority, Flow, SsoSession, Version};
use crate::model::state::{App, State};
use crate::pages;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use std::collections::BTreeMap;

/// Form posted by the consent page.
#[derive(Debug, serde::Deserialize)]
pub struct ConsentForm {
    flow: String,
    action: String,
    /// `1` when the administrator ticked "Consent on behalf of your organization".
    #[serde(default)]
    consent_for_org: Option<String>,
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
pub(crate) fn after_sign_in(
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
    // "Consent on behalf of your organization" is the administrator's choice, unchecked at
    // first (docs/microsoft-behaviour.md §0b): ticked, the grant covers the whole tenant;
    // otherwise (and for every other user) only the user who signed in.
    let for_org = user.is_global_admin() && form.consent_for_org.as_deref() == Some("1");
    let for_user = (!for_org).then_some(user.id.as_str());
    state.grant_consent(&user.tenant, &app.seed.app_id, for_user, &needed);
    tracing::info!(app.id = %app.seed.app_id, tenant.id = %user.tenant, admin = for_user.is_none(), "consent granted");
    issue_code(&state, &flow, &user)
}

fn issue_code(state: &State, flow: &Flow, user: &UserSeed) -> HttpResponse {
    let tenant = match &flow.authority {
        Authority::Tenant(t) => t.id.clone(),
        Authority::Common => user.tenant.clone(),
    };
    // v1's code grant answers with an ID token whatever was asked (the SAM guide's recorded
    // answer has one for a request without `scope`; docs/microsoft-behaviour.md §1.2); v2's only
    // with `openid`.
    let wants_openid = match flow.version {
        Version::V1 => true,
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
