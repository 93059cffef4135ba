//! Sign-in as a **public client** (no secret, no certificate): the device-code flow (RFC 8628,
//! Entra's `/oauth2/v2.0/devicecode`) and the authorization code with PKCE S256 redeemed for a
//! native app's loopback redirect (RFC 8252 §7.3). Used to sign a partner admin in with a
//! first-party client such as Microsoft Graph Command Line Tools.
//!
//! Protocol only: no prompt, no listener. The caller shows [`DeviceAuthorization::message`], or
//! opens [`PublicAuthorization::url`] and receives the redirect itself.
//!
//! - <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code>
//! - <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow>

use std::fmt;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::client::{TokenResponse, pkce_s256, random_b64};
use super::error::{EntraError, TokenError};
use crate::cloud::join;
use crate::secret::{AuthCode, CodeVerifier, ExposeSecret as _};

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Why a public-client sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The token or device-code endpoint refused, or could not be reached.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The device code expired before the user finished (RFC 8628 §3.5 `expired_token`).
    #[error("the device code expired before the sign-in finished; run the command again")]
    DeviceCodeExpired,
    /// The user (or Entra) ended the authorization (`error` on the redirect, or
    /// `authorization_declined`).
    #[error("{error}: {description}")]
    Denied {
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
    /// The redirect does not belong to this sign-in (`state` differs: RFC 6749 §10.12).
    #[error("the redirect's state does not match this sign-in (ignored)")]
    StateMismatch,
    /// The redirect carries no code.
    #[error("the redirect carries no code")]
    NoCode,
}

/// A public client (`client_id` only) at one authority, v2 endpoints.
#[derive(Clone, Debug)]
pub struct PublicClient {
    http: reqwest::Client,
    authority_host: Url,
    client_id: String,
}

/// A pending device-code sign-in: show [`Self::message`] to the user, then
/// [`PublicClient::wait_for_device_code`].
pub struct DeviceAuthorization {
    device_code: SecretString,
    tenant: String,
    /// The code the user types at [`Self::verification_uri`].
    pub user_code: String,
    /// Where the user goes (`https://microsoft.com/devicelogin`).
    pub verification_uri: String,
    /// Entra's own instruction, naming both.
    pub message: String,
    /// When the device code expires.
    pub expires_at: Instant,
    /// How long to wait between polls.
    pub interval: Duration,
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .finish_non_exhaustive()
    }
}

/// One poll of the token endpoint for a device code.
#[derive(Debug)]
pub enum DevicePoll {
    /// The user has not finished yet (`authorization_pending`).
    Pending,
    /// Poll less often: add 5 seconds to the interval (`slow_down`, RFC 8628 §3.5).
    SlowDown,
    /// Signed in.
    Done(Box<TokenResponse>),
}

/// An authorization request for a loopback redirect; keep it until the redirect arrives.
#[derive(Clone, Debug)]
pub struct PublicAuthorization {
    /// Where to send the browser.
    pub url: Url,
    /// `state`, compared with the redirect's.
    pub state: String,
    /// PKCE verifier, sent with the code.
    pub code_verifier: CodeVerifier,
    /// The tenant segment (the code is redeemed at the same authority).
    pub tenant: String,
    /// The redirect URI (repeated when redeeming).
    pub redirect_uri: Url,
    /// The scopes asked for (repeated when redeeming).
    pub scopes: String,
}

#[derive(Deserialize)]
struct DeviceCodeWire {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    interval: Option<serde_json::Value>,
}

/// A number Entra may send as a JSON number or a string.
fn number(v: Option<&serde_json::Value>, default: u64) -> u64 {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(default),
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(default),
        _ => default,
    }
}

impl PublicClient {
    /// The public client `client_id` at `authority_host`.
    pub fn new(http: reqwest::Client, authority_host: Url, client_id: impl Into<String>) -> Self {
        Self {
            http,
            authority_host,
            client_id: client_id.into(),
        }
    }

    /// `{authority}/{tenant}/oauth2/v2.0/{last}`.
    fn endpoint(&self, tenant: &str, last: &str) -> Url {
        join(
            &self.authority_host,
            &format!("{tenant}/oauth2/v2.0/{last}"),
        )
    }

    /// Posts a form; the status, and the body or the Entra error.
    async fn post(&self, url: Url, form: &[(&str, &str)]) -> Result<Vec<u8>, TokenError> {
        let (status, retry_after, body) =
            super::client::post_form(self.http.post(url.clone()), form, &url).await?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(match EntraError::parse(status, &body, retry_after) {
            Some(e) => TokenError::Entra(Box::new(e)),
            None => TokenError::Unexpected {
                status,
                reason: format!("{} bytes that are not an Entra error", body.len()),
                retry_after,
            },
        })
    }

    fn token(body: &[u8]) -> Result<TokenResponse, TokenError> {
        TokenResponse::parse(body, Instant::now()).map_err(|reason| TokenError::Unexpected {
            status: 200,
            reason,
            retry_after: None,
        })
    }

    /// Starts a device-code sign-in for space-separated v2 `scopes`:
    /// `POST {authority}/{tenant}/oauth2/v2.0/devicecode`
    /// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code#device-authorization-request>).
    pub async fn start_device_code(
        &self,
        tenant: &str,
        scopes: &str,
    ) -> Result<DeviceAuthorization, TokenError> {
        let body = self
            .post(
                self.endpoint(tenant, "devicecode"),
                &[("client_id", &self.client_id), ("scope", scopes)],
            )
            .await?;
        let w: DeviceCodeWire =
            serde_json::from_slice(&body).map_err(|e| TokenError::Unexpected {
                status: 200,
                reason: format!("not a device authorization response ({e})"),
                retry_after: None,
            })?;
        let message = w.message.unwrap_or_else(|| {
            format!(
                "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
                w.verification_uri, w.user_code
            )
        });
        Ok(DeviceAuthorization {
            device_code: SecretString::from(w.device_code),
            tenant: tenant.to_owned(),
            user_code: w.user_code,
            verification_uri: w.verification_uri,
            message,
            expires_at: Instant::now() + Duration::from_secs(number(w.expires_in.as_ref(), 900)),
            interval: Duration::from_secs(number(w.interval.as_ref(), 5).max(1)),
        })
    }

    /// Asks the token endpoint once whether the user finished:
    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code`
    /// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code#authenticating-the-user>).
    pub async fn poll_device_code(
        &self,
        pending: &DeviceAuthorization,
    ) -> Result<DevicePoll, SignInError> {
        let result = self
            .post(
                self.endpoint(&pending.tenant, "token"),
                &[
                    ("grant_type", DEVICE_CODE_GRANT),
                    ("client_id", &self.client_id),
                    ("device_code", pending.device_code.expose_secret()),
                ],
            )
            .await;
        match result {
            Ok(body) => Ok(DevicePoll::Done(Box::new(Self::token(&body)?))),
            Err(e) => match e.entra().map(|x| x.error.as_str()) {
                Some("authorization_pending") => Ok(DevicePoll::Pending),
                Some("slow_down") => Ok(DevicePoll::SlowDown),
                Some("expired_token") => Err(SignInError::DeviceCodeExpired),
                _ => Err(e.into()),
            },
        }
    }

    /// Polls until the user finished (or declined, or the code expired): at once, then every
    /// `interval` while Entra answers `authorization_pending`, 5 s more after each
    /// `slow_down`, as RFC 8628 §3.5 says.
    pub async fn wait_for_device_code(
        &self,
        pending: &DeviceAuthorization,
    ) -> Result<TokenResponse, SignInError> {
        let mut interval = pending.interval;
        loop {
            match self.poll_device_code(pending).await? {
                DevicePoll::Done(token) => return Ok(*token),
                DevicePoll::Pending => {}
                DevicePoll::SlowDown => interval += Duration::from_secs(5),
            }
            if Instant::now() + interval > pending.expires_at {
                return Err(SignInError::DeviceCodeExpired);
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// An authorization URL for a native app's loopback `redirect_uri` with a fresh `state` and
    /// PKCE S256 challenge, `response_mode=query` and `prompt` (e.g. `select_account`):
    /// `GET {authority}/{tenant}/oauth2/v2.0/authorize`
    /// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code>).
    pub fn authorize_url(
        &self,
        tenant: &str,
        redirect_uri: &Url,
        scopes: &str,
        prompt: Option<&str>,
    ) -> PublicAuthorization {
        let (code_verifier, challenge) = pkce_s256();
        let state = random_b64(16);
        let mut url = self.endpoint(tenant, "authorize");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.client_id)
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", redirect_uri.as_str())
                .append_pair("response_mode", "query")
                .append_pair("scope", scopes)
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(p) = prompt {
                q.append_pair("prompt", p);
            }
        }
        PublicAuthorization {
            url,
            state,
            code_verifier,
            tenant: tenant.to_owned(),
            redirect_uri: redirect_uri.clone(),
            scopes: scopes.to_owned(),
        }
    }

    /// Checks the redirect's query parameters (`state`, `error`, `code`) against `pending` and
    /// redeems the code with the PKCE verifier: `POST {authority}/{tenant}/oauth2/v2.0/token`,
    /// `grant_type=authorization_code`
    /// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token>).
    pub async fn redeem_redirect(
        &self,
        pending: &PublicAuthorization,
        params: &std::collections::HashMap<String, String>,
    ) -> Result<TokenResponse, SignInError> {
        if params.get("state") != Some(&pending.state) {
            return Err(SignInError::StateMismatch);
        }
        if let Some(error) = params.get("error") {
            return Err(SignInError::Denied {
                error: error.clone(),
                description: params.get("error_description").cloned().unwrap_or_default(),
            });
        }
        let code = params.get("code").ok_or(SignInError::NoCode)?;
        Ok(self
            .redeem_code(&AuthCode::new(code.clone()), pending)
            .await?)
    }

    /// Redeems an authorization code with the PKCE verifier (see [`Self::redeem_redirect`]).
    pub async fn redeem_code(
        &self,
        code: &AuthCode,
        pending: &PublicAuthorization,
    ) -> Result<TokenResponse, TokenError> {
        let body = self
            .post(
                self.endpoint(&pending.tenant, "token"),
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &self.client_id),
                    ("code", code.expose_secret()),
                    ("redirect_uri", pending.redirect_uri.as_str()),
                    ("code_verifier", pending.code_verifier.expose_secret()),
                    ("scope", &pending.scopes),
                ],
            )
            .await?;
        Self::token(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> PublicClient {
        PublicClient::new(
            reqwest::Client::new(),
            Url::parse("https://login.microsoftonline.com").unwrap(),
            "public-app",
        )
    }

    #[test]
    fn the_authorize_url_carries_state_and_a_pkce_s256_challenge() {
        let redirect = Url::parse("http://localhost:5000/").unwrap();
        let p = client().authorize_url("contoso", &redirect, "a/b openid", Some("select_account"));
        assert_eq!(p.url.path(), "/contoso/oauth2/v2.0/authorize", "{}", p.url);
        let q: std::collections::HashMap<String, String> =
            p.url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "public-app");
        assert_eq!(q["redirect_uri"], "http://localhost:5000/");
        assert_eq!(q["scope"], "a/b openid");
        assert_eq!(q["state"], p.state);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["prompt"], "select_account");
        assert!(!q.contains_key("client_secret"));
        assert_ne!(q["code_challenge"], p.code_verifier.expose_secret());
    }

    #[tokio::test]
    async fn a_redirect_with_another_state_is_refused_before_any_request() {
        let c = client();
        let redirect = Url::parse("http://localhost:5000/").unwrap();
        let p = c.authorize_url("contoso", &redirect, "x", None);
        let params = [("state", "other"), ("code", "c")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        assert!(matches!(
            c.redeem_redirect(&p, &params).await,
            Err(SignInError::StateMismatch)
        ));
        let params = [("state", p.state.as_str()), ("error", "access_denied")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        let e = c.redeem_redirect(&p, &params).await.unwrap_err();
        assert_eq!(e.to_string(), "access_denied: ");
    }
}
