//! The device authorization grant (RFC 8628) as Entra ID serves it: `POST
//! /{tenant}/oauth2/v2.0/devicecode` hands out a device code and a user code; the user enters
//! the code at `/devicelogin`, signs in (password, then the one-time code when the user has
//! MFA) and accepts the requested permissions; the client polls the token endpoint with
//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` and gets `authorization_pending`
//! until then (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code>).
//!
//! Approval issues an internal authorization code, so the tokens come from the same code path
//! (consent check, MFA policy, refresh token) as the browser flow.

use super::error::AadError;
use super::issue;
use super::token::request::{Grant, resolve_authority};
use crate::model::resources::{is_oidc_scope, split_scope};
use crate::model::seed::PermissionSeed;
use crate::model::sessions::{AuthCode, DeviceCode, DeviceStatus};
use crate::model::state::State;
use crate::pages;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

/// The grant type the client polls with.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The redirect URI recorded on the internal authorization code (never a real address).
const INTERNAL_REDIRECT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Lifetime of a device code (Entra: 15 minutes).
const LIFETIME_SECS: i64 = 900;
/// Polling interval returned to clients (Entra: 5 seconds).
const INTERVAL_SECS: u64 = 5;

fn device_error(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    pages::device(status, &pages::DeviceMessage::error(title, message))
}

fn random_user_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let raw = issue::random_token("", 16);
    raw.bytes()
        .take(9)
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` (`client_id`, `scope`).
pub async fn start(
    state: web::Data<State>,
    tenant: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    state.count("entra.devicecode");
    let result = async {
        let form = super::token::request::read_form(body).await?;
        resolve_authority(&state, &tenant)?;
        let client_id = form
            .get("client_id")
            .ok_or_else(|| AadError::missing("client_id"))?;
        let app = state
            .directory()
            .app(client_id)
            .cloned()
            .ok_or_else(|| AadError::app_not_found(client_id, &tenant))?;
        if !app.seed.public_client {
            return Err(AadError::invalid_request(
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'. (The device code flow needs a public client.)",
            ));
        }
        let scope = form
            .get("scope")
            .cloned()
            .ok_or_else(|| AadError::missing("scope"))?;
        let device_code = issue::random_token("DAQABAAEAAAD", 48);
        let user_code = random_user_code();
        let host = state.sign_in_host();
        state.device_codes().insert(
            device_code.clone(),
            DeviceCode {
                client_id: app.seed.app_id.clone(),
                scope,
                user_code: user_code.clone(),
                issued_at: state.now(),
                status: DeviceStatus::Pending,
            },
        );
        Ok(HttpResponse::Ok().json(serde_json::json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": format!("{host}/devicelogin"),
            "expires_in": LIFETIME_SECS,
            "interval": INTERVAL_SECS,
            "message": format!("To sign in, use a web browser to open the page {host}/devicelogin and enter the code {user_code} to authenticate."),
        })))
    }
    .await;
    result.unwrap_or_else(|e| e.response())
}

/// `GET /devicelogin`: the code and sign-in form.
pub async fn form() -> HttpResponse {
    pages::device(StatusCode::OK, &pages::DeviceCodeForm)
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    user_code: String,
    login: String,
    passwd: String,
    #[serde(default)]
    otc: String,
}

fn find_by_user_code(state: &State, user_code: &str) -> Option<(String, DeviceCode)> {
    let now = state.now();
    state
        .device_codes()
        .iter()
        .find(|(_, d)| {
            d.user_code.eq_ignore_ascii_case(user_code.trim()) && now - d.issued_at <= LIFETIME_SECS
        })
        .map(|(k, d)| (k.clone(), d.clone()))
}

/// `POST /devicelogin`: code, password and (for MFA users) the one-time code; then the
/// consent page.
pub async fn sign_in(state: web::Data<State>, form: web::Form<SignInForm>) -> HttpResponse {
    let Some((key, device)) = find_by_user_code(&state, &form.user_code) else {
        return device_error(
            StatusCode::BAD_REQUEST,
            "Enter code",
            "AADSTS70020: The code you entered has expired or is not valid. Get a new code from the device and try again.",
        );
    };
    let user = state.directory().user(&form.login).cloned();
    let Some(user) = user.filter(|u| u.password == form.passwd) else {
        return device_error(
            StatusCode::OK,
            "Sign in",
            "AADSTS50126: Error validating credentials due to invalid username or password.",
        );
    };
    let mut amr = vec!["pwd".to_string()];
    if let Some(code) = &user.mfa_code {
        if *code != form.otc.trim() {
            return device_error(
                StatusCode::OK,
                "Verify your identity",
                "AADSTS50074: Strong Authentication is required: enter the verification code.",
            );
        }
        amr.push("mfa".into());
    }
    let app_name = state
        .directory()
        .app(&device.client_id)
        .map(|a| a.seed.display_name.clone())
        .unwrap_or_default();
    let scopes = device
        .scope
        .split(' ')
        .filter(|s| !s.is_empty() && !is_oidc_scope(s))
        .collect();
    if let Some(d) = state.device_codes().get_mut(&key) {
        d.status = DeviceStatus::SignedIn {
            user_id: user.id.clone(),
            amr,
        };
    }
    pages::device(
        StatusCode::OK,
        &pages::DeviceConsent {
            app: &app_name,
            scopes,
            user_code: &device.user_code,
        },
    )
}

/// The consent form's fields.
#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    user_code: String,
    action: String,
}

/// `POST /devicelogin/approve`: accept (grant the permissions, finish the device code) or
/// cancel.
pub async fn approve(state: web::Data<State>, form: web::Form<ApproveForm>) -> HttpResponse {
    let Some((key, device)) = find_by_user_code(&state, &form.user_code) else {
        return device_error(
            StatusCode::BAD_REQUEST,
            "Enter code",
            "AADSTS70020: The code has expired.",
        );
    };
    let DeviceStatus::SignedIn { user_id, amr } = device.status.clone() else {
        return device_error(StatusCode::BAD_REQUEST, "Sign in", "Sign in first.");
    };
    if form.action != "accept" {
        if let Some(d) = state.device_codes().get_mut(&key) {
            d.status = DeviceStatus::Declined;
        }
        return pages::device(
            StatusCode::OK,
            &pages::DeviceMessage::info(
                "Sign-in cancelled",
                "You cancelled the sign-in. You can close this window.",
                None,
            ),
        );
    }
    let Some(user) = state.directory().user(&user_id).cloned() else {
        return pages::device(
            StatusCode::BAD_REQUEST,
            &pages::DeviceMessage::info("Sign in", "Unknown user.", None),
        );
    };
    // The requested delegated permissions, per resource, as the consent page grants them.
    let mut grants: Vec<PermissionSeed> = Vec::new();
    for s in device
        .scope
        .split(' ')
        .filter(|s| !s.is_empty() && !is_oidc_scope(s))
    {
        let Some((r, _, value)) = split_scope(state.resources(), s) else {
            continue;
        };
        match grants.iter_mut().find(|g| g.resource == r.app_id) {
            Some(g) => g.scopes.push(value),
            None => grants.push(PermissionSeed {
                resource: r.app_id.to_string(),
                scopes: vec![value],
            }),
        }
    }
    let for_user = (!user.is_global_admin()).then_some(user.id.as_str());
    state.grant_consent(&user.tenant, &device.client_id, for_user, &grants);
    let now = state.now();
    let code = issue::store_auth_code(
        &state,
        AuthCode {
            client_id: device.client_id.clone(),
            redirect_uri: INTERNAL_REDIRECT.into(),
            user_id: user.id.clone(),
            tenant: user.tenant.clone(),
            target: device.scope.clone(),
            wants_id_token: device.scope.split(' ').any(|s| s == "openid"),
            wants_refresh_token: device.scope.split(' ').any(|s| s == "offline_access"),
            code_challenge: None,
            nonce: None,
            amr,
            auth_time: now,
            issued_at: now,
            redeemed: false,
            session_id: uuid::Uuid::new_v4().to_string(),
        },
    );
    if let Some(d) = state.device_codes().get_mut(&key) {
        d.status = DeviceStatus::Approved { code };
    }
    pages::device(
        StatusCode::OK,
        &pages::DeviceMessage::info(
            "You're signed in",
            "You have signed in on your device. You can close this window.",
            Some("done"),
        ),
    )
}

/// The token endpoint's device-code grant.
pub(crate) fn redeem(g: &Grant<'_>) -> Result<issue::TokenResponse, AadError> {
    let Grant {
        state, app, form, ..
    } = *g;
    let device_code = form
        .get("device_code")
        .ok_or_else(|| AadError::missing("device_code"))?;
    let device = state
        .device_codes()
        .get(device_code)
        .cloned()
        .ok_or_else(|| AadError::invalid_grant(70000, "Provided grant is invalid or malformed."))?;
    if !device.client_id.eq_ignore_ascii_case(&app.seed.app_id) {
        return Err(AadError::invalid_grant(
            70000,
            "Provided grant is invalid or malformed.",
        ));
    }
    if state.now() - device.issued_at > LIFETIME_SECS {
        state.device_codes().remove(device_code);
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
        ));
    }
    match device.status {
        DeviceStatus::Pending | DeviceStatus::SignedIn { .. } => Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )),
        DeviceStatus::Declined => {
            state.device_codes().remove(device_code);
            Err(AadError::new(
                StatusCode::BAD_REQUEST,
                "authorization_declined",
                70019,
                "The end user denied the authorization request.",
            ))
        }
        DeviceStatus::Approved { code } => {
            state.device_codes().remove(device_code);
            let mut inner = form.clone();
            inner.insert("code".into(), code);
            inner.insert("redirect_uri".into(), INTERNAL_REDIRECT.into());
            inner.insert("scope".into(), device.scope.clone());
            super::token::code::authorization_code(&Grant { form: &inner, ..*g })
        }
    }
}
