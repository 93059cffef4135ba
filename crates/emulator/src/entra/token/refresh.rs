//! The `refresh_token` grant: rotation, revocation, inactivity expiry and delegated (GDAP)
//! access to customer tenants.

use super::request::{Form, Grant};
use super::target::resolve_target;
use super::user::{delegated_scopes, require_mfa, user_response};
use crate::entra::error::AadError;
use crate::entra::issue::{self, TokenResponse, UserContext, Version};
use crate::model::partner_data::gdap::iso;
use crate::model::sessions::{Authority, RefreshGrant};
use crate::model::state::{App, State};

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

pub(crate) fn revoked_error(issued: i64, valid_from: i64) -> AadError {
    AadError::invalid_grant(
        50173,
        format!(
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '{}' and the TokensValidFrom date (before which tokens are not valid) for this user is '{}'.",
            iso(issued),
            iso(valid_from)
        ),
    )
}

pub(crate) fn refresh_token(g: &Grant<'_>) -> Result<TokenResponse, AadError> {
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
