//! The `authorization_code` grant: redeeming a code issued by the authorize endpoint or the
//! device-code flow (docs/microsoft-behaviour.md §2.2).

use super::refresh::{new_refresh_token, revoked_error};
use super::request::{Form, Grant};
use super::target::resolve_target;
use super::user::{delegated_scopes, require_mfa, user_response};
use crate::entra::error::AadError;
use crate::entra::issue::{Target, TokenResponse, UserContext, Version};
use crate::model::resources::is_oidc_scope;
use crate::model::sessions::{AuthCode, Authority, RefreshGrant};
use crate::model::state::{App, State};

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
