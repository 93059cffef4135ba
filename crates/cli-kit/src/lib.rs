//! The command-line layer `csp-app` and `cpv-app` share, kept out of the core library (`common`):
//!
//! - [`Exit`]: the exit codes, one definition for both CLIs (`docs/ARCHITECTURE.md`, "Exit codes
//!   of the CLIs");
//! - [`Failure`]: a failed command as a person reads it (what happened, the remedy, where to
//!   consent again) and the exit code a script branches on;
//! - [`output`]: `--output table|json|ndjson` and its writers; [`columns`]: the table columns
//!   both CLIs show for the same command (`users list`);
//! - [`ConfigArgs`]: the configuration flags every binary flattens into its clap parser;
//! - [`Run`]: the settings, HTTP client and token broker every command runs on, opened the same
//!   way (and failing the same way) in both CLIs;
//! - [`startup`]: loading and validating configuration (exit 2 with the full report), telemetry,
//!   and the `config check` / `config show` commands.

mod args;
pub mod columns;
mod exit;
mod failure;
pub mod output;
mod run;
pub mod selection;
pub mod startup;

pub use args::ConfigArgs;
pub use exit::Exit;
pub use failure::Failure;
pub use output::OutputFormat;
pub use run::{Run, start_failure};
pub use selection::{Selection, SelectionArgs};
pub use startup::ConfigCommand;
