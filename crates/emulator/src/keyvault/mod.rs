//! Azure Key Vault secrets data plane (docs/microsoft-behaviour.md §4), selected by the Host header
//! `{vault}.vault.localhost[:port]`. Challenge-based auth: an unauthenticated request gets
//! 401 with `WWW-Authenticate: Bearer authorization="https://127.0.0.1:{port}/{tenant}",
//! resource="https://vault.localhost:{port}"`, which the Rust, Python and JS SDKs accept with
//! challenge verification on.
//!
//! [`auth`] admits a request (vault, `api-version`, bearer token, access policy), [`secrets`]
//! and [`deleted`] answer it, [`wire`] shapes Key Vault's bodies and headers. The vaults'
//! contents are [`crate::model::vault`].

pub mod auth;
pub mod deleted;
pub mod secrets;
pub mod wire;

pub use crate::model::vault::{DeletedSecret, Secret, SecretVersion, Vault, is_valid_vault_name};
pub use auth::{is_vault_request, vault_name_of};
pub use wire::{MAX_BODY_BYTES, MAX_VALUE_BYTES};

use actix_web::web;
use deleted::{get_deleted, list_deleted, purge, recover};
use secrets::{
    delete_secret, get_secret, get_secret_latest, list_secrets, list_versions, set_secret, unknown,
    update_secret, update_secret_latest,
};

/// Routes of the vault host.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("")
            .guard(actix_web::guard::fn_guard(is_vault_request))
            .route("/secrets", web::get().to(list_secrets))
            .route("/secrets/{name}/versions", web::get().to(list_versions))
            .route("/secrets/{name}", web::put().to(set_secret))
            .route("/secrets/{name}", web::get().to(get_secret_latest))
            .route("/secrets/{name}/", web::get().to(get_secret_latest))
            .route("/secrets/{name}", web::patch().to(update_secret_latest))
            .route("/secrets/{name}/", web::patch().to(update_secret_latest))
            .route("/secrets/{name}", web::delete().to(delete_secret))
            .route("/secrets/{name}/{version}", web::get().to(get_secret))
            .route("/secrets/{name}/{version}", web::patch().to(update_secret))
            .route("/deletedsecrets", web::get().to(list_deleted))
            .route("/deletedsecrets/{name}", web::get().to(get_deleted))
            .route("/deletedsecrets/{name}", web::delete().to(purge))
            .route("/deletedsecrets/{name}/recover", web::post().to(recover))
            .default_service(web::to(unknown)),
    );
}
