//! The console's sessions, in memory: the watch runs as one replica (two would run every cycle
//! twice), so nothing needs sharing, and a restart signs everyone out.
//!
//! Two cookies, both `HttpOnly`, `SameSite=Lax`, `Path=/`, no `Domain`:
//! - the session (`__Host-sam_console` over HTTPS, with `Secure`): a random 256-bit ID naming a
//!   session kept here; it never carries who signed in or what they may do;
//! - the sign-in in progress (`__Host-sam_console_signin`), the `state` of the authorization
//!   request, ten minutes: the callback's `state` must equal it (login CSRF, RFC 9700 §4.7).
//!
//! Over plain HTTP (the loopback demo) browsers refuse `__Host-` and `Secure` cookies there, so
//! the names lose the prefix (`sam_console`, `sam_console_signin`) and `Secure` is not set: the
//! same choice as partner-consent's cookie.
//!
//! A session unused for the idle timeout (`watch.console.idle_timeout`, 15 minutes by default)
//! is gone, and so is any after 12 hours. Each carries a CSRF token for the action's form.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use common::secret::CodeVerifier;
use rand::RngCore as _;

/// The longest a session lives, however active.
pub const MAX_SESSION: Duration = Duration::from_secs(12 * 3600);
/// How long a sign-in may take between the redirect to Entra ID and the callback.
pub const SIGN_IN_LIFETIME: Duration = Duration::from_secs(600);

/// A random 256-bit value, hex.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Constant-time equality of two strings.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The Unix time now.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A signed-in operator.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who (UPN or name), shown in the header.
    pub user: String,
    /// May run the action.
    pub can_write: bool,
    /// The CSRF token of the action's form.
    pub csrf: String,
    /// When it began (Unix seconds).
    pub started: i64,
    /// When it was last used (Unix seconds).
    pub last_seen: i64,
}

/// A sign-in waiting for its callback.
#[derive(Clone)]
pub struct PendingSignIn {
    /// `nonce` of the request.
    pub nonce: String,
    /// PKCE verifier.
    pub verifier: CodeVerifier,
    /// When it started.
    pub started: i64,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

/// Sessions and sign-ins in progress.
#[derive(Debug)]
pub struct Sessions {
    secure: bool,
    idle: i64,
    sessions: Mutex<HashMap<String, Session>>,
    pending: Mutex<HashMap<String, PendingSignIn>>,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Sessions {
    /// No session yet; cookies `Secure` (and `__Host-`) when `secure`.
    pub fn new(secure: bool, idle: Duration) -> Self {
        Self {
            secure,
            idle: secs(idle),
            sessions: Mutex::default(),
            pending: Mutex::default(),
        }
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-sam_console"
        } else {
            "sam_console"
        }
    }

    /// The sign-in cookie's name.
    pub fn sign_in_cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-sam_console_signin"
        } else {
            "sam_console_signin"
        }
    }

    fn cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: Option<Duration>,
    ) -> Cookie<'static> {
        let mut c = Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish();
        if let Some(age) = max_age {
            c.set_max_age(actix_web::cookie::time::Duration::seconds(secs(age)));
        }
        c
    }

    /// Keeps a sign-in under its `state`; returns the cookie binding it to this browser.
    pub fn start_sign_in(&self, state: &str, pending: PendingSignIn) -> Cookie<'static> {
        let now = pending.started;
        let mut map = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, p| now - p.started <= secs(SIGN_IN_LIFETIME));
        map.insert(state.to_owned(), pending);
        self.cookie(
            self.sign_in_cookie_name(),
            state.to_owned(),
            Some(SIGN_IN_LIFETIME),
        )
    }

    /// Takes the sign-in of `state` if this browser started it (its cookie holds the same
    /// `state`) and it is not older than [`SIGN_IN_LIFETIME`]. Used once.
    pub fn take_sign_in(&self, req: &HttpRequest, state: &str, now: i64) -> Option<PendingSignIn> {
        let cookie = req.cookie(self.sign_in_cookie_name())?;
        if !same(cookie.value(), state) {
            return None;
        }
        let mut map = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pending = map.remove(state)?;
        (now - pending.started <= secs(SIGN_IN_LIFETIME)).then_some(pending)
    }

    /// A removal of the sign-in cookie.
    pub fn sign_in_done(&self) -> Cookie<'static> {
        let mut c = self.cookie(self.sign_in_cookie_name(), String::new(), None);
        c.make_removal();
        c
    }

    /// Opens a session; returns its cookie.
    pub fn open(&self, user: String, can_write: bool, now: i64) -> Cookie<'static> {
        let id = random_id();
        let session = Session {
            user,
            can_write,
            csrf: random_id(),
            started: now,
            last_seen: now,
        };
        let mut map = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let idle = self.idle;
        map.retain(|_, s| live(s, now, idle));
        map.insert(id.clone(), session);
        self.cookie(self.cookie_name(), id, None)
    }

    /// The session of `req`, if live (and marks it used now).
    pub fn get(&self, req: &HttpRequest, now: i64) -> Option<Session> {
        let cookie = req.cookie(self.cookie_name())?;
        let mut map = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let idle = self.idle;
        match map.get_mut(cookie.value()) {
            Some(s) if live(s, now, idle) => {
                s.last_seen = now;
                Some(s.clone())
            }
            Some(_) => {
                map.remove(cookie.value());
                None
            }
            None => None,
        }
    }

    /// Ends the session of `req`; returns the cookie removal.
    pub fn close(&self, req: &HttpRequest) -> Cookie<'static> {
        if let Some(cookie) = req.cookie(self.cookie_name()) {
            self.sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(cookie.value());
        }
        let mut c = self.cookie(self.cookie_name(), String::new(), None);
        c.make_removal();
        c
    }
}

fn live(s: &Session, now: i64, idle: i64) -> bool {
    now - s.last_seen <= idle && now - s.started <= secs(MAX_SESSION)
}

/// Whether a state-changing request comes from the console's own pages. Browsers that send
/// `Sec-Fetch-Site` (every current one; a page cannot forge it) must say `same-origin`: under
/// the console's `Referrer-Policy: no-referrer` their `Origin` is `null` even for the console's
/// own forms. Without it, the `Origin` (or else the `Referer`) must be `console_origin`.
pub fn same_origin(req: &HttpRequest, console_origin: &str) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return site.eq_ignore_ascii_case("same-origin")
            && header("origin").is_none_or(|o| o == "null" || o == console_origin);
    }
    match (header("origin"), header("referer")) {
        (Some(origin), _) => origin == console_origin,
        (None, Some(referer)) => url::Url::parse(referer)
            .is_ok_and(|u| u.origin().ascii_serialization() == console_origin),
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_host_prefixed_and_secure_over_https_only() {
        let https = Sessions::new(true, Duration::from_secs(900));
        let c = https.open("op".into(), false, 1_000);
        assert_eq!(c.name(), "__Host-sam_console");
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(c.path(), Some("/"));
        assert_eq!(c.domain(), None);
        assert_eq!(c.value().len(), 64);
        let http = Sessions::new(false, Duration::from_secs(900));
        let c = http.open("op".into(), false, 1_000);
        assert_eq!(c.name(), "sam_console");
        assert_eq!(c.secure(), Some(false));
    }

    #[test]
    fn an_idle_session_ends() {
        let s = Session {
            user: "op".into(),
            can_write: false,
            csrf: String::new(),
            started: 0,
            last_seen: 100,
        };
        assert!(live(&s, 1_000, 900));
        assert!(!live(&s, 1_001, 900));
        assert!(!live(
            &Session {
                last_seen: 43_200,
                ..s.clone()
            },
            43_201,
            900
        ));
    }
}
