//! Tokens: the access-token cache and the [`TokenBroker`] the apps use.
//!
//! - [`AccessTokenCache`]: per (tenant, resource, identity), single-flight, refresh ahead; every
//!   token request runs to its end in a task of its own;
//! - [`TokenBroker`]: consent, delegated and app-only tokens, rotation, keepalive and status
//!   (module `broker`, one concern per file);
//! - [`BrokerTokens`]: the broker as the token source the REST clients receive.
//!
//! The refresh tokens themselves are kept in a store ([`crate::store`]: the trait and the local
//! file; Key Vault in [`crate::keyvault`]). The store's types are re-exported here, where the apps
//! have always found them.

mod broker;
mod cache;

pub use crate::store::{
    GrantMetadata, LocalFileStore, RefreshTokenStore, StoreError, StoredGrant, secret_name,
};
pub use broker::{
    BrokerError, BrokerSettings, BrokerTokens, ConsentRecord, GrantStatus, OpenedStore, Restored,
    TokenBroker, app_credential, open_store,
};
pub use cache::{AccessTokenCache, CachePolicy, Fetched, Identity, KeyRef};
