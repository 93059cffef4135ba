//! Shared building blocks of the Secure Application Model tools.
//!
//! The modules read like the architecture (see `docs/ARCHITECTURE.md`):
//!
//! - [`config`]: one figment loader, typed settings, a validation report listing every problem;
//! - [`cloud`]: national-cloud endpoints (global, China, US Gov) and `custom` (the emulator);
//! - [`secret`]: newtypes for tokens, codes, secrets and keys whose `Debug` redacts;
//! - [`http`]: the process-wide HTTP client (timeouts, extra CA, no redirects), the one retry
//!   policy, and the transport the Partner Center and Graph clients send through;
//! - [`remedy`]: what a person must do about a failure, the vocabulary of every error;
//! - [`telemetry`]: the tracing subscriber (`text` or `json`);
//! - [`rules`]: what the Secure Application Model requires (permissions, the refresh token's
//!   inactivity limit), in one place for the consent page, the CLIs, `setup` and `doctor`.
//!
//! `setup` and `doctor` (partner-tenant administration) live in the `admin` crate.
//!
//! `common` never depends on actix: the web app and the CLIs share it equally.

pub mod cloud;
pub mod config;
pub mod entra;
pub mod files;
pub mod graph;
pub mod http;
pub mod keyvault;
pub mod partner_center;
pub mod remedy;
pub mod rules;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod tokens;
