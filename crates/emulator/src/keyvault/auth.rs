//! Who may call a vault: the vault named by the Host header, a supported `api-version`, the
//! bearer token ([`Caller`], the extractor every API shares) of the vault's tenant, and the
//! vault's access policy for the operation. An unauthenticated request gets Key Vault's
//! challenge (401 with `WWW-Authenticate`).

use super::wire::{Ctx, kv_error, lock_vaults};
use crate::caller::Caller;
use crate::model::resources::ResourceKind;
use crate::model::state::State;
use crate::model::tokens::TokenRejection;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

/// 7.4 and later: `7.x[-preview.N]` or dated versions (`2025-07-01`, newer SDKs send later dates).
fn is_supported_api_version(v: &str) -> bool {
    let base = v.split("-preview").next().unwrap_or(v);
    if let Some(minor) = base.strip_prefix("7.") {
        return minor.parse::<u32>().is_ok_and(|m| m >= 4);
    }
    let parts: Vec<&str> = base.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && parts[0] >= "2025"
}

/// Host → vault name, if the request is for a vault.
pub fn vault_name_of(host: &str) -> Option<String> {
    let host = host
        .rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    host.to_ascii_lowercase()
        .strip_suffix(".vault.localhost")
        .map(str::to_string)
}

/// The actix guard selecting Key Vault requests.
pub fn is_vault_request(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(vault_name_of)
        .is_some()
        || ctx.head().uri.host().and_then(vault_name_of).is_some()
}

pub(crate) fn challenge(
    state: &State,
    tenant: &str,
    status: StatusCode,
    message: &str,
) -> HttpResponse {
    let port = state.port();
    let mut r = kv_error(status, "Unauthorized", message, None);
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&format!(
        r#"Bearer authorization="https://127.0.0.1:{port}/{tenant}", resource="https://vault.localhost:{port}""#
    )) {
        r.headers_mut()
            .insert(actix_web::http::header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Check vault, api-version and bearer token; returns the context and the caller's object ID.
pub(crate) fn admit(
    state: &State,
    req: &HttpRequest,
    op: &str,
) -> Result<(Ctx, String), HttpResponse> {
    state.count(&format!("keyvault.{op}"));
    let host = req.connection_info().host().to_string();
    let Some(vault_name) = vault_name_of(&host) else {
        return Err(kv_error(
            StatusCode::NOT_FOUND,
            "VaultNotFound",
            "The vault was not found.",
            None,
        ));
    };
    let tenant = match lock_vaults(state).get(&vault_name) {
        Some(v) => v.tenant.clone(),
        None => {
            return Err(kv_error(
                StatusCode::NOT_FOUND,
                "VaultNotFound",
                &format!(
                    "The vault '{vault_name}' was not found. (Emulated vaults are those of the emulator's data file.)"
                ),
                None,
            ));
        }
    };
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let api_version = query
        .iter()
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.clone());
    let Some(api_version) = api_version else {
        return Err(kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The request URI contains an invalid or missing api-version query parameter.",
            None,
        ));
    };
    if !is_supported_api_version(&api_version) {
        return Err(kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            &format!(
                "The specified version ({api_version}) is not recognized. Consider using the latest supported version (2025-07-01)."
            ),
            None,
        ));
    }
    let caller = Caller::identify(state, req, ResourceKind::KeyVault).map_err(|e| {
        let msg = match e {
            TokenRejection::Missing => {
                return challenge(
                    state,
                    &tenant,
                    StatusCode::UNAUTHORIZED,
                    "AKV10000: Request is missing a Bearer or PoP token.",
                );
            }
            TokenRejection::Audience(a) => format!("AKV10022: Invalid audience. Expected https://vault.azure.net, found: {a}."),
            TokenRejection::Issuer(i) => format!("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant}/, found: {i}."),
            TokenRejection::Expired => "AKV10000: Token is expired.".to_string(),
            other => format!("AKV10000: Request is missing a Bearer or PoP token. ({other})"),
        };
        tracing::info!(reason = %msg, "key vault refused a bearer token");
        challenge(state, &tenant, StatusCode::UNAUTHORIZED, &msg)
    })?;
    let validated = &caller.token;
    if validated.tenant_id != tenant {
        return Err(challenge(
            state,
            &tenant,
            StatusCode::UNAUTHORIZED,
            &format!(
                "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant}/, found: https://sts.windows.net/{}/.",
                validated.tenant_id
            ),
        ));
    }
    let base = format!("https://{}", host.to_ascii_lowercase());
    Ok((
        Ctx {
            vault: vault_name,
            base,
            api_version,
        },
        format!(
            "{}|{}|{}",
            validated.object_id, validated.app_id, validated.tenant_id
        ),
    ))
}

fn forbidden(ctx: &Ctx, principal: &str, perm: &str) -> HttpResponse {
    let mut parts = principal.split('|');
    let (oid, appid, tid) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    kv_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "The user, group or application 'appid={appid};oid={oid};iss=https://sts.windows.net/{tid}/' does not have secrets {perm} permission on key vault '{};location=localhost'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
            ctx.vault
        ),
        Some("AccessDenied"),
    )
}

pub(crate) fn check(
    state: &State,
    ctx: &Ctx,
    principal: &str,
    perm: &str,
) -> Result<(), HttpResponse> {
    let oid = principal.split('|').next().unwrap_or_default();
    let allowed = lock_vaults(state)
        .get(&ctx.vault)
        .is_some_and(|v| v.allows(oid, perm));
    if allowed {
        Ok(())
    } else {
        Err(forbidden(ctx, principal, perm))
    }
}

/// Admits a request ([`admit`]) and checks the access policy for `$perm` ([`check`]), or
/// returns the refusal from the calling handler; evaluates to the request's [`Ctx`].
macro_rules! admit_checked {
    ($state:expr, $req:expr, $op:expr, $perm:expr) => {{
        let (ctx, principal) = match $crate::keyvault::auth::admit(&$state, &$req, $op) {
            Ok(v) => v,
            Err(r) => return r,
        };
        if let Err(r) = $crate::keyvault::auth::check(&$state, &ctx, &principal, $perm) {
            return r;
        }
        ctx
    }};
}

pub(crate) use admit_checked;
