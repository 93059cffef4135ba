//! What the user grants (code, refresh token, device code) share: the consented delegated
//! scopes, the MFA requirement of a resource, and the token response for a user.

use super::request::Grant;
use crate::entra::error::AadError;
use crate::entra::issue::{self, Target, TokenResponse, UserContext, Version};
use crate::model::state::{App, State};
use actix_web::http::StatusCode;
use std::collections::BTreeSet;

/// The delegated scopes the app holds for `user` on the target's resource in `tenant`, or
/// AADSTS65001. In a tenant other than the user's own (a partner's admin agent in a customer
/// tenant through GDAP) the app needs its own service principal and a tenant-wide consent
/// there: the partner's consent does not reach its customers (docs/microsoft-behaviour.md §0, "GDAP and
/// multitenant apps"; Microsoft consents the app per customer with the Partner Center consent
/// API).
pub(crate) fn delegated_scopes(
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

pub(crate) fn require_mfa(target: &Target, amr: &[String]) -> Result<(), AadError> {
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
pub(crate) fn user_response(
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
