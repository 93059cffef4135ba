//! The redirect URL (`/callback` by default): Entra ID sends the browser back here with `code` and
//! `state` (`response_mode=query`, a GET) or posts them (`response_mode=form_post`).
//!
//! Order of checks, each failing safely with a page and nothing stored:
//! 1. parameters: size and count limits, no duplicated protocol parameter;
//! 2. the pending-consent cookie: present, decrypts with our key, younger than ten minutes;
//! 3. `state` equals the cookie's (constant time) — only then is anything Entra sent believed;
//! 4. an `error` redirect renders its page (Entra's text escaped);
//! 5. in the hybrid flow (v1's default, `consent.sign_in_flow = "hybrid"`), the signed
//!    `id_token` of the response is validated first (signature from the authority's keys,
//!    issuer, audience, expiry, nonce, `c_hash` of the code); then the broker redeems `code`
//!    (once) with the PKCE verifier, validates the token endpoint's ID token (the same `tid` and
//!    `oid`; in the code flow it is the identity, nonce included), applies the CSP/CPV tenant rule, requires
//!    MFA, calls Partner Center with the new token, and only then stores it — a consent that
//!    fails a check leaves the grant stored before untouched;
//! 6. one refresh-token redemption for Partner Center proves the stored token works.
//!
//! `SameSite=Lax` cookies are not sent on a cross-site POST, so a `form_post` response from Entra
//! arrives without the cookie. Such a POST gets a page that re-posts the same fields from this
//! origin (a same-site POST, which carries the cookie) via `/assets/autopost.js` — the CSP allows
//! no inline script. The marker field stops a second round.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use common::cloud::Resource;
use common::config::SignInFlow;
use common::entra::{EntraError, IdToken, IdTokenError, TokenTarget};
use common::remedy::Remedy;
use common::secret::AuthCode;
use common::tokens::BrokerError;
use futures::StreamExt;

use crate::pages::{self, EntraDetail, Failure, Repost, Success};
use crate::session::{PendingConsent, cookie_name, removal_cookie};
use crate::startup::{AppState, unix_now};

/// Largest query string or form body accepted (an Entra code is ~1–2 KB, an ID token ~2 KB).
pub const MAX_PARAMS_BYTES: usize = 16 * 1024;
/// Largest single value.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;
/// Most parameters accepted.
pub const MAX_PARAMS: usize = 24;
/// Field added by the re-post page.
pub const REPOST_MARKER: &str = "sam_reposted";

/// Protocol parameters that may appear once (RFC 6749 §4.1.2, §4.1.2.1; Entra extras).
const KNOWN: [&str; 10] = [
    "code",
    "state",
    "error",
    "error_description",
    "error_uri",
    "session_state",
    "id_token",
    "admin_consent",
    "client_info",
    REPOST_MARKER,
];

/// What the callback carried.
#[derive(Debug, Default)]
struct Params {
    code: Option<String>,
    state: Option<String>,
    id_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    reposted: bool,
    /// Every known field but the marker, for the re-post page.
    fields: Vec<(String, String)>,
}

fn parse(raw: &str) -> Result<Params, Failure> {
    if raw.len() > MAX_PARAMS_BYTES {
        return Err(Failure::Malformed);
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw).map_err(|_| Failure::Malformed)?;
    if pairs.len() > MAX_PARAMS {
        return Err(Failure::Malformed);
    }
    let mut p = Params::default();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &pairs {
        if value.len() > MAX_VALUE_BYTES || name.len() > 64 {
            return Err(Failure::Malformed);
        }
        // Unknown parameters are ignored: Entra adds new ones over time.
        let Some(known) = KNOWN.iter().find(|k| **k == name) else {
            continue;
        };
        if seen.contains(known) {
            return Err(Failure::Malformed);
        }
        seen.push(known);
        let value = Some(value.clone()).filter(|v| !v.is_empty());
        match *known {
            "code" => p.code = value,
            "state" => p.state = value,
            "id_token" => p.id_token = value,
            "error" => p.error = value,
            "error_description" => p.error_description = value,
            REPOST_MARKER => {
                p.reposted = true;
                continue;
            }
            _ => {}
        }
        p.fields.push((name.clone(), value_or_empty(&pairs, name)));
    }
    Ok(p)
}

fn value_or_empty(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// `GET /callback` (`response_mode=query`).
pub async fn callback_get(app: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let raw = req.query_string().to_owned();
    finish(app, &req, &raw).await
}

/// `POST /callback` (`response_mode=form_post`).
pub async fn callback_post(
    app: web::Data<AppState>,
    req: HttpRequest,
    mut body: web::Payload,
) -> HttpResponse {
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return fail(&app, &Failure::Malformed, false);
        };
        if bytes.len() + chunk.len() > MAX_PARAMS_BYTES {
            return fail(&app, &Failure::Malformed, false);
        }
        bytes.extend_from_slice(&chunk);
    }
    let Ok(raw) = std::str::from_utf8(&bytes) else {
        return fail(&app, &Failure::Malformed, false);
    };
    finish(app, &req, raw).await
}

async fn finish(data: web::Data<AppState>, req: &HttpRequest, raw: &str) -> HttpResponse {
    let app = data.get_ref();
    let params = match parse(raw) {
        Ok(p) => p,
        Err(f) => return fail(app, &f, false),
    };
    let cookie = req.cookie(cookie_name(app.secure_cookies));
    let had_cookie = cookie.is_some();
    if cookie.is_none() && req.method() == Method::POST && !params.reposted {
        return repost(app, params.fields);
    }
    let pending = match PendingConsent::from_cookie(cookie, &app.cookie_key, unix_now()) {
        Ok(p) => p,
        Err(e) => return fail(app, &Failure::Session(e), had_cookie),
    };
    let Some(state) = params.state.as_deref() else {
        return fail(app, &Failure::MissingState, false);
    };
    if !pending.state_matches(state) {
        // Keep the cookie: a cross-site link with a forged `state` must not cancel the
        // consent in progress in this browser.
        return fail(app, &Failure::StateMismatch, false);
    }
    if let Some(error) = params.error {
        let detail = EntraDetail {
            error,
            description: params.error_description.unwrap_or_default(),
        };
        return fail(app, &Failure::Entra(detail), true);
    }
    let Some(code) = params.code else {
        return fail(app, &Failure::MissingCode, true);
    };
    let s = &app.settings;
    let hybrid = s.consent.flow_for(s.entra.endpoint_version) == SignInFlow::Hybrid;
    // The hybrid flow's identity is its signed ID token: a response without one (a code
    // pasted into another request) is refused before the code is redeemed.
    let front = match (hybrid, params.id_token) {
        (true, None) => {
            tracing::warn!("hybrid sign-in answered without an ID token");
            return fail(app, &Failure::IdToken, true);
        }
        (true, Some(t)) => Some(IdToken::new(t)),
        (false, _) => None,
    };
    // Run to its end even when the browser goes away (crate::outcomes); a reload gets its page.
    let work = data.clone();
    let code = AuthCode::new(code);
    app.outcomes
        .once(state, move || async move {
            complete(&work, pending, code, front).await
        })
        .await
}

async fn complete(
    app: &AppState,
    pending: PendingConsent,
    code: AuthCode,
    front: Option<IdToken>,
) -> HttpResponse {
    let s = &app.settings;
    let target =
        TokenTarget::delegated(&s.cloud, s.entra.endpoint_version, Resource::PartnerCenter)
            .unwrap_or_else(|| TokenTarget::Resource(String::new()));
    let authorization = pending.into_authorization(
        app.broker
            .entra()
            .authorize_endpoint(&s.entra.authority_tenant),
        &s.entra.authority_tenant,
        &s.consent.redirect_url,
        target,
    );
    let record = match app
        .broker
        .store_consent_with(code, front.as_ref(), &authorization)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let failure = failure_of(app, &e);
            // The code was redeemed when a check after the redemption failed.
            if !matches!(
                failure,
                Failure::TenantRefused { .. }
                    | Failure::IdToken
                    | Failure::NoMfa { .. }
                    | Failure::PartnerCenterRefused { .. }
            ) {
                app.metrics.redeemed("authorization_code", "error");
            } else {
                app.metrics.redeemed("authorization_code", "ok");
            }
            tracing::warn!(reason = failure.reason(), error = %e, "consent failed");
            return fail(app, &failure, true);
        }
    };
    app.metrics.redeemed("authorization_code", "ok");
    let tenant = record.meta.tenant_id.clone();
    // One redemption for Partner Center proves the stored token works (and rotates it).
    let check = match app
        .broker
        .access_token(&tenant, Resource::PartnerCenter)
        .await
    {
        Ok(_) => {
            app.metrics.redeemed("refresh_token", "ok");
            "working: a Partner Center access token was obtained with the stored token (and Partner Center accepted a call made with this consent before it was stored)".to_owned()
        }
        Err(e) => {
            app.metrics.redeemed("refresh_token", "error");
            tracing::warn!(tenant.id = %tenant, error = %e, "the stored consent does not work for Partner Center");
            format!("failed: {}", e.remedy().hint())
        }
    };
    app.metrics.consented();
    tracing::info!(tenant.id = %tenant, mfa = record.meta.mfa, "consent completed");
    let user = record
        .user
        .upn
        .clone()
        .or_else(|| record.user.name.clone())
        .unwrap_or_else(|| record.user.object_id.clone());
    let time = time::OffsetDateTime::from_unix_timestamp(record.meta.consented_at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let page = Success {
        app_name: &s.app.display_name,
        tenant_id: &tenant,
        user: &user,
        time,
        mfa: record.meta.mfa,
        check: &check,
        partner_center_mfa: record.partner_center_mfa,
    };
    let mut resp = pages::html(StatusCode::OK, &page);
    drop(resp.add_cookie(&removal_cookie(app.secure_cookies)));
    resp
}

fn failure_of(app: &AppState, e: &BrokerError) -> Failure {
    match e {
        BrokerError::TenantNotAllowed { tenant, .. } => Failure::TenantRefused {
            tenant: tenant.clone(),
            is_csp: app.settings.mode == common::config::AppMode::Csp,
        },
        BrokerError::IdToken(IdTokenError::Discovery(_)) | BrokerError::Incomplete(_) => {
            Failure::Upstream
        }
        BrokerError::IdToken(_) => Failure::IdToken,
        BrokerError::Store(e) => store_failure(e),
        BrokerError::Config(_) => Failure::Store,
        BrokerError::NotRecorded { .. } => Failure::NotRecorded,
        BrokerError::ConsentWithoutMfa { .. } => Failure::NoMfa {
            asked: app.settings.entra.endpoint_version == common::config::EndpointVersion::V1,
        },
        BrokerError::ConsentNotVerified {
            status, transient, ..
        } => Failure::PartnerCenterRefused {
            status: *status,
            transient: *transient,
        },
        BrokerError::MfaRequired { source, .. } => match source.entra() {
            Some(entra) => Failure::MfaRequired(detail_of(entra)),
            None => Failure::Upstream,
        },
        BrokerError::Token(t) => match t.entra() {
            Some(entra) if entra.remedy() == Remedy::Mfa => Failure::MfaRequired(detail_of(entra)),
            Some(entra) if !entra.is_transient() => Failure::CodeRejected(detail_of(entra)),
            _ => Failure::Upstream,
        },
        _ => Failure::Upstream,
    }
}

/// A store failure, for the page: Key Vault's 409 `ObjectIsDeletedButRecoverable` (by its error
/// code) needs the operator, not a retry.
fn store_failure(e: &common::tokens::StoreError) -> Failure {
    match e {
        common::tokens::StoreError::KeyVault {
            status: Some(409),
            message,
            ..
        } if message.contains(common::keyvault::DELETED_BUT_RECOVERABLE) => {
            Failure::StoreDeletedSecret
        }
        _ => Failure::Store,
    }
}

fn detail_of(e: &EntraError) -> EntraDetail {
    EntraDetail {
        error: e.error.clone(),
        description: e.summary().to_owned(),
    }
}

fn fail(app: &AppState, failure: &Failure, clear_cookie: bool) -> HttpResponse {
    app.metrics.failed(failure.reason());
    tracing::info!(
        reason = failure.reason(),
        http.status = failure.status().as_u16(),
        "consent callback refused"
    );
    let mut resp = failure.render(&app.settings.app.display_name);
    if clear_cookie {
        drop(resp.add_cookie(&removal_cookie(app.secure_cookies)));
    }
    resp
}

fn repost(app: &AppState, fields: Vec<(String, String)>) -> HttpResponse {
    let page = Repost {
        app_name: &app.settings.app.display_name,
        action: &app.callback_path,
        fields,
        marker: REPOST_MARKER,
    };
    let mut resp = pages::html(StatusCode::OK, &page);
    resp.headers_mut().insert(
        CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::tokens::StoreError;

    #[test]
    fn a_deleted_but_recoverable_secret_gets_its_own_page_without_its_name() {
        let e = StoreError::KeyVault {
            operation: "set",
            name: "sam-rt-10000000".into(),
            status: Some(409),
            message: "Secret is currently in a deleted but recoverable state (ObjectIsDeletedButRecoverable)".into(),
        };
        let failure = store_failure(&e);
        assert!(matches!(failure, Failure::StoreDeletedSecret));
        assert_eq!(failure.status(), StatusCode::SERVICE_UNAVAILABLE);
        let (_, what, todo) = failure.texts();
        assert!(what.contains("recycle bin") && todo.contains("recover or purge"));
        assert!(!format!("{what}{todo}").contains("sam-rt-"));
        let other = StoreError::KeyVault {
            operation: "set",
            name: "sam-rt-10000000".into(),
            status: Some(503),
            message: "unavailable".into(),
        };
        assert!(matches!(store_failure(&other), Failure::Store));
    }

    #[test]
    fn parses_known_parameters_and_ignores_unknown_ones() {
        let p = parse("code=abc&state=xyz&session_state=s&foo=bar").unwrap();
        assert_eq!(p.code.as_deref(), Some("abc"));
        assert_eq!(p.state.as_deref(), Some("xyz"));
        assert_eq!(p.fields.len(), 3);
    }

    #[test]
    fn refuses_duplicated_oversized_or_too_many_parameters() {
        assert!(parse("state=a&state=b").is_err());
        assert!(parse(&format!("code={}", "a".repeat(MAX_VALUE_BYTES + 1))).is_err());
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert!(parse(&many.join("&")).is_err());
    }
}
