//! The pending consent: `state`, `nonce` and PKCE verifier bound to the browser by an encrypted
//! cookie.
//!
//! Nothing is kept on the server between `/start` and the callback, so any number of instances
//! behind a load balancer serve the same flow as long as they share `consent.cookie_key`. The
//! cookie is AEAD-encrypted and authenticated (actix-web's private cookie jar, AES-256-GCM, the
//! cookie name is bound into the ciphertext), `HttpOnly`, `SameSite=Lax` (sent on the top-level
//! GET redirect back from Entra ID, never on cross-site subresource requests), `Secure` when the app
//! is served over HTTPS, and expires after [`PENDING_LIFETIME`].
//!
//! Security properties (OAuth 2.0 Security BCP, RFC 9700 §2.1 and §4.7):
//! - `state` defeats CSRF on the callback: a callback whose `state` differs from the cookie's is
//!   refused.
//! - PKCE S256 (RFC 7636 §4.2) binds the authorization code to this browser's cookie: a stolen code
//!   cannot be redeemed without the verifier.
//! - `nonce` (OpenID Connect Core §3.1.2.1) binds the ID token to this sign-in.

use std::time::Duration;

use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use common::entra::{PendingAuthorization, TokenTarget};
use common::secret::{CodeVerifier, ExposeSecret};
use serde::{Deserialize, Serialize};
use url::Url;

/// The cookie's name over plain HTTP (local use).
pub const COOKIE_NAME: &str = "sam_consent";
/// The cookie's name over HTTPS: the `__Host-` prefix makes browsers accept it only with
/// `Secure`, `Path=/` and no `Domain`, so a sibling subdomain cannot plant or overwrite it
/// (RFC 6265bis §4.1.3.2).
pub const SECURE_COOKIE_NAME: &str = "__Host-sam_consent";

/// The cookie's name for an app served over HTTPS (`secure`) or not.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}
/// How long a started consent may take before the callback refuses it.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(600);

/// A consent started in this browser, waiting for the callback.
#[derive(Clone)]
pub struct PendingConsent {
    /// Anti-CSRF value echoed by Entra ID.
    pub state: String,
    /// Echoed in the ID token.
    pub nonce: String,
    /// PKCE code verifier (RFC 7636 §4.1).
    pub verifier: CodeVerifier,
    /// Unix time the consent was started.
    pub issued_at: i64,
}

impl std::fmt::Debug for PendingConsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingConsent")
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    s: String,
    n: String,
    v: String,
    t: i64,
}

/// Why the pending consent could not be read from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The browser sent no cookie (blocked cookies, another browser, or a forged callback).
    #[error("the consent cookie is missing")]
    Missing,
    /// The cookie did not decrypt with our key: forged, tampered, or from another deployment.
    #[error("the consent cookie is invalid")]
    Invalid,
    /// The consent was started more than ten minutes ago.
    #[error("the consent cookie has expired")]
    Expired,
}

impl PendingConsent {
    /// What to keep of an authorization request the token broker built.
    pub fn from_authorization(pending: &PendingAuthorization, now: i64) -> Self {
        Self {
            state: pending.state.clone(),
            nonce: pending.nonce.clone(),
            verifier: pending.code_verifier.clone(),
            issued_at: now,
        }
    }

    /// The authorization request again, for redeeming the code: what the cookie kept, plus what
    /// configuration says (tenant, redirect URI, target), which is the same on every instance.
    pub fn into_authorization(
        self,
        authorize_endpoint: Url,
        tenant: &str,
        redirect_uri: &Url,
        target: TokenTarget,
    ) -> PendingAuthorization {
        PendingAuthorization {
            url: authorize_endpoint,
            state: self.state,
            nonce: self.nonce,
            code_verifier: self.verifier,
            tenant: tenant.to_owned(),
            redirect_uri: redirect_uri.clone(),
            target,
        }
    }

    /// Whether `state` from the callback is ours (constant-time).
    pub fn state_matches(&self, state: &str) -> bool {
        let (a, b) = (self.state.as_bytes(), state.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The encrypted cookie carrying this consent.
    pub fn to_cookie(&self, key: &Key, secure: bool) -> Cookie<'static> {
        let wire = Wire {
            s: self.state.clone(),
            n: self.nonce.clone(),
            v: self.verifier.expose_secret().to_owned(),
            t: self.issued_at,
        };
        let value = serde_json::to_string(&wire).unwrap_or_default();
        let mut jar = CookieJar::new();
        jar.private_mut(key).add(base_cookie(value, secure));
        jar.get(cookie_name(secure))
            .cloned()
            .unwrap_or_else(|| base_cookie(String::new(), secure))
    }

    /// Reads and decrypts the cookie; refuses a missing, forged or expired one.
    pub fn from_cookie(
        cookie: Option<Cookie<'static>>,
        key: &Key,
        now: i64,
    ) -> Result<Self, SessionError> {
        let cookie = cookie.ok_or(SessionError::Missing)?;
        let name = cookie.name().to_owned();
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        // The name is bound into the ciphertext: a cookie renamed to the other name fails.
        let plain = jar.private(key).get(&name).ok_or(SessionError::Invalid)?;
        let wire: Wire = serde_json::from_str(plain.value()).map_err(|_| SessionError::Invalid)?;
        let age = now - wire.t;
        let lifetime = i64::try_from(PENDING_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        // A little clock skew between instances is tolerated in the past, not in the future.
        if !(-60..=lifetime).contains(&age) {
            return Err(SessionError::Expired);
        }
        Ok(Self {
            state: wire.s,
            nonce: wire.n,
            verifier: CodeVerifier::new(wire.v),
            issued_at: wire.t,
        })
    }
}

/// A cookie that deletes the pending consent (sent with every callback answer: one use only).
pub fn removal_cookie(secure: bool) -> Cookie<'static> {
    let mut c = base_cookie(String::new(), secure);
    c.make_removal();
    c
}

fn base_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(cookie_name(secure), value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(PENDING_LIFETIME.as_secs()).unwrap_or(600),
        ))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A forged or garbled state cookie is refused, never a panic; a real one round-trips.
        #[test]
        fn any_cookie_value_is_refused_or_read(value in "\\PC{0,200}", secure in proptest::prelude::any::<bool>()) {
            let key = Key::generate();
            let cookie = Cookie::new(cookie_name(secure), value);
            proptest::prop_assert!(PendingConsent::from_cookie(Some(cookie), &key, 1_000).is_err());
            let issued = pending(1_000);
            let sealed = issued.to_cookie(&key, secure);
            let read = PendingConsent::from_cookie(Some(sealed), &key, 1_010).expect("round trip");
            proptest::prop_assert!(read.state_matches(&issued.state));
        }
    }

    fn key() -> Key {
        Key::generate()
    }

    fn pending(now: i64) -> PendingConsent {
        PendingConsent {
            state: "state-value-0123456789".into(),
            nonce: "nonce-value-0123456789".into(),
            verifier: CodeVerifier::new("verifier-value-0123456789-0123456789-0123"),
            issued_at: now,
        }
    }

    #[test]
    fn a_cookie_round_trips_and_hides_its_content() {
        let key = key();
        let p = pending(1_000);
        let c = p.to_cookie(&key, true);
        assert!(!c.value().contains(&p.state));
        assert!(!c.value().contains(p.verifier.expose_secret()));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.name(), "__Host-sam_consent");
        assert_eq!(c.path(), Some("/"));
        assert_eq!(c.domain(), None);
        let back = PendingConsent::from_cookie(Some(c), &key, 1_100).unwrap();
        assert!(back.state_matches(&p.state));
        assert_eq!(back.nonce, p.nonce);
        assert_eq!(back.verifier, p.verifier);
    }

    #[test]
    fn over_plain_http_the_cookie_has_no_host_prefix() {
        let c = pending(0).to_cookie(&key(), false);
        assert_eq!(c.name(), "sam_consent");
        assert_eq!(removal_cookie(true).name(), "__Host-sam_consent");
    }

    #[test]
    fn a_cookie_from_another_key_is_invalid() {
        let c = pending(0).to_cookie(&key(), false);
        assert_eq!(
            PendingConsent::from_cookie(Some(c), &key(), 0).unwrap_err(),
            SessionError::Invalid
        );
    }

    #[test]
    fn a_cookie_older_than_ten_minutes_has_expired() {
        let key = key();
        let c = pending(0).to_cookie(&key, false);
        assert_eq!(
            PendingConsent::from_cookie(Some(c), &key, 601).unwrap_err(),
            SessionError::Expired
        );
    }
}
