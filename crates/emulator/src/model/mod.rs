//! The model: what the emulated cloud knows, below every handler. Directory data (tenants,
//! users, apps, service principals, consents), sign-in state (flows, sessions, device codes,
//! authorization codes, refresh grants), vault contents, Partner Center and GDAP records,
//! managed identities, federated credentials, injected faults, the signing keys, the seed and
//! the persisted state. [`state::State`] holds them all.
//!
//! Nothing here imports a handler (`entra`, `graph`, `partner_center`, `keyvault`,
//! `managed_identity`, `admin`, `pages`, `faults`' middleware): handlers import the model, never
//! the reverse.

pub mod faults;
pub mod federation;
pub mod files;
pub mod managed_identity;
pub mod partner_data;
pub mod persist;
pub mod replication;
pub mod resources;
pub mod seed;
pub mod sessions;
pub mod state;
pub mod throttle;
pub mod tokens;
pub mod vault;
