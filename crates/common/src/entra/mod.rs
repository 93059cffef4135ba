//! Entra ID token client: authorize URLs, the `authorization_code`, `refresh_token` and
//! `client_credentials` grants, client authentication by certificate assertion or secret, Entra
//! error parsing with remedies, and ID-token validation.
//!
//! Works with v1 (`/oauth2/token`, `resource=`, numbers as strings) and v2 (`/oauth2/v2.0/token`,
//! `scope=`) endpoints of any cloud or custom authority (the emulator).

mod assertion;
pub mod claims;
mod client;
mod error;
mod id_token;
pub mod public_client;

pub use assertion::{
    ASSERTION_LIFETIME_SECS, CertificateError, CertificateProvider, CertificateSigner,
};
pub use claims::{AccessTokenClaims, ClaimsError, decode_unverified};
pub use client::{
    AuthorizeOptions, ClientCredential, EntraClient, IdToken, PendingAuthorization, TokenResponse,
    TokenTarget,
};
pub use error::{EntraError, TokenError};
pub use id_token::{
    DEFAULT_LEEWAY, ExpectedIdToken, IdTokenError, IdTokenValidator, KEY_TTL, MIN_KEY_REFRESH,
    SignedInUser, code_hash,
};
