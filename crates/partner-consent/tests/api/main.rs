#[path = "../support/mod.rs"]
pub mod support;

mod bad_input;
mod dropped;
mod flow;
mod health;
mod hybrid;
mod security;
mod tabs;
