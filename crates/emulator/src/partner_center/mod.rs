//! Partner Center REST API (`https://api.partnercenter.microsoft.com` stand-in) under
//! `/partnercenter/v1/`: customers (seek paging with `links.next` and `MS-ContinuationToken`,
//! `filter`), a customer's users and subscriptions, and application consents (CPV onboarding)
//! (docs/microsoft-behaviour.md §5).
//!
//! How a request flows: [`authenticate`] validates the bearer token (Partner Center audience;
//! App+User tokens need `user_impersonation`, `mfa` in `amr` and an Admin Agent; app-only
//! where the operation allows it; the token's tenant must be a partner), the rate limits of
//! [`crate::model::partner_data::PartnerCenterSettings`] apply, then the handler reads or changes
//! [`State`]. Every response echoes `MS-RequestId` / `MS-CorrelationId`; errors use Partner
//! Center's `{code, description, data, source}` shape and 429s `{statusCode, message}`.

pub mod consents;
pub mod customers;

pub use crate::caller::Caller;
use crate::model::resources::ResourceKind;
use crate::model::seed::TenantKind;
use crate::model::state::State;
use crate::model::tokens::TokenRejection;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

/// Partner Center routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/partnercenter/v1")
            .route("/customers", web::get().to(customers::list))
            .route("/customers/{id}", web::get().to(customers::get))
            .route("/customers/{id}/users", web::get().to(customers::users))
            .route(
                "/customers/{id}/subscriptions",
                web::get().to(customers::subscriptions),
            )
            .route(
                "/customers/{id}/applicationconsents",
                web::post().to(consents::create),
            )
            .route(
                "/customers/{id}/applicationconsents/{app}",
                web::delete().to(consents::delete),
            )
            .default_service(web::to(unknown_route)),
    );
}

async fn unknown_route(req: HttpRequest) -> HttpResponse {
    let e = PcError::new(
        StatusCode::NOT_FOUND,
        1000,
        format!(
            "The resource {} {} was not found.",
            req.method(),
            req.path()
        ),
    );
    finish(&req, Err(e))
}

/// A Partner Center error.
#[derive(Debug, Clone)]
pub struct PcError {
    /// HTTP status.
    pub status: StatusCode,
    /// `code` (a number on the wire).
    pub code: u32,
    /// `description`.
    pub description: String,
    /// `Retry-After` seconds, for 429.
    pub retry_after: Option<u64>,
}

impl PcError {
    /// A new error.
    pub fn new(status: StatusCode, code: u32, description: impl Into<String>) -> Self {
        PcError {
            status,
            code,
            description: description.into(),
            retry_after: None,
        }
    }
    /// 401 for a missing or invalid token.
    pub fn unauthorized(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 401, description)
    }
    /// 403 access denied (2032).
    pub fn denied(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, 2032, description)
    }
    /// 400 invalid property (3000).
    pub fn invalid(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 3000, description)
    }
    /// 429 with `Retry-After`.
    pub fn throttled(retry_after: u64) -> Self {
        PcError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: 429,
            description: String::new(),
            retry_after: Some(retry_after),
        }
    }
    fn body(&self) -> Value {
        match self.retry_after {
            Some(secs) => {
                json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {secs} seconds.")})
            }
            None => {
                json!({"code": self.code, "description": self.description, "data": [], "source": "PartnerFD"})
            }
        }
    }
}

/// Handler result.
pub type PcResult = Result<HttpResponse, PcError>;

fn header_guid(req: &HttpRequest, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| uuid::Uuid::parse_str(v).is_ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

/// Answer with the request/correlation IDs echoed (new GUIDs when the client sent none).
pub fn finish(req: &HttpRequest, result: PcResult) -> HttpResponse {
    let request_id = header_guid(req, "ms-requestid");
    let correlation_id = header_guid(req, "ms-correlationid");
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(
                http.status = e.status.as_u16(),
                pc.code = e.code,
                path = req.path(),
                "partner center request refused"
            );
            let mut b = HttpResponse::build(e.status);
            b.content_type("application/json; charset=utf-8");
            if let Some(secs) = e.retry_after {
                b.insert_header(("retry-after", secs.to_string()));
            }
            if e.status == StatusCode::UNAUTHORIZED {
                b.insert_header(("www-authenticate", "OAuth realm=urn:cpsvc:cpid:emulator"));
            }
            b.body(e.body().to_string())
        }
    };
    let headers = resp.headers_mut();
    for (name, value) in [
        ("ms-requestid", request_id),
        ("ms-correlationid", correlation_id),
        ("ms-cv", "emulator.0".to_string()),
        ("ms-serverid", "partnercenter-emulator".to_string()),
    ] {
        if let Ok(v) = value.parse() {
            headers.insert(actix_web::http::header::HeaderName::from_static(name), v);
        }
    }
    resp
}

/// Whether an operation accepts app-only tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// App+User or App-only.
    AppOrUser,
    /// App+User only.
    UserOnly,
}

/// Validate the bearer token for Partner Center and identify the caller ([`Caller`], the
/// bearer-token extractor every API shares); the token's tenant ([`Caller::tenant`]) is the
/// partner.
pub fn authenticate(state: &State, req: &HttpRequest, auth: Auth) -> Result<Caller, PcError> {
    let caller = Caller::identify(state, req, ResourceKind::PartnerCenter).map_err(|e| match e {
        TokenRejection::Missing => PcError::unauthorized("Unauthorized: the request has no bearer token."),
        TokenRejection::Audience(aud) => PcError::unauthorized(format!("Unauthorized: the token's audience '{aud}' is not the Partner Center API (https://api.partnercenter.microsoft.com).")),
        TokenRejection::Expired => PcError::unauthorized("Unauthorized: the access token has expired."),
        other => PcError::unauthorized(format!("Unauthorized: {other}.")),
    })?;
    let token = &caller.token;
    if caller.tenant_kind != Some(TenantKind::Partner) {
        return Err(PcError::denied(format!(
            "Access denied: the token's tenant '{}' is not a partner enrolled in Partner Center.",
            token.tenant_id
        )));
    }
    if token.is_app_only {
        if auth == Auth::UserOnly {
            return Err(PcError::denied(
                "Access denied: this operation supports App+User authentication only; app-only tokens are not accepted.",
            ));
        }
        return Ok(caller);
    }
    if !token
        .scopes
        .iter()
        .any(|s| s.eq_ignore_ascii_case("user_impersonation"))
    {
        return Err(PcError::denied(
            "Access denied: the token lacks the user_impersonation permission of the Partner Center API.",
        ));
    }
    if !token.has_mfa() {
        // Enforced for all App+User calls since April 2026; the real answer is 401 / 900421.
        return Err(PcError::new(
            StatusCode::UNAUTHORIZED,
            900_421,
            "Unauthorized - MFA required: the access token carries no multi-factor authentication claim ('mfa' in 'amr'). Sign in again with multi-factor authentication.",
        ));
    }
    let Some(user) = &caller.user else {
        return Err(PcError::unauthorized(
            "Unauthorized: the token's user does not exist.",
        ));
    };
    if !user.admin_agent && !user.is_global_admin() {
        return Err(PcError::denied(format!(
            "Access denied: the user '{}' holds no Partner Center role that allows this operation (Admin agent).",
            user.upn
        )));
    }
    Ok(caller)
}

/// Apply a sliding-window limit; 429 with `Retry-After` when exceeded.
pub fn rate_limit(state: &State, key: &str, limit: u32, window_secs: u64) -> Result<(), PcError> {
    let now_ms = state.now_datetime().unix_timestamp_nanos() / 1_000_000;
    let now_ms = i64::try_from(now_ms).unwrap_or(i64::MAX / 2);
    match state
        .partner
        .lock()
        .rate_limit(key, limit, window_secs, now_ms)
    {
        Some(retry_after) => Err(PcError::throttled(retry_after)),
        None => Ok(()),
    }
}
