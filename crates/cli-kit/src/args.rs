//! The configuration flags of every binary. The core library's loader takes plain options; the
//! clap derive lives here, with the binaries.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use common::config::LogFormat;

/// What the command line says about configuration; binaries flatten this into their parser and
/// hand [`ConfigArgs::load_options`] to the loader.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigArgs {
    /// Configuration profile: reads config/<PROFILE>.toml [env: SAM_PROFILE] [default: none]
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
    #[arg(long, value_parser = log_format_parser(), global = true)]
    pub log_format: Option<LogFormat>,
}

impl ConfigArgs {
    /// The loader's options.
    pub fn load_options(&self) -> common::config::LoadOptions {
        common::config::LoadOptions {
            profile: self.profile.clone(),
            config_file: self.config_file.clone(),
            config_dir: self.config_dir.clone(),
            set: self.set.clone(),
            log_format: self.log_format,
        }
    }
}

/// `--log-format text|json`, with the same names and help as the settings key `log.format`.
/// Spelled out here so the flag needs neither clap support in the core's `LogFormat` nor its
/// `FromStr`.
fn log_format_parser() -> impl TypedValueParser<Value = LogFormat> {
    PossibleValuesParser::new([
        PossibleValue::new("text").help("Human-readable lines"),
        PossibleValue::new("json").help("One JSON object per line"),
    ])
    .map(|name| match name.as_str() {
        "json" => LogFormat::Json,
        _ => LogFormat::Text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        config: ConfigArgs,
    }

    #[test]
    fn flags_become_the_loaders_options() {
        let cli = Cli::try_parse_from([
            "x",
            "--profile",
            "prod",
            "--config",
            "extra.toml",
            "--set",
            "cloud.name=china",
            "--log-format",
            "json",
        ])
        .unwrap();
        let options = cli.config.load_options();
        assert_eq!(options.profile.as_deref(), Some("prod"));
        assert_eq!(options.config_file, Some(PathBuf::from("extra.toml")));
        assert_eq!(options.config_dir, PathBuf::from("config"));
        assert_eq!(options.set, ["cloud.name=china"]);
        assert_eq!(options.log_format, Some(LogFormat::Json));
    }

    #[test]
    fn an_unknown_log_format_is_a_usage_error() {
        let e = Cli::try_parse_from(["x", "--log-format", "xml"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::InvalidValue);
    }
}
