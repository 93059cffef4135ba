//! `setup` and `doctor` against the emulator (`crates/emulator`): every test starts its own.

mod breakage;
mod config_file;
mod helpers;
mod remedies;
mod setup;
mod signin;
