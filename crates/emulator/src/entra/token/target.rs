//! What a token request asks for: the v1 `resource` or the v2 `scope` of one resource.

use crate::entra::error::AadError;
use crate::entra::issue::{Target, Version};
use crate::model::resources::{is_oidc_scope, split_scope};
use crate::model::state::State;
use actix_web::http::StatusCode;

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

pub(crate) fn resource_not_found(resource: &str, tenant_name: &str) -> AadError {
    AadError::new(
        StatusCode::BAD_REQUEST,
        "invalid_resource",
        500011,
        format!(
            "The resource principal named {resource} was not found in the tenant named {tenant_name}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ),
    )
}

pub(crate) fn invalid_scope(scope: &str) -> AadError {
    AadError::new(
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        70011,
        format!(
            "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
        ),
    )
}
