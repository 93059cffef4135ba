//! The HTML pages the emulator serves: Entra's sign-in, MFA, consent and error pages, the
//! `form_post` auto-submit page, and the device-login pages. Askama templates under
//! `templates/` (escaped HTML), as the consent web app renders its own.
//!
//! Test suites and [`crate::browser`] walk these pages by their form `action`s, `id`s and
//! field names, so those stay as they are.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_SECURITY_POLICY, HeaderValue, X_FRAME_OPTIONS};
use askama::Template;

/// Headers of Entra's sign-in pages: the inline style and the `form_post` script run, a form
/// may post to the app's redirect URI, and no other site may frame the page.
const SIGN_IN_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action *; script-src 'unsafe-inline'";
/// The device-login pages post only to themselves.
const DEVICE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'";

/// The sign-in request a page belongs to: its forms post back under the authorize URL's tenant
/// segment, carrying the pending request's ID.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending<'a> {
    /// Tenant segment of the authorize URL.
    pub tenant: &'a str,
    /// The pending request.
    pub flow_id: &'a str,
}

/// The page Entra shows instead of redirecting (unknown client, bad redirect URI…).
#[derive(Debug, Template)]
#[template(path = "signin_error.html")]
pub(crate) struct SignInError<'a> {
    /// The AADSTS number.
    pub code: u32,
    /// Entra's message.
    pub message: &'a str,
    /// The OAuth `error`.
    pub error: &'a str,
}

/// The sign-in page (user name and password).
#[derive(Debug, Template)]
#[template(path = "signin.html")]
pub(crate) struct SignIn<'a> {
    /// The request the form posts back to.
    pub pending: Pending<'a>,
    /// User name to pre-fill.
    pub login: &'a str,
    /// Why the last attempt failed.
    pub error: Option<&'a str>,
}

/// The MFA page (one-time code).
#[derive(Debug, Template)]
#[template(path = "mfa.html")]
pub(crate) struct Mfa<'a> {
    /// The request the form posts back to.
    pub pending: Pending<'a>,
    /// Why the last attempt failed.
    pub error: Option<&'a str>,
}

/// One requested permission, as the consent pages list it.
#[derive(Debug)]
pub(crate) struct PermissionLine<'a> {
    /// Resource app ID.
    pub resource: &'a str,
    /// Scope value.
    pub scope: &'a str,
    /// What the scope allows.
    pub description: &'a str,
    /// Resource display name.
    pub resource_name: &'a str,
}

/// The consent page.
#[derive(Debug, Template)]
#[template(path = "consent.html")]
pub(crate) struct Consent<'a> {
    /// App display name.
    pub app: &'a str,
    /// Publisher domain, or "unverified".
    pub publisher: &'a str,
    /// Application (client) ID.
    pub app_id: &'a str,
    /// The request the form posts back to.
    pub pending: Pending<'a>,
    /// What the app asks for.
    pub permissions: &'a [PermissionLine<'a>],
    /// An admin consents for the whole organization.
    pub for_organization: bool,
}

/// The page a user who may not consent to admin-only permissions sees.
#[derive(Debug, Template)]
#[template(path = "need_admin.html")]
pub(crate) struct NeedAdmin<'a> {
    /// App display name.
    pub app: &'a str,
    /// The request the form posts back to.
    pub pending: Pending<'a>,
    /// What the app asks for.
    pub permissions: &'a [PermissionLine<'a>],
}

/// `response_mode=form_post`: the page that posts the response to the redirect URI.
#[derive(Debug, Template)]
#[template(path = "form_post.html")]
pub(crate) struct FormPost<'a> {
    /// The redirect URI.
    pub action: &'a str,
    /// The response parameters.
    pub fields: &'a [(String, String)],
}

/// `GET /devicelogin`: the code and sign-in form.
#[derive(Debug, Template)]
#[template(path = "device_code.html")]
pub(crate) struct DeviceCodeForm;

/// The device-login consent page.
#[derive(Debug, Template)]
#[template(path = "device_consent.html")]
pub(crate) struct DeviceConsent<'a> {
    /// App display name.
    pub app: &'a str,
    /// The requested scopes.
    pub scopes: Vec<&'a str>,
    /// The code the user entered.
    pub user_code: &'a str,
}

/// A device-login page with one message: an error, or how it ended.
#[derive(Debug, Template)]
#[template(path = "device_message.html")]
pub(crate) struct DeviceMessage<'a> {
    /// Title and heading.
    pub title: &'a str,
    /// The message.
    pub message: &'a str,
    /// `id` of the message paragraph (errors always have `error`).
    pub id: Option<&'a str>,
    /// Whether the message is an error.
    pub is_error: bool,
}

impl<'a> DeviceMessage<'a> {
    /// An error message (`<p class="error" id="error">`).
    pub(crate) fn error(title: &'a str, message: &'a str) -> Self {
        DeviceMessage {
            title,
            message,
            id: None,
            is_error: true,
        }
    }

    /// A plain message, with an `id` when tests look for it.
    pub(crate) fn info(title: &'a str, message: &'a str, id: Option<&'a str>) -> Self {
        DeviceMessage {
            title,
            message,
            id,
            is_error: false,
        }
    }
}

/// A sign-in page (or the error page instead of one).
pub(crate) fn sign_in(status: StatusCode, page: &impl Template) -> HttpResponse {
    framed(render(status, page), SIGN_IN_CSP)
}

/// A device-login page.
pub(crate) fn device(status: StatusCode, page: &impl Template) -> HttpResponse {
    framed(render(status, page), DEVICE_CSP)
}

/// Adds the headers of an interactive page: no framing, and `csp`.
fn framed(mut response: HttpResponse, csp: &'static str) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    response
}

/// Renders a template as an uncached HTML response. A render failure (a bug) gives an opaque
/// 500; the log keeps the cause.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("cache-control", "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Internal error")
        }
    }
}
