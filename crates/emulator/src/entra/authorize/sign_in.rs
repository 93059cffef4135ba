//! The sign-in pages of the authorize flow: `POST /{tenant}/login` (password) and
//! `POST /{tenant}/mfa` (the second factor).

use super::consent::after_sign_in;
use super::flow::{error_page, expired_flow, store_flow, take_flow};
use crate::entra::error::AadError;
use crate::model::seed::UserSeed;
use crate::model::sessions::{Authority, Flow};
use crate::model::state::State;
use crate::pages;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

pub(crate) fn sign_in_page(
    flow: &Flow,
    flow_id: &str,
    login: &str,
    error: Option<&str>,
) -> HttpResponse {
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

pub(crate) fn mfa_page(flow: &Flow, flow_id: &str, error: Option<&str>) -> HttpResponse {
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
    if user.has_mfa() && mfa_demanded(&state, &flow, &user) {
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

/// Whether this sign-in challenges MFA: the app asked (`amr_values=mfa`), a seeded policy
/// (security defaults, Conditional Access) covers the user, or the resource asked for is under
/// a policy requiring MFA (Partner Center's in the default seed). Otherwise Entra does not ask,
/// and the token's `amr` is `["pwd"]` (docs/microsoft-behaviour.md §1.1).
pub(crate) fn mfa_demanded(state: &State, flow: &Flow, user: &UserSeed) -> bool {
    flow.mfa_requested || state.mfa_policy_applies(user) || target_requires_mfa(state, flow)
}

fn target_requires_mfa(state: &State, flow: &Flow) -> bool {
    flow.target
        .split(' ')
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            state.resource_for_audience(s).or_else(|| {
                crate::model::resources::split_scope(state.resources(), s).map(|(r, _, _)| r)
            })
        })
        .any(|r| r.requires_mfa)
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
