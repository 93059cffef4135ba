//! Configuration: one loader, typed settings, and a validation report that lists every problem.
//!
//! # Where values come from
//!
//! Layers are merged in this order; a later layer overrides an earlier one, key by key:
//!
//! 1. built-in defaults ([`RawSettings::default`]);
//! 2. `config/default.toml` (the commented reference of every key);
//! 3. `config/{profile}.toml`, when a profile is named: by `--profile`, else the `SAM_PROFILE`
//!    environment variable (`--local` names `local`). No profile is applied otherwise. The
//!    `local` profile is built in ([`LOCAL_PROFILE_TOML`], the text of `config/local.toml`) and
//!    used when the configuration directory has no `local.toml`;
//! 4. the file given with `--config FILE`, if any;
//! 5. environment variables prefixed `SAM_`, with `__` separating nested keys
//!    (`SAM_APP__CLIENT_ID` sets `app.client_id`);
//! 6. command-line flags (`--set key=value`, and the flags each binary maps onto keys).
//!
//! What the command line says arrives as [`LoadOptions`] (the binaries' argument parsers
//! convert into it). The configuration directory is `config/` under the working directory
//! unless `--config-dir` says otherwise. A relative path in a file (certificate, store, CA
//! bundle) resolves against the file: against the configuration directory's parent for the files
//! in it, against its own directory for any other `--config FILE` (module `paths`). A missing `default.toml` is not an error; a profile
//! (other than `local`) whose file is missing is.
//!
//! A named cloud (`global`, `china`, `usgov`) whose endpoint URLs were set in a lower layer than
//! the one that chose the cloud is an error naming both places: a production file saying
//! `cloud.name = "global"` never inherits the emulator's URLs.
//!
//! # Typed settings and validation
//!
//! Layers are merged into [`RawSettings`], where almost every value is still text, so that a wrong
//! value never stops the loader at the first mistake. [`RawSettings::validate`] then parses each
//! value into [`Settings`] (enums, URLs, durations, secret types), collecting *every* problem into
//! one [`ConfigReport`]: each names the key, where its value came from (which file or environment
//! variable), what is wrong, and how to fix it — and never echoes a secret value.
//!
//! # Modules
//!
//! - `raw`: [`RawSettings`], the merged text values (the reference of every key);
//! - `settings`: [`Settings`], the typed result, and its enums;
//! - `templates`: [`RoleTemplate`] (GDAP role templates) and [`CustomerSettings`];
//! - `permissions`: [`PermissionGrant`] (`RESOURCE:PERMISSIONS`) and [`CustomerPermissions`],
//!   what the application holds in customer tenants (`[customers]`);
//! - [`Words`] (module `crate::words`, re-exported here): the one table per enum behind
//!   `FromStr`, `Display` and serde;
//! - `load`: [`load`] and [`LoadOptions`], the layers and where each value came from;
//! - `validate`: [`RawSettings::validate`], one function per section;
//! - `report`: [`ConfigReport`] and [`ConfigProblem`];
//! - `paths`: relative paths in a file resolve against the file ([`path_base`]);
//! - `keys`: every known key, the secret ones, suggestions for misspelt ones;
//! - `refusals`: what a binary refuses at start beyond validation ([`Refusal`]);
//! - `render`: [`render_toml`], a configuration file written from [`RawSettings`].

mod keys;
mod load;
mod paths;
mod permissions;
mod raw;
mod refusals;
mod render;
mod report;
mod settings;
mod templates;
mod validate;

pub use crate::words::{UnknownWord, Words};
pub use keys::{env_var_of, is_secret_key, known_keys};
pub use load::{LOCAL_PROFILE_TOML, LoadOptions, Loaded, load};
pub use paths::{PATH_KEYS, path_base, path_for_file};
pub use permissions::{CustomerPermissions, PermissionGrant};
pub use raw::{
    RawApp, RawCloud, RawConsent, RawCustomers, RawEntra, RawHttp, RawKeyVault, RawLocalStore,
    RawLog, RawPartner, RawSettings, RawStore, RawTemplate, RawTemplateAccess, RawWatch,
    RawWatchConsole, StringList,
};
pub use refusals::{PARTNER_CONSENT, Refusal};
pub use render::render_toml;
pub use report::{ConfigProblem, ConfigReport};
pub use settings::{
    AppCredential, AppMode, AppSettings, AssertionAlgorithm, CertificateCredential,
    CertificateSource, ConsentSettings, ConsoleSettings, EndpointVersion, EntraSettings,
    HttpSettings, KeyVaultIdentity, KeyVaultIdentityKind, KeyVaultSettings, LocalStoreSettings,
    LogFormat, LogSettings, PartnerSettings, Settings, SignInFlow, StoreKind, StoreSettings,
    WatchSettings,
};
pub use templates::{CustomerSettings, DisplayNamePattern, RoleTemplate, TemplateAccess};
pub use validate::tenant_or_domain;

/// Prefix of the environment variables the loader reads.
pub const ENV_PREFIX: &str = "SAM_";
/// The profile of the emulated cloud (`--local`); built into the binaries.
pub const LOCAL_PROFILE: &str = "local";

/// Loads and validates in one step; the usual entry point of a binary.
pub fn load_settings(options: &LoadOptions) -> Result<Settings, ConfigReport> {
    load(options)?.validate()
}

#[cfg(test)]
mod template_tests;
#[cfg(test)]
mod tests;
