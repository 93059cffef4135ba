#[path = "../support/mod.rs"]
pub mod support;

mod driver;
mod flows;
mod hybrid;
mod readme;
mod setup_walk;
