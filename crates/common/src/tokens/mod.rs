//! Tokens: the refresh-token store (Key Vault or a local encrypted file), the access-token cache
//! and the [`TokenBroker`] the apps use.
//!
//! - [`RefreshTokenStore`]: one stored grant per partner tenant; [`LocalFileStore`] and
//!   [`crate::keyvault::KeyVaultStore`] implement it.
//! - [`AccessTokenCache`]: per (tenant, resource, identity), single-flight, refresh ahead.
//! - [`TokenBroker`]: consent, delegated and app-only tokens, keepalive and status.

mod broker;
mod cache;
mod local;
mod store;

pub use broker::{
    BrokerError, BrokerSettings, ConsentRecord, GrantStatus, TokenBroker, app_credential,
    open_store,
};
pub use cache::{AccessTokenCache, CachePolicy, Fetched, Identity, KeyRef};
pub use local::LocalFileStore;
pub use store::{GrantMetadata, RefreshTokenStore, StoreError, StoredGrant, secret_name};
