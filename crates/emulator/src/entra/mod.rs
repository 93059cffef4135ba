//! Emulated Microsoft Entra ID: discovery, JWKS, authorize pages and the token endpoint,
//! v1 and v2.

pub mod authorize;
pub mod device_code;
pub mod discovery;
pub mod error;
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
    .route("/{tenant}/login", web::post().to(authorize::login))
    .route("/{tenant}/mfa", web::post().to(authorize::mfa))
    .route("/{tenant}/consent", web::post().to(authorize::consent));
}
