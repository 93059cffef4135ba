//! The `client_credentials` grant: an app-only token (docs/microsoft-behaviour.md §2.3).

use super::request::Grant;
use super::target::resolve_target;
use crate::entra::error::AadError;
use crate::entra::issue::{self, TokenResponse, Version};
use crate::model::sessions::Authority;
use actix_web::http::StatusCode;

pub(crate) fn client_credentials(g: &Grant<'_>) -> Result<TokenResponse, AadError> {
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
