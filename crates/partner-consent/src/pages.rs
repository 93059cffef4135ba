//! The pages (askama templates under `templates/`, escaped HTML) and the failures they explain.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use askama::Template;

use crate::session::SessionError;

/// One permission shown on the landing page (the SAM rules live in `common::rules`).
pub use common::rules::Permission;

/// The permissions the SAM application asks for (Partner Center "Secure Application Model").
pub const PERMISSIONS: [Permission; 3] = common::rules::PERMISSIONS;

/// `/`.
#[derive(Debug, Template)]
#[template(path = "landing.html")]
pub struct Landing<'a> {
    /// Application display name.
    pub app_name: &'a str,
    /// Application (client) ID.
    pub client_id: &'a str,
    /// Permissions.
    pub permissions: &'a [Permission],
    /// Who may consent, one sentence (depends on CSP / CPV mode).
    pub who: String,
    /// Host of the sign-in page.
    pub signin_host: String,
    /// A consent started in this browser and not finished: when, in words ("3 minutes ago").
    pub in_progress: Option<String>,
    /// The sign-in cannot ask for MFA (v2): a Conditional Access policy must require it.
    pub mfa_by_policy_only: bool,
}

/// `/start` while a consent started in this browser is still open: keep it, or start over.
#[derive(Debug, Template)]
#[template(path = "in_progress.html")]
pub struct InProgress<'a> {
    /// Application display name.
    pub app_name: &'a str,
    /// When it was started, in words ("3 minutes ago").
    pub started: String,
}

/// "just now", "1 minute ago", "7 minutes ago".
pub fn minutes_ago(seconds: i64) -> String {
    match seconds / 60 {
        ..=0 => "just now".to_owned(),
        1 => "1 minute ago".to_owned(),
        m => format!("{m} minutes ago"),
    }
}

/// The success page.
#[derive(Debug, Template)]
#[template(path = "success.html")]
pub struct Success<'a> {
    /// Application display name.
    pub app_name: &'a str,
    /// Partner tenant ID (`tid`).
    pub tenant_id: &'a str,
    /// UPN or name of the admin.
    pub user: &'a str,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// Whether `amr` holds `mfa`.
    pub mfa: bool,
    /// Result of the Partner Center check, in words.
    pub check: &'a str,
    /// Partner Center's own MFA check of the new token (the call made before storing it).
    pub partner_center_mfa: bool,
}

/// What Entra ID put in an error redirect, shown escaped.
#[derive(Debug, Clone)]
pub struct EntraDetail {
    /// `error`.
    pub error: String,
    /// `error_description`.
    pub description: String,
}

/// A failure page.
#[derive(Debug, Template)]
#[template(path = "failure.html")]
pub struct FailurePage<'a> {
    /// Application display name.
    pub app_name: &'a str,
    /// Heading.
    pub title: &'a str,
    /// What happened.
    pub what: &'a str,
    /// What to do.
    pub todo: &'a str,
    /// Entra's own words, if it sent any.
    pub entra: Option<EntraDetail>,
    /// Offer a link back to `/`.
    pub show_restart: bool,
}

/// The self-posting page that turns a cross-site `form_post` into a same-site POST.
#[derive(Template)]
#[template(path = "repost.html")]
pub struct Repost<'a> {
    /// Application display name.
    pub app_name: &'a str,
    /// The callback path.
    pub action: &'a str,
    /// The fields Entra posted.
    pub fields: Vec<(String, String)>,
    /// The marker field saying "already re-posted once".
    pub marker: &'a str,
}

impl std::fmt::Debug for Repost<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The fields hold the authorization code: never printed.
        f.debug_struct("Repost")
            .field("action", &self.action)
            .field("fields", &self.fields.len())
            .finish_non_exhaustive()
    }
}

/// Why a consent callback failed. Each variant is one page, one status and one metric reason.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The callback carried malformed, oversized or duplicated parameters.
    Malformed,
    /// The pending-consent cookie is missing, forged or expired.
    Session(SessionError),
    /// No `state` in the callback.
    MissingState,
    /// `state` differs from the cookie's.
    StateMismatch,
    /// Entra ID redirected back with `error=`.
    Entra(EntraDetail),
    /// Neither `code` nor `error`.
    MissingCode,
    /// Entra refused the code (replayed, expired, wrong verifier).
    CodeRejected(EntraDetail),
    /// Entra refused the grant because the sign-in did not use MFA (AADSTS50076/50079).
    MfaRequired(EntraDetail),
    /// The sign-in's tokens show no multi-factor authentication (`amr` without `mfa`), though
    /// Entra issued them: nothing was stored.
    NoMfa {
        /// Whether the sign-in request asked Entra for MFA (`amr_values=mfa`, v1). On v2 it
        /// cannot: only a policy makes Entra ask, so "sign in again" alone would loop.
        asked: bool,
    },
    /// Partner Center refused (or could not answer) a call made with the new consent's token:
    /// nothing was stored, and a grant stored before stays in use.
    PartnerCenterRefused {
        /// HTTP status Partner Center answered, if it answered.
        status: Option<u16>,
        /// Partner Center unreachable or throttling.
        transient: bool,
    },
    /// The ID token failed validation (signature, issuer, audience, nonce, expiry).
    IdToken,
    /// The tenant may not consent to this app (CSP: not the partner tenant; CPV: not allowed).
    TenantRefused {
        /// `tid` of the sign-in.
        tenant: String,
        /// CSP mode.
        is_csp: bool,
    },
    /// Entra ID could not be reached or answered unexpectedly.
    Upstream,
    /// The token store could not save the refresh token.
    Store,
    /// Key Vault refuses the name: the partner's secret is deleted but recoverable (Key Vault's
    /// 409 `ObjectIsDeletedButRecoverable`); waiting does not help, the operator must act.
    StoreDeletedSecret,
    /// The store holds another grant for the partner, written at the same moment (by another
    /// instance): this consent is not the one in use.
    NotRecorded,
}

impl Failure {
    /// The stable reason label (`/metrics`, logs).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed_request",
            Self::Session(SessionError::Missing) => "cookie_missing",
            Self::Session(SessionError::Invalid) => "cookie_invalid",
            Self::Session(SessionError::Expired) => "cookie_expired",
            Self::MissingState => "state_missing",
            Self::StateMismatch => "state_mismatch",
            Self::Entra(d) => entra_reason(&d.error),
            Self::MissingCode => "code_missing",
            Self::CodeRejected(_) => "code_rejected",
            Self::MfaRequired(_) | Self::NoMfa { .. } => "mfa_required",
            Self::PartnerCenterRefused {
                transient: true, ..
            } => "partner_center_unavailable",
            Self::PartnerCenterRefused { .. } => "partner_center_refused",
            Self::IdToken => "id_token_invalid",
            Self::TenantRefused { .. } => "tenant_refused",
            Self::Upstream => "entra_unavailable",
            Self::Store => "store_failed",
            Self::StoreDeletedSecret => "store_secret_deleted",
            Self::NotRecorded => "not_recorded",
        }
    }

    /// The HTTP status of the page.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Entra(d) if d.error == "access_denied" => StatusCode::FORBIDDEN,
            Self::Entra(d)
                if matches!(d.error.as_str(), "server_error" | "temporarily_unavailable") =>
            {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::TenantRefused { .. }
            | Self::MfaRequired(_)
            | Self::NoMfa { .. }
            | Self::PartnerCenterRefused {
                transient: false, ..
            } => StatusCode::FORBIDDEN,
            Self::PartnerCenterRefused { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream => StatusCode::BAD_GATEWAY,
            Self::Store | Self::StoreDeletedSecret => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotRecorded => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn texts(&self) -> (&'static str, String, String) {
        const RESTART: &str = "Go back to the start page and select \u{201c}Grant consent\u{201d} again, in the same browser, within ten minutes.";
        match self {
            Self::Malformed => (
                "The sign-in response was not understood",
                "The request that came back to this page was malformed or too large, so it was ignored.".into(),
                RESTART.into(),
            ),
            Self::Session(SessionError::Missing) => (
                "Your browser did not keep the sign-in cookie",
                "This page needs the short-lived cookie it set when you selected \u{201c}Grant consent\u{201d}, and your browser did not send it back. That happens when cookies are blocked for this site, when sign-in finished in another browser or window, or when the link was not started from this page.".into(),
                "Allow cookies for this site, then start again from the start page in the same browser window.".into(),
            ),
            Self::Session(SessionError::Invalid) => (
                "The sign-in cookie is not valid",
                "The cookie your browser sent was not issued by this service (or the service was restarted with a new key), so the response cannot be trusted.".into(),
                RESTART.into(),
            ),
            Self::Session(SessionError::Expired) | Self::MissingState | Self::StateMismatch => (
                "This sign-in response does not belong to your session",
                match self {
                    Self::Session(_) => "The sign-in took longer than ten minutes, so its response is no longer accepted.".into(),
                    Self::MissingState => "The response carried no state value, so it cannot be matched to a sign-in started here.".into(),
                    _ => "The response's state value does not match the sign-in started in this browser. It may be an old or forged link, or a sign-in started in another tab.".into(),
                },
                RESTART.into(),
            ),
            Self::Entra(d) => entra_texts(&d.error),
            Self::MissingCode => (
                "The sign-in response carried no authorization code",
                "Microsoft Entra ID came back without a code or an error, so there is nothing to redeem.".into(),
                RESTART.into(),
            ),
            Self::CodeRejected(_) => (
                "This sign-in has already been used or has expired",
                "Microsoft Entra ID refused to exchange the authorization code: a code works once and only for a few minutes. An old link, or a reload that reached another instance of this service after the first attempt was interrupted, causes this; that first attempt may have stored the consent.".into(),
                format!("{RESTART} Starting again is safe: a new consent replaces the stored one."),
            ),
            Self::MfaRequired(_) => (
                "Multi-factor authentication is required",
                "You signed in without multi-factor authentication, and Partner Center accepts only sign-ins that used it, so Microsoft Entra ID refused to issue the token. Nothing was stored.".into(),
                "Set up multi-factor authentication for this account (Microsoft Entra ID security defaults or a Conditional Access policy), then start again and complete the verification step when asked.".into(),
            ),
            Self::NoMfa { asked: true } => (
                "Multi-factor authentication is required",
                "You signed in without multi-factor authentication, and Partner Center accepts only sign-ins that used it. Nothing was stored: the consent given before, if any, stays in use.".into(),
                "Set up multi-factor authentication for this account (Microsoft Entra ID security defaults or a Conditional Access policy), then start again and complete the verification step when asked.".into(),
            ),
            Self::NoMfa { asked: false } => (
                "Multi-factor authentication is required",
                "You signed in without multi-factor authentication, and Partner Center accepts only sign-ins that used it. This sign-in uses Microsoft Entra ID's v2.0 endpoint, which cannot ask for MFA: Entra asks only when a policy demands it. Nothing was stored: the consent given before, if any, stays in use.".into(),
                "Signing in again will not help until an administrator of your tenant adds a Conditional Access policy (or turns on security defaults) that requires multi-factor authentication for the admin agents; then start again.".into(),
            ),
            Self::PartnerCenterRefused { status, transient } => partner_center_texts(*status, *transient),
            Self::IdToken => (
                "The sign-in could not be verified",
                "The identity token from Microsoft Entra ID failed validation (signature, issuer, audience, nonce or lifetime), so the sign-in was not accepted and nothing was stored.".into(),
                format!("{RESTART} If it happens again, ask the operator of this service to check the authority and application settings."),
            ),
            Self::TenantRefused { tenant, is_csp } => (
                "This organization may not grant consent here",
                if *is_csp {
                    format!("You signed in with an account of tenant {tenant}, but this service accepts consent only from its own partner tenant. Nothing was stored.")
                } else {
                    format!("You signed in with an account of tenant {tenant}, which is not on this service's list of partner tenants. Nothing was stored.")
                },
                "Sign out of Microsoft, then start again and sign in with an administrator account of the partner tenant (a Global Administrator in the Admin Agents group).".into(),
            ),
            Self::Upstream => (
                "Microsoft Entra ID could not be reached",
                "The sign-in succeeded, but exchanging it for tokens failed because Microsoft Entra ID did not answer as expected. Nothing was stored.".into(),
                "Wait a minute, then start again. If it keeps failing, ask the operator of this service to check its logs.".into(),
            ),
            Self::Store => (
                "The consent could not be saved",
                "The sign-in succeeded, but the token store could not save the result, so the consent is not in effect. Nothing was shown or kept elsewhere.".into(),
                "Wait a minute, then start again. If it keeps failing, ask the operator of this service to check the token store (Key Vault access or the local store file).".into(),
            ),
            Self::StoreDeletedSecret => (
                "The consent could not be saved",
                "The sign-in succeeded, but the key vault refuses to save it: the secret this service keeps this partner's consent in was deleted and is still in the vault's recycle bin (soft delete), so its name cannot be written. Nothing was stored, and waiting will not change it.".into(),
                "Ask the operator of this service to recover or purge the deleted secret (the service's log names it and gives the command), then start again.".into(),
            ),
            Self::NotRecorded => (
                "This consent was not recorded",
                "The sign-in succeeded, but at the same moment another consent for this partner was stored (through another instance of this service), and that one is in use, not this one.".into(),
                "Usually nothing: the other consent works. The operator can check it (csp-app status, or cpv-app partners list); start again only if it does not work.".into(),
            ),
        }
    }

    /// The page explaining this failure.
    pub fn render(&self, app_name: &str) -> HttpResponse {
        let (title, what, todo) = self.texts();
        let entra = match self {
            Self::Entra(d) | Self::CodeRejected(d) | Self::MfaRequired(d) => Some(d.clone()),
            _ => None,
        };
        let page = FailurePage {
            app_name,
            title,
            what: &what,
            todo: &todo,
            entra,
            show_restart: true,
        };
        html(self.status(), &page)
    }
}

fn partner_center_texts(status: Option<u16>, transient: bool) -> (&'static str, String, String) {
    const KEPT: &str = "Nothing was stored: the consent given before, if any, stays in use.";
    if transient {
        return (
            "Partner Center could not be reached",
            format!(
                "The sign-in succeeded, but this service checks every new consent with a Partner Center call before storing it, and Partner Center did not answer. {KEPT}"
            ),
            "Wait a few minutes, then start again.".into(),
        );
    }
    match status {
        Some(403) => (
            "This account has no Partner Center role",
            format!("The sign-in succeeded, but Partner Center refused a call made with it: the account holds no Partner Center role that allows it (Admin Agent). {KEPT}"),
            "Sign out of Microsoft, then start again with an account of the partner tenant that is an Admin Agent in Partner Center (Partner Center > Account settings > User management).".into(),
        ),
        Some(401) => (
            "Partner Center refused this sign-in",
            format!("The sign-in succeeded, but Partner Center refused a call made with it (it requires multi-factor authentication). {KEPT}"),
            "Start again and complete the multi-factor authentication step when asked.".into(),
        ),
        _ => (
            "Partner Center refused this consent",
            format!("The sign-in succeeded, but a Partner Center call made with it failed. {KEPT}"),
            "Check that the partner tenant is enrolled in Partner Center, then start again. If it keeps failing, ask the operator of this service to check its logs.".into(),
        ),
    }
}

fn entra_reason(error: &str) -> &'static str {
    match error {
        "access_denied" => "access_denied",
        "consent_required" => "consent_required",
        "interaction_required" | "login_required" => "interaction_required",
        "invalid_resource" => "invalid_resource",
        "unauthorized_client" => "unauthorized_client",
        "server_error" | "temporarily_unavailable" => "entra_unavailable",
        _ => "entra_error",
    }
}

fn entra_texts(error: &str) -> (&'static str, String, String) {
    match error {
        "access_denied" => (
            "Consent was not granted",
            "The sign-in was cancelled or the permissions were declined, so the application has no access and nothing was stored.".into(),
            "If this was a mistake, start again and select Accept on Microsoft's permissions page. Only a Global Administrator can approve these permissions for the organization.".into(),
        ),
        "consent_required" | "interaction_required" | "login_required" => (
            "Microsoft Entra ID needs you to approve the application",
            "The sign-in could not finish without your approval or another sign-in step.".into(),
            "Start again and complete every step Microsoft asks for, including multi-factor authentication and the permissions page.".into(),
        ),
        "invalid_resource" | "unauthorized_client" | "invalid_request" | "unsupported_response_type" => (
            "The application is not set up correctly",
            "Microsoft Entra ID refused the sign-in request because of how the application is registered or configured.".into(),
            "Tell the operator of this service; the details below say what Entra ID found wrong.".into(),
        ),
        "server_error" | "temporarily_unavailable" => (
            "Microsoft Entra ID is temporarily unavailable",
            "Microsoft's sign-in service reported a temporary problem.".into(),
            "Wait a few minutes, then start again.".into(),
        ),
        _ => (
            "Microsoft Entra ID reported an error",
            "The sign-in did not complete, so nothing was stored.".into(),
            "Start again. If it keeps failing, tell the operator of this service; the details below say what Entra ID reported.".into(),
        ),
    }
}

/// Renders a template as an HTML response with a status. A render failure (a bug) gives an
/// opaque 500; the log keeps the cause.
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            HttpResponse::InternalServerError()
                .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body("Internal error")
        }
    }
}
