//! Token broker tests against the emulator (`crates/emulator`): every test starts its own.

mod abandoned;
mod audience;
mod concurrency;
mod consent_rules;
mod dot_segments;
mod errors;
mod grants;
mod helpers;
mod id_token;
mod key_vault;
mod logs;
mod partner_center_paging;
mod recorded;
mod request_ids;
mod restore;
