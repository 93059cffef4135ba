//! Pieces every command-line entry point shares: exit codes, loading configuration at start-up,
//! and the `config check` / `config show` commands.

use std::io::Write;
use std::process::ExitCode;

use crate::config::{self, ConfigArgs, ConfigReport, Loaded, Settings};

/// Exit status of a configuration error (documented in every binary's `--help`).
pub const EXIT_CONFIG_ERROR: u8 = 2;

/// Loads and validates configuration; on failure prints the full report to stderr and returns the
/// exit code the binary should end with.
pub fn load_settings_or_report(args: &ConfigArgs) -> Result<(Loaded, Settings), ExitCode> {
    let loaded = config::load(args).map_err(|report| print_report(&report))?;
    let settings = loaded.validate().map_err(|report| print_report(&report))?;
    Ok((loaded, settings))
}

fn print_report(report: &ConfigReport) -> ExitCode {
    eprintln!("{report}");
    ExitCode::from(EXIT_CONFIG_ERROR)
}

/// `config show`: every key with its effective value and where it came from. Secret values are
/// shown as `[redacted]` (or `""` when unset).
pub fn write_effective_config(loaded: &Loaded, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "# profile: {}", loaded.profile)?;
    let effective = serde_json::to_value(&loaded.raw).unwrap_or_default();
    for key in config::known_keys() {
        let value = key.split('.').try_fold(&effective, |v, part| v.get(part));
        let rendered = match value {
            Some(serde_json::Value::String(s)) if config::is_secret_key(&key) && !s.is_empty() => {
                "\"[redacted]\"".to_owned()
            }
            Some(v) => v.to_string(),
            None => "null".to_owned(),
        };
        writeln!(out, "{key} = {rendered}    # {}", loaded.origin(&key))?;
    }
    Ok(())
}
