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

/// Entra routes at the root of the emulator's host.
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

/// Over the plain-HTTP sign-in listener only the interactive pages answer; every API (tokens,
/// metadata, Key Vault, Graph, Partner Center) is TLS-only, as in the cloud. A request for one
/// gets Entra's JSON error naming the HTTPS host to use.
pub async fn plain_http_guard(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if req.app_config().secure() || is_interactive(req.path()) {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
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
    Ok(req.into_response(e.response()))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::FormConfig::default()
            .limit(16 * 1024)
            .error_handler(form_error_page),
    )
    // Device code (RFC 8628): before the `/{tenant}/…` routes below.
    .route(
        "/{tenant}/oauth2/v2.0/devicecode",
        web::post().to(device_code::start),
    )
    .route("/devicelogin", web::get().to(device_code::form))
    .route("/devicelogin", web::post().to(device_code::sign_in))
    .route("/devicelogin/approve", web::post().to(device_code::approve))
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
    .route(
        "/{tenant}/oauth2/authorize",
        web::get().to(authorize::authorize_v1),
    )
    .route(
        "/{tenant}/oauth2/v2.0/authorize",
        web::get().to(authorize::authorize_v2),
    )
    .route("/{tenant}/oauth2/token", web::post().to(token::token_v1))
    .route(
        "/{tenant}/oauth2/v2.0/token",
        web::post().to(token::token_v2),
    )
    .route("/{tenant}/login", web::post().to(authorize::sign_in::login))
    .route("/{tenant}/mfa", web::post().to(authorize::sign_in::mfa))
    .route(
        "/{tenant}/consent",
        web::post().to(authorize::consent::consent),
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
