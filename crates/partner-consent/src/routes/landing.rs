//! `GET /`: what the app is, which permissions the admin approves, who may consent, one button.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use common::config::AppMode;

use crate::pages::{self, Landing, PERMISSIONS, minutes_ago};
use crate::routes::start::in_progress;
use crate::startup::{AppState, unix_now};

/// `GET /`
pub async fn landing(req: HttpRequest, app: web::Data<AppState>) -> HttpResponse {
    let s = &app.settings;
    let who = match (s.mode, s.partner.tenant_id.as_deref()) {
        (AppMode::Csp, Some(t)) => format!("Only an administrator of the partner tenant {t} may consent."),
        (AppMode::Csp, None) => "Only an administrator of this partner's own tenant may consent.".to_owned(),
        (AppMode::Cpv, _) if s.partner.allowed_tenants.iter().any(|t| t == "*") => {
            "An administrator of any CSP partner tenant may consent; each partner's consent is kept separately.".to_owned()
        }
        (AppMode::Cpv, _) => {
            "An administrator of one of the partner tenants this service is set up for may consent; each partner's consent is kept separately.".to_owned()
        }
    };
    let page = Landing {
        app_name: &s.app.display_name,
        client_id: &s.app.client_id,
        permissions: &PERMISSIONS,
        who,
        signin_host: s
            .entra
            .sign_in_host
            .as_ref()
            .unwrap_or(&s.cloud.authority_host)
            .host_str()
            .unwrap_or_default()
            .to_owned(),
        in_progress: in_progress(&req, &app).map(|open| minutes_ago(unix_now() - open.issued_at)),
        mfa_by_policy_only: s.entra.endpoint_version == common::config::EndpointVersion::V2,
    };
    pages::html(StatusCode::OK, &page)
}

/// Any other path: a plain 404 page (never a redirect, never an echo of the path).
pub async fn not_found(app: web::Data<AppState>) -> HttpResponse {
    let page = pages::FailurePage {
        app_name: &app.settings.app.display_name,
        title: "Page not found",
        what: "There is no page at this address.",
        todo: "Use the start page to grant consent.",
        entra: None,
        show_restart: true,
    };
    pages::html(StatusCode::NOT_FOUND, &page)
}
