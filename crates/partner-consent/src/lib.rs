//! # partner-consent: the web app that captures a partner admin's consent
//!
//! How a request flows:
//!
//! 1. `GET /` ([`routes::landing`]) explains the app, its permissions and who may consent, with
//!    one "Grant consent" button.
//! 2. `POST /start` ([`routes::start`]) asks the token broker ([`common::tokens::TokenBroker`])
//!    for an authorize URL with fresh `state`, `nonce` and PKCE S256, stores those in an
//!    encrypted cookie ([`session`]) and redirects the browser to Entra ID.
//! 3. The admin signs in, passes MFA and consents at Entra ID, which sends the browser back to
//!    the redirect URL ([`routes::callback`], GET or `form_post`). The callback checks the
//!    cookie and `state`, then the broker redeems the code with the PKCE verifier, validates the
//!    ID token (nonce included), applies the CSP/CPV tenant rule and stores the refresh token;
//!    one Partner Center token proves it works; the result is a page ([`pages`]).
//! 4. `/healthz`, `/readyz` (cached, status only), `/metrics` ([`routes::health`]) serve
//!    operators. `/start` and the callback are rate-limited per client IP ([`limits`]).
//!
//! Every response passes [`security::headers`]; [`startup`] wires it all; `local` runs the
//! whole thing against the in-process emulator (`--local`, only in builds with the `local`
//! feature, on by default; release images leave it off so the server links no test double).

pub mod cli;
pub mod client_ip;
pub mod limits;
#[cfg(feature = "local")]
pub mod local;
pub mod metrics;
pub mod outcomes;
pub mod pages;
pub mod routes;
pub mod security;
pub mod session;
pub mod startup;

pub use startup::{AppState, Application, Options};
