//! Operators' sign-in with Entra ID: authorization code + PKCE S256, `state` and `nonce`, built
//! and redeemed by `common::entra` (as partner-consent's), against the partner tenant.
//!
//! 1. `GET /auth/signin`: a fresh request (`state`, `nonce`, verifier kept in [`super::session`]
//!    under `state`, bound to the browser by the sign-in cookie), 303 to the authorize endpoint
//!    built from configuration only (no open redirect).
//! 2. `GET /auth/callback`: the sign-in cookie must hold the callback's `state` (constant time),
//!    younger than ten minutes, used once; an `error` shows its page (Entra's text escaped); the
//!    code is redeemed once with the verifier; the ID token is validated (signature, issuer,
//!    audience, expiry, `nonce`, the partner tenant); then the access: the ID token's `roles`
//!    (app roles) and `groups` must hold `watch.console.read_access` (or `write_access`, which
//!    includes reading). Without it: 403, naming what is missing, and no session.
//! 3. `POST /auth/logout`: same-origin only; ends the session.
//!
//! Nothing from the sign-in (code, tokens) is kept or logged; the session holds a name to show
//! and whether the operator may run the action.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use common::entra::{AuthorizeOptions, ExpectedIdToken, PendingAuthorization};
use common::secret::AuthCode;
use serde::Deserialize;

use super::pages::{self, Failed, Forbidden};
use super::session::{PendingSignIn, same_origin, unix_now};
use super::{Console, ConsoleData};

/// Largest callback query accepted (an Entra code is 1–2 KB).
const MAX_QUERY: usize = 16 * 1024;

/// The claims of a validated ID token that decide access.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AccessClaims {
    roles: Vec<String>,
    groups: Vec<String>,
}

/// What a signed-in operator may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Neither the read nor the write access.
    None,
    /// Read the pages.
    Read,
    /// Read and run the action.
    Write,
}

/// The access an ID token's `roles` and `groups` give: an entry equal to the configured value
/// (a role value case-sensitively as Entra issues it; a group object ID in any case). Entra puts
/// the values of the app roles assigned to the user, directly or through a group, in `roles`
/// (docs/microsoft-behaviour.md §12).
pub fn access_of(roles: &[String], groups: &[String], read: &str, write: &str) -> Access {
    let holds = |needed: &str| {
        roles.iter().any(|r| r == needed) || groups.iter().any(|g| g.eq_ignore_ascii_case(needed))
    };
    if holds(write) {
        Access::Write
    } else if holds(read) {
        Access::Read
    } else {
        Access::None
    }
}

fn redirect(to: &str) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::SeeOther();
    b.insert_header((LOCATION, to.to_owned()))
        .insert_header((CACHE_CONTROL, "no-store"));
    b
}

/// `GET /auth/signin`
pub async fn sign_in(data: web::Data<ConsoleData>) -> HttpResponse {
    let Some(console) = &data.console else {
        return redirect("/").finish();
    };
    let request = console.entra.authorize_url(
        &console.tenant,
        &console.settings.redirect_url,
        &console.target,
        &AuthorizeOptions::default(),
    );
    let cookie = console.sessions.start_sign_in(
        &request.state,
        PendingSignIn {
            nonce: request.nonce.clone(),
            verifier: request.code_verifier.clone(),
            started: unix_now(),
        },
    );
    tracing::info!(tenant.id = %console.tenant, "console sign-in started: redirecting to Entra ID");
    redirect(request.url.as_str()).cookie(cookie).finish()
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// `GET /auth/callback`
pub async fn callback(req: HttpRequest, data: web::Data<ConsoleData>) -> HttpResponse {
    let Some(console) = &data.console else {
        return redirect("/").finish();
    };
    let raw = req.query_string();
    let query: CallbackQuery = if raw.len() > MAX_QUERY {
        CallbackQuery::default()
    } else {
        serde_urlencoded::from_str(raw).unwrap_or_default()
    };
    let failed = |why: String| {
        let page = Failed { why };
        let mut res = pages::html(StatusCode::BAD_REQUEST, &page);
        drop(res.add_cookie(&console.sessions.sign_in_done()));
        res
    };
    let Some(state) = query.state.as_deref() else {
        return failed("The sign-in answer has no state: start again.".into());
    };
    let Some(pending) = console.sessions.take_sign_in(&req, state, unix_now()) else {
        return failed("This sign-in was not started in this browser, was already used or is older than ten minutes: start again.".into());
    };
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        return failed(format!(
            "Entra ID refused the sign-in: {error} {description}"
        ));
    }
    let Some(code) = query.code else {
        return failed("The sign-in answer has no code: start again.".into());
    };
    match complete(console, pending, state, AuthCode::new(code)).await {
        Ok((user, Access::None)) => {
            tracing::warn!(
                "console sign-in refused: the operator has neither the read nor the write access"
            );
            let page = Forbidden {
                user,
                read_access: &console.settings.read_access,
                write_access: &console.settings.write_access,
            };
            let mut res = pages::html(StatusCode::FORBIDDEN, &page);
            drop(res.add_cookie(&console.sessions.sign_in_done()));
            res
        }
        Ok((user, access)) => {
            tracing::info!(write = access == Access::Write, "console sign-in");
            let session = console
                .sessions
                .open(user, access == Access::Write, unix_now());
            redirect("/")
                .cookie(session)
                .cookie(console.sessions.sign_in_done())
                .finish()
        }
        Err(why) => {
            tracing::warn!(error = %why, "console sign-in failed");
            failed(why)
        }
    }
}

/// Redeems the code and validates the ID token: who signed in and what they may do.
async fn complete(
    console: &Console,
    pending: PendingSignIn,
    state: &str,
    code: AuthCode,
) -> Result<(String, Access), String> {
    let authorization = PendingAuthorization {
        url: console.entra.authorize_endpoint(&console.tenant),
        state: state.to_owned(),
        nonce: pending.nonce.clone(),
        code_verifier: pending.verifier,
        tenant: console.tenant.clone(),
        redirect_uri: console.settings.redirect_url.clone(),
        target: console.target.clone(),
    };
    let tokens = console
        .entra
        .redeem_code(&code, &authorization)
        .await
        .map_err(|e| format!("The sign-in could not be completed: {e}"))?;
    let id_token = tokens
        .id_token
        .ok_or_else(|| "Entra ID returned no ID token.".to_owned())?;
    let user = console
        .validator
        .validate(
            &id_token,
            ExpectedIdToken {
                nonce: &pending.nonce,
                tenant: Some(&console.tenant),
            },
        )
        .await
        .map_err(|e| format!("The ID token is not valid: {e}"))?;
    // Validated above (signature, issuer, audience, nonce): its claims may now be believed.
    let claims: AccessClaims = common::entra::decode_unverified(id_token.as_str())
        .map_err(|e| format!("The ID token cannot be read: {e}"))?;
    let s = &console.settings;
    let access = access_of(
        &claims.roles,
        &claims.groups,
        &s.read_access,
        &s.write_access,
    );
    let name = user.upn.or(user.name).unwrap_or(user.object_id);
    Ok((name, access))
}

/// `POST /auth/logout`
pub async fn logout(req: HttpRequest, data: web::Data<ConsoleData>) -> HttpResponse {
    let Some(console) = &data.console else {
        return redirect("/").finish();
    };
    if !same_origin(&req, &console.origin) {
        return pages::refused_cross_site();
    }
    redirect("/").cookie(console.sessions.close(&req)).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_comes_from_a_role_or_a_group_and_write_includes_read() {
        let r = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            access_of(
                &r(&["Console.Read"]),
                &[],
                "Console.Read",
                "Console.Operate"
            ),
            Access::Read
        );
        assert_eq!(
            access_of(
                &r(&["Console.Operate"]),
                &[],
                "Console.Read",
                "Console.Operate"
            ),
            Access::Write
        );
        assert_eq!(
            access_of(
                &r(&["console.read"]),
                &[],
                "Console.Read",
                "Console.Operate"
            ),
            Access::None
        );
        let group = "62000000-0000-4000-8000-00000000000A";
        assert_eq!(
            access_of(&[], &r(&[&group.to_ascii_lowercase()]), group, "x"),
            Access::Read
        );
        assert_eq!(
            access_of(&[], &[], "Console.Read", "Console.Operate"),
            Access::None
        );
    }
}
