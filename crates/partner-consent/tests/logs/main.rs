#[path = "../support/mod.rs"]
pub mod support;

mod no_secrets;
