//! The command line: `partner-consent [--local] [configuration flags]`.

use std::process::ExitCode;

use clap::Parser;
use cli_kit::ConfigArgs;
use common::config::{LoadOptions, LogFormat};

#[cfg(feature = "local")]
use crate::local::{self, LocalCloud};
use crate::startup::{Application, Options};

/// The partner-consent web app: a partner admin (Global Admin + Admin Agent, with MFA) grants
/// consent; the app stores the refresh token and shows the result.
///
/// Exit codes: 0 stopped normally, 1 runtime failure, 2 configuration error.
#[derive(Debug, Parser)]
#[command(name = "partner-consent", version, about, long_about = None)]
pub struct Cli {
    /// Run everything locally: start the emulated Microsoft cloud in-process (demo directory),
    /// use the `local` profile and print the URL and the demo admin's sign-in details.
    /// Needs a build with the `local` feature (the default; release images leave it off).
    #[arg(long)]
    pub local: bool,
    /// With --local: the emulator's port (config/local.toml expects 8443).
    #[arg(long, value_name = "PORT", default_value_t = 8443, requires = "local")]
    pub emulator_port: u16,
    /// With --local: the port of the emulator's plain-HTTP sign-in pages on 127.0.0.1 (what the
    /// browser opens; no certificate exception needed). 0 picks a free port.
    #[arg(long, value_name = "PORT", default_value_t = 8480, requires = "local")]
    pub sign_in_port: u16,
    /// With --local: where local state lives (the emulator's CA and keys, the demo app's
    /// certificate, the stored tokens). Default: `.sam-local` in the working directory.
    #[arg(long, value_name = "DIR", requires = "local")]
    pub state_dir: Option<std::path::PathBuf>,
    /// With --local: start clean. Forgets the emulated cloud's saved state (refresh grants,
    /// consents, vault secrets, GDAP data) and the locally stored refresh tokens; the CA, keys
    /// and the demo app's certificate stay.
    #[arg(long, requires = "local")]
    pub reset: bool,
    /// `response_mode` requested from Entra ID: `query` (default) or `form_post`.
    #[arg(long, value_name = "MODE", value_parser = ["query", "form_post"])]
    pub response_mode: Option<String>,
    /// Configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Parses the command line and runs.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let mut options = cli.config.load_options();
    let local = match start_local(&cli, &mut options).await {
        Ok(local) => local,
        Err(code) => return code,
    };
    let (_loaded, settings) = match cli_kit::startup::load_settings_or_report(&options) {
        Ok(v) => v,
        Err(code) => return code,
    };
    // A configuration error (exit 2), before anything listens.
    if let Err(e) = crate::startup::check_allow_list(&settings) {
        eprintln!("configuration error: {e}");
        return cli_kit::Exit::Config.into();
    }
    let format = options.log_format.unwrap_or(settings.log.format);
    common::telemetry::init(format, &settings.log.filter);
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    let options = Options {
        response_mode: cli.response_mode.clone(),
        workers: None,
        // From consent.readyz_cache and consent.rate_limit_* (--set or SAM_CONSENT__…).
        readyz_cache: None,
        rate_limit: None,
    };
    let app = match Application::build(settings, options).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let state = app.state();
    match &local {
        Some(l) => {
            if let Err(e) = l.register_redirect(&state) {
                eprintln!("error: cannot register the redirect URL with the emulator: {e:#}");
                return ExitCode::FAILURE;
            }
            l.print_banner(&state);
        }
        None => {
            tracing::info!(
                listen = %state.settings.consent.listen,
                port = app.port(),
                "partner-consent listening"
            );
            println!(
                "partner-consent is listening on port {}. Partner admins consent at: {}",
                app.port(),
                state.settings.consent.landing_url()
            );
        }
    }
    if format == LogFormat::Text && local.is_some() {
        tracing::info!("press Ctrl-C to stop");
    }
    let handle = app.handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        handle.stop(true).await;
    });
    let result = app.run_until_stopped().await;
    // The emulated cloud stops after the server (a build without `local` has none).
    #[cfg(feature = "local")]
    drop(local);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// With `--local`, starts the emulated cloud and points the configuration at it.
#[cfg(feature = "local")]
async fn start_local(cli: &Cli, options: &mut LoadOptions) -> Result<Option<LocalCloud>, ExitCode> {
    if !cli.local {
        return Ok(None);
    }
    match local::prepare(
        options,
        local::Ports {
            emulator: cli.emulator_port,
            sign_in: cli.sign_in_port,
        },
        cli.state_dir.as_deref(),
        cli.reset,
    )
    .await
    {
        Ok(l) => Ok(Some(l)),
        Err(e) => {
            eprintln!("error: cannot start the local emulated cloud: {e:#}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// A build without the `local` feature links no emulator: `--local` still parses, so the
/// error can say how to get one (exit code 2, a usage error).
#[cfg(not(feature = "local"))]
async fn start_local(
    cli: &Cli,
    _options: &mut LoadOptions,
) -> Result<Option<LocalCloud>, ExitCode> {
    if !cli.local {
        return Ok(None);
    }
    eprintln!("error: this build has no local cloud: rebuild with `--features local`");
    Err(ExitCode::from(2))
}

/// Never constructed: without the `local` feature there is no local cloud.
#[cfg(not(feature = "local"))]
#[derive(Debug)]
enum LocalCloud {}

#[cfg(not(feature = "local"))]
impl LocalCloud {
    fn print_banner(&self, _app: &crate::AppState) {
        match *self {}
    }

    fn register_redirect(&self, _app: &crate::AppState) -> anyhow::Result<()> {
        match *self {}
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    drop(tokio::signal::ctrl_c().await);
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    drop(tokio::signal::ctrl_c().await);
}
