//! Pieces every command-line entry point shares: exit codes, loading configuration at start-up,
//! and the `config check` / `config show` commands.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::config::{self, ConfigReport, LoadOptions, Loaded, LogFormat, Settings, Words};

/// The configuration flags every binary flattens into its clap parser; converts into
/// [`LoadOptions`].
///
/// Temporary home: clap parsing belongs with the binaries (a shared CLI crate), not in the core
/// library, and this struct moves there.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigArgs {
    /// Configuration profile: reads config/<PROFILE>.toml [env: SAM_PROFILE] [default: local]
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// An extra configuration file, applied after the profile's file.
    #[arg(long = "config", value_name = "FILE", global = true)]
    pub config_file: Option<PathBuf>,
    /// Directory holding default.toml and the profile files.
    #[arg(long, value_name = "DIR", default_value = "config", global = true)]
    pub config_dir: PathBuf,
    /// Override one key, e.g. --set cloud.name=china (repeatable; applied last).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub set: Vec<String>,
    /// Log format.
    #[arg(long, value_name = "FORMAT", global = true, value_parser = log_format_parser())]
    pub log_format: Option<LogFormat>,
}

fn log_format_parser() -> impl TypedValueParser<Value = LogFormat> {
    PossibleValuesParser::new(LogFormat::accepted()).try_map(|s| s.parse::<LogFormat>())
}

impl From<&ConfigArgs> for LoadOptions {
    fn from(args: &ConfigArgs) -> Self {
        Self {
            profile: args.profile.clone(),
            config_file: args.config_file.clone(),
            config_dir: args.config_dir.clone(),
            set: args.set.clone(),
            log_format: args.log_format,
        }
    }
}

impl ConfigArgs {
    /// What these flags say, for [`config::load`].
    pub fn to_load_options(&self) -> LoadOptions {
        self.into()
    }
}

/// Exit status of a configuration error (documented in every binary's `--help`).
pub const EXIT_CONFIG_ERROR: u8 = 2;

/// Loads and validates configuration; on failure prints the full report to stderr and returns the
/// exit code the binary should end with.
pub fn load_settings_or_report(options: &LoadOptions) -> Result<(Loaded, Settings), ExitCode> {
    let loaded = config::load(options).map_err(|report| print_report(&report))?;
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
