//! What every binary does before its command runs: load and validate configuration (on any
//! problem, print the whole report and exit 2), start telemetry, log the configuration's
//! warnings, and answer `config check` / `config show` itself.

use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;

use common::config::{self, ConfigReport, Loaded, Settings};

use crate::{ConfigArgs, Exit};

/// `config` subcommands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and report every problem (exit 2 if any).
    Check,
    /// Print every key with its effective value and where it came from (secrets redacted).
    Show,
}

/// The shared start-up: loads and validates configuration, initialises telemetry and logs the
/// configuration's warnings. `Continue` with the settings when a command is to run; `Break` with
/// the exit code when start-up already finished the process: a configuration report (exit 2,
/// printed to stderr), or `config` (`command`), answered on `out`.
pub fn start(
    args: &ConfigArgs,
    command: Option<ConfigCommand>,
    out: &mut dyn Write,
) -> ControlFlow<ExitCode, Settings> {
    let (loaded, settings) = match load_settings_or_report(&args.load_options()) {
        Ok(pair) => pair,
        Err(code) => return ControlFlow::Break(code),
    };
    common::telemetry::init(settings.log.format, &settings.log.filter);
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    match command {
        None => ControlFlow::Continue(settings),
        Some(ConfigCommand::Check) => ControlFlow::Break(check(&loaded, &settings, out)),
        Some(ConfigCommand::Show) => {
            ControlFlow::Break(match write_effective_config(&loaded, out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            })
        }
    }
}

/// `config check` after validation: what each binary checks at its start beyond validation
/// ([`Settings::refusals`], e.g. partner-consent's CPV allow list) and the app's certificate
/// file, which every binary loads. Each refusal names the binary; exit 2 if any.
fn check(loaded: &Loaded, settings: &Settings, out: &mut dyn Write) -> ExitCode {
    let mut refusals: Vec<(String, String, String)> = settings
        .refusals()
        .into_iter()
        .map(|r| (r.binary.to_owned(), r.key.to_owned(), r.message))
        .collect();
    if let config::AppCredential::Certificate(c) = &settings.app.credential
        && !matches!(c.source, config::CertificateSource::KeyVault { .. })
        && let Err(e) = common::entra::CertificateSigner::load(&c.source, c.algorithm)
    {
        refusals.push((
            "csp-app, cpv-app and partner-consent".into(),
            "app.certificate_path".into(),
            format!("the app's certificate does not load: {e}"),
        ));
    }
    for warning in settings.warnings() {
        let _ = writeln!(out, "warning: {warning}");
    }
    if refusals.is_empty() {
        let _ = writeln!(
            out,
            "configuration is valid (profile {}): csp-app, cpv-app and partner-consent start with it",
            loaded.profile.as_deref().unwrap_or("none")
        );
        return ExitCode::SUCCESS;
    }
    for (binary, key, message) in &refusals {
        let _ = writeln!(out, "{binary} would refuse to start ({key}): {message}");
    }
    let _ = writeln!(
        out,
        "configuration loads (profile {}), but {} start-up check(s) fail (above)",
        loaded.profile.as_deref().unwrap_or("none"),
        refusals.len()
    );
    Exit::Config.into()
}

/// Loads and validates configuration from the loader's options ([`ConfigArgs::load_options`]);
/// on failure prints the full report to stderr and returns the exit code the binary should end
/// with ([`Exit::Config`]).
// LoadOptions after the config split.
pub fn load_settings_or_report(
    options: &config::LoadOptions,
) -> Result<(Loaded, Settings), ExitCode> {
    let loaded = config::load(options).map_err(|report| print_report(&report))?;
    let settings = loaded.validate().map_err(|report| print_report(&report))?;
    Ok((loaded, settings))
}

fn print_report(report: &ConfigReport) -> ExitCode {
    eprintln!("{report}");
    Exit::Config.into()
}

/// `config show`: every key with its effective value and where it came from. Secret values are
/// shown as `[redacted]` (or `""` when unset).
pub fn write_effective_config(loaded: &Loaded, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "# profile: {}",
        loaded.profile.as_deref().unwrap_or("none")
    )?;
    let effective = serde_json::to_value(&loaded.raw).unwrap_or_default();
    // The keys of named sections (`templates.*.…`) are shown by `csp-app templates`.
    for key in config::known_keys()
        .into_iter()
        .filter(|k| !k.contains('*'))
    {
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
