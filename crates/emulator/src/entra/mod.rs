//! Emulated Microsoft Entra ID: discovery, JWKS, authorize pages and the token endpoint,
//! v1 and v2.

pub mod authorize;
pub mod device_code;
pub mod discovery;
pub mod error;
pub mod federated;
pub mod issue;
pub mod token;

use actix_web::{HttpResponse, web};

fn form_error_page(
    err: actix_web::error::UrlencodedError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let e = error::AadError::invalid_request(
        9002313,
        format!("Invalid request. Request is malformed or invalid. ({err})"),
    );
    let status = match err {
        actix_web::error::UrlencodedError::Overflow { .. } => {
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
        }
        _ => actix_web::http::StatusCode::BAD_REQUEST,
    };
    actix_web::error::InternalError::from_response(err, HttpResponse::build(status).json(e.body()))
        .into()
}

/// Whether `path` is a page a person's browser sees (served over the plain-HTTP sign-in listener
/// too): authorize, the sign-in, MFA and consent forms, device login.
fn is_interactive(path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("devicelogin"), None | Some("approve"), None, None) => true,
        (Some(_), Some("login" | "mfa" | "consent"), None, None) => true,
        (Some(_), Some("oauth2"), Some("authorize"), None) => true,
        (Some(_), Some("oauth2"), Some("v2.0"), Some("authorize")) => segments.next().is_none(),
        _ => false,
    }
}

/// The plain-HTTP sign-in listener's own application ([`configure_pages`] only) answers only
/// the interactive pages; every API (tokens, metadata, Key Vault, Graph, Partner Center, admin)
/// is TLS-only, as in the cloud. This guard in front of it refuses, with Entra's JSON error naming
/// the HTTPS host to use, any request that is not one of those pages by its path, and any request
/// for a Key Vault host (`{vault}.vault.localhost`, whose `/secrets/login` is a secret, not a
/// page), whatever its path.
pub async fn plain_http_guard(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let vault_host = crate::keyvault::vault_name_of(req.connection_info().host()).is_some();
    if !vault_host && is_interactive(req.path()) {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
    let refusal = plain_http_refusal(req.request().clone()).await;
    Ok(req.into_response(refusal))
}

/// The answer of the plain-HTTP sign-in listener to anything but a sign-in page.
pub async fn plain_http_refusal(req: actix_web::HttpRequest) -> HttpResponse {
    let https = req
        .app_data::<web::Data<crate::model::state::State>>()
        .map(|s| s.authority_host())
        .unwrap_or_default();
    let e = error::AadError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "invalid_request",
        900561,
        format!(
            "Plain HTTP serves only the sign-in pages; {} {} is served over HTTPS at {https}.",
            req.method(),
            req.path()
        ),
    );
    e.response()
}

/// Entra routes at the root of the emulator's host (TLS): the APIs and the pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    configure_api(cfg);
    configure_pages(cfg);
}

/// The pages a person's browser sees (authorize, sign-in, MFA, consent, device login): the only
/// routes of the plain-HTTP sign-in listener, and routes of the TLS listener too.
pub fn configure_pages(cfg: &mut web::ServiceConfig) {
    cfg.app_data(form_config())
        .route("/devicelogin", web::get().to(device_code::form))
        .route("/devicelogin", web::post().to(device_code::sign_in))
        .route("/devicelogin/approve", web::post().to(device_code::approve))
        .route(
            "/{tenant}/oauth2/authorize",
            web::get().to(authorize::authorize_v1),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            web::get().to(authorize::authorize_v2),
        )
        .route("/{tenant}/login", web::post().to(authorize::sign_in::login))
        .route("/{tenant}/mfa", web::post().to(authorize::sign_in::mfa))
        .route(
            "/{tenant}/consent",
            web::post().to(authorize::consent::consent),
        );
}

fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(16 * 1024)
        .error_handler(form_error_page)
}

/// Entra's APIs (TLS only): device authorization, discovery, keys, token endpoints.
fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.app_data(form_config())
        // Device code (RFC 8628).
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            web::post().to(device_code::start),
        )
        .route(
            "/common/discovery/instance",
            web::get().to(discovery::instance),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            web::get().to(discovery::openid_configuration_v1),
        )
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            web::get().to(discovery::openid_configuration_v2),
        )
        .route(
            "/{tenant}/discovery/keys",
            web::get().to(discovery::keys_v1),
        )
        .route(
            "/{tenant}/discovery/v2.0/keys",
            web::get().to(discovery::keys_v2),
        )
        .route("/{tenant}/oauth2/token", web::post().to(token::token_v1))
        .route(
            "/{tenant}/oauth2/v2.0/token",
            web::post().to(token::token_v2),
        );
}

#[cfg(test)]
mod tests {
    use super::is_interactive;

    #[test]
    fn only_the_pages_a_browser_sees_are_interactive() {
        for p in [
            "/contoso.onmicrosoft.com/oauth2/authorize",
            "/organizations/oauth2/v2.0/authorize",
            "/common/login",
            "/t/mfa",
            "/t/consent",
            "/devicelogin",
            "/devicelogin/approve",
        ] {
            assert!(is_interactive(p), "{p}");
        }
        for p in [
            "/t/oauth2/token",
            "/t/oauth2/v2.0/token",
            "/t/oauth2/v2.0/devicecode",
            "/t/v2.0/.well-known/openid-configuration",
            "/t/discovery/v2.0/keys",
            "/graph/v1.0/me",
            "/partnercenter/v1/customers",
            "/secrets/x",
            "/msi/token",
            "/_admin/counters",
            "/t/oauth2/v2.0/authorize/extra",
            "/t/login/extra",
        ] {
            assert!(!is_interactive(p), "{p}");
        }
    }
}
