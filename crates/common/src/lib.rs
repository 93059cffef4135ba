//! Shared building blocks of the Secure Application Model tools.
//!
//! The modules read like the architecture (see `docs/ARCHITECTURE.md`), in layers: a module
//! uses only modules of the layers below it.
//!
//! 1. Vocabulary, which uses nothing of the crate: [`secret`] (newtypes for tokens, codes,
//!    secrets and keys whose `Debug` redacts), [`remedy`] (what a person must do about a failure,
//!    the vocabulary of every error), [`words`] (the word tables of enumerated settings),
//!    [`cloud`] (national-cloud endpoints: global, China, US Gov, and `custom`, the emulator),
//!    [`files`] (private files), [`gdap_rules`] (GDAP's built-in roles and creation limits).
//! 2. [`config`]: one figment loader, typed settings, a validation report listing every problem;
//!    [`rules`]: what the Secure Application Model requires (permissions, the refresh token's
//!    inactivity limit), in one place for the consent page, the CLIs, `setup` and `doctor`.
//! 3. [`http`]: the process-wide HTTP client (timeouts, extra CA, no redirects), the one retry
//!    policy, and the transport the Partner Center and Graph clients send through, with the
//!    token source a trait it receives; [`store`]: the refresh-token store (the trait, and the
//!    local encrypted file); [`telemetry`]: the tracing subscriber (`text` or `json`).
//! 4. The Microsoft clients: [`entra`] (Entra ID's token endpoint, ID tokens, certificates),
//!    [`graph`], [`partner_center`].
//! 5. [`keyvault`]: the Key Vault refresh-token store and the app certificate kept in Key Vault.
//! 6. [`tokens`]: the access-token cache and the token broker (consent, access tokens, rotation
//!    and keepalive, opening the configured store), the token source of the clients below it.
//!
//! `setup` and `doctor` (partner-tenant administration) live in the `admin` crate.
//!
//! `common` never depends on actix: the web app and the CLIs share it equally.

pub mod cloud;
pub mod config;
pub mod entra;
pub mod files;
pub mod gdap_rules;
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
pub mod words;
