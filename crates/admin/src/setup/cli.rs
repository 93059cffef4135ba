//! The `setup` and `doctor` subcommands, shared by `csp-app` and `cpv-app`: arguments, the admin
//! sign-in prompt, and the output. The binaries add one enum variant each and call
//! [`run_setup`] / [`run_doctor`].

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{
    AdminSession, CertificateChoice, SetupOptions, SignInSettings, browser, rules, signin,
};
use crate::doctor::{self, DoctorOptions};
use common::config::{self, AppMode, LoadOptions, Settings};

/// The CLI that runs a shared command: its mode (what `setup` writes) and the partners named
/// with its global `--partner` (cpv-app), which `doctor` checks.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// `csp-app` runs CSP, `cpv-app` CPV.
    pub mode: AppMode,
    /// Partners named on the command line (empty: every allowed or stored one).
    pub partners: &'a [String],
}

/// How the partner admin signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SignInMethod {
    /// Print a code to enter at the device-login page (works over SSH and in containers).
    DeviceCode,
    /// Open the authorize URL in a browser on this machine; a loopback listener takes the reply.
    Browser,
}

/// `setup`: create or update the app registration and write the configuration.
#[derive(Clone, Debug, clap::Args)]
pub struct SetupArgs {
    /// Print the plan; change nothing (the admin still signs in, to read the tenant).
    #[arg(long)]
    pub dry_run: bool,
    /// How the partner admin (Global Administrator) signs in.
    #[arg(long, value_enum, default_value_t = SignInMethod::DeviceCode)]
    pub sign_in: SignInMethod,
    /// Tenant to sign in to: the partner tenant ID or domain [default: partner.tenant_id, else organizations].
    #[arg(long)]
    pub tenant: Option<String>,
    /// Display name of the app registration [default: app.display_name].
    #[arg(long)]
    pub display_name: Option<String>,
    /// The consent app's redirect URL [default: consent.redirect_url].
    #[arg(long)]
    pub redirect_url: Option<url::Url>,
    /// Update this existing app (client ID) [default: app.client_id, else found by display name].
    #[arg(long)]
    pub app_id: Option<String>,
    /// Use this PEM certificate instead of generating one (with --private-key).
    #[arg(long, requires = "private_key")]
    pub certificate: Option<PathBuf>,
    /// PEM private key of --certificate.
    #[arg(long, requires = "certificate")]
    pub private_key: Option<PathBuf>,
    /// Where a generated certificate is kept (its key beside it, `.key`, mode 0600).
    #[arg(
        long,
        default_value = "secrets/app.pem",
        conflicts_with = "certificate"
    )]
    pub certificate_out: PathBuf,
    /// The configuration file to write (use it with --config FILE, or name it
    /// config/<profile>.toml and select the profile).
    #[arg(long, default_value = "config/production.toml")]
    pub write_config: PathBuf,
    /// Public client the admin signs in with [default: Microsoft Graph Command Line Tools].
    #[arg(long, default_value = rules::SIGN_IN_CLIENT_ID)]
    pub sign_in_client_id: String,
    /// How long --sign-in browser waits for the sign-in to come back, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub sign_in_timeout: u64,
    /// CPV: a partner tenant allowed to consent (repeatable, or comma-separated; '*' allows any)
    /// [default: partner.allowed_tenants; asked for when empty and run at a terminal].
    #[arg(long = "allowed-tenant", value_name = "TENANT", value_delimiter = ',')]
    pub allowed_tenants: Vec<String>,
}

/// `doctor`: check the deployment.
#[derive(Clone, Debug, clap::Args)]
pub struct DoctorArgs {
    /// Sign a partner admin in to also check the app registration, the Partner Center service
    /// principal and the grants (without it those checks are reported as skipped). It asks for
    /// read permissions only: Graph `Application.Read.All` and `DelegatedPermissionGrant.Read.All`.
    #[arg(long, value_enum)]
    pub sign_in: Option<SignInMethod>,
    /// A partner tenant whose stored consent to check [default: partner.tenant_id; CPV: every
    /// allowed and stored partner, or those named with --partner]. CPV: the application
    /// permissions in each of its customer tenants are checked too (one Partner Center listing,
    /// one app-only token per customer).
    #[arg(long = "partner-tenant", value_name = "TENANT")]
    pub partner: Option<String>,
    /// CPV: check the application permissions of these customers only (tenant ID, repeatable)
    /// [default: every customer of each checked partner, but customers.exclude].
    #[arg(long = "customer", value_name = "TENANT")]
    pub customers: Vec<String>,
    /// Warn when the certificate expires within this many days.
    #[arg(long, default_value_t = 30)]
    pub certificate_warn_days: i64,
    /// Warn when the refresh token is this close (days) to its 90-day inactivity expiry.
    #[arg(long, default_value_t = 30)]
    pub inactivity_warn_days: i64,
    /// Public client the admin signs in with [default: Microsoft Graph Command Line Tools].
    #[arg(long, default_value = rules::SIGN_IN_CLIENT_ID)]
    pub sign_in_client_id: String,
    /// How long --sign-in browser waits for the sign-in to come back, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub sign_in_timeout: u64,
}

/// The configuration before set-up: the app may not exist yet, so missing app keys are filled
/// with placeholders to validate the rest (cloud, consent, store, HTTP).
fn lenient_settings(args: &LoadOptions) -> Result<(config::RawSettings, Settings), ExitCode> {
    let loaded = config::load(args).map_err(|r| {
        eprintln!("{r}");
        ExitCode::from(cli_kit::Exit::Config)
    })?;
    let mut raw = loaded.raw.clone();
    if raw.app.client_id.trim().is_empty() {
        raw.app.client_id = uuid::Uuid::nil().to_string();
    }
    if raw.app.certificate_path.is_empty()
        && raw.app.pkcs12_path.is_empty()
        && raw.app.client_secret.is_empty()
    {
        raw.app.client_secret = "placeholder-before-setup".into();
    }
    if raw.partner.tenant_id.trim().is_empty() {
        raw.partner.tenant_id = uuid::Uuid::nil().to_string();
    }
    let settings = raw.validate().map_err(|r| {
        eprintln!("{r}");
        ExitCode::from(cli_kit::Exit::Config)
    })?;
    Ok((loaded.raw, settings))
}

async fn sign_in(
    http: &reqwest::Client,
    settings: &SignInSettings,
    method: SignInMethod,
) -> Result<AdminSession, super::SetupError> {
    match method {
        SignInMethod::DeviceCode => {
            let pending = signin::start_device_code(http, settings).await?;
            eprintln!("{}", pending.message);
            signin::finish_device_code(http, settings, &pending).await
        }
        SignInMethod::Browser => {
            signin::sign_in_browser(http, settings, |url| match browser::open(url) {
                Some(program) => eprintln!(
                    "Sign in as a Global Administrator in the browser ({program} opened it). If it did not open, open this URL on this machine:\n\n  {url}\n"
                ),
                None => eprintln!(
                    "No browser found here ($BROWSER unset, no desktop). Open this URL in a browser on this machine and sign in as a Global Administrator:\n\n  {url}\n"
                ),
            })
            .await
        }
    }
}

/// Runs `setup` for the CLI of `mode` (`csp-app` writes `mode = "csp"`, `cpv-app` `"cpv"`);
/// `json` prints the report as JSON. Exit 0 done, 1 failed, 2 configuration or usage.
pub async fn run_setup(
    config: &LoadOptions,
    args: &SetupArgs,
    mode: AppMode,
    json: bool,
    out: &mut dyn Write,
) -> ExitCode {
    let (raw, settings) = match lenient_settings(config) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let http = match common::http::build_client(&settings.http) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tenant = args.tenant.clone().unwrap_or_else(|| {
        Some(raw.partner.tenant_id.trim().to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "organizations".into())
    });
    let allowed_tenants = match allowed_tenants(mode, args, &settings) {
        Ok(a) => a,
        Err(message) => {
            eprintln!("error: {message}");
            return cli_kit::Exit::Config.into();
        }
    };
    let options = setup_options(config, args, mode, &raw, &settings, allowed_tenants);
    let sign_in_settings =
        SignInSettings::for_cloud(&settings.cloud, &tenant, &args.sign_in_client_id)
            .with_sign_in_host(settings.entra.sign_in_host.clone())
            .with_browser_timeout(std::time::Duration::from_secs(args.sign_in_timeout));
    let result = async {
        let session = sign_in(&http, &sign_in_settings, args.sign_in).await?;
        super::run(&session, &options).await
    }
    .await;
    match result {
        Ok(report) => {
            let text = if json {
                serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
            } else {
                report.render_text()
            };
            match out.write_all(text.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `setup` is asked to make, from the flags over the (lenient) configuration.
fn setup_options(
    config: &LoadOptions,
    args: &SetupArgs,
    mode: AppMode,
    raw: &config::RawSettings,
    settings: &Settings,
    allowed_tenants: Vec<String>,
) -> SetupOptions {
    let certificate = match (&args.certificate, &args.private_key) {
        (Some(c), Some(k)) => CertificateChoice::Existing {
            certificate: c.clone(),
            private_key: k.clone(),
        },
        _ => CertificateChoice::Generate {
            path: args.certificate_out.clone(),
            valid_days: 365,
            renew_days: 30,
        },
    };
    SetupOptions {
        mode,
        cloud: settings.cloud.clone(),
        display_name: args
            .display_name
            .clone()
            .unwrap_or_else(|| settings.app.display_name.clone()),
        redirect_url: args
            .redirect_url
            .clone()
            .unwrap_or_else(|| settings.consent.redirect_url.clone()),
        app_id: args
            .app_id
            .clone()
            .or_else(|| Some(raw.app.client_id.trim().to_owned()).filter(|c| !c.is_empty())),
        certificate,
        config_path: args.write_config.clone(),
        config_dir: config.config_dir.clone(),
        allowed_tenants,
        endpoint_version: settings.entra.endpoint_version,
        store: Some(settings.store.clone()),
        ca_bundle: settings.http.ca_bundle.clone(),
        dry_run: args.dry_run,
    }
}

/// CPV: the partner tenants allowed to consent, from `--allowed-tenant`, else the configuration,
/// else asked for at a terminal. Empty is refused: partner-consent would not start with it.
fn allowed_tenants(
    mode: AppMode,
    args: &SetupArgs,
    settings: &Settings,
) -> Result<Vec<String>, String> {
    if mode != AppMode::Cpv {
        return Ok(Vec::new());
    }
    let clean = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect()
    };
    let mut tenants = clean(&args.allowed_tenants);
    if tenants.is_empty() {
        tenants = clean(&settings.partner.allowed_tenants);
    }
    if tenants.is_empty() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!(
            "Partner tenants allowed to consent to this CPV app (tenant IDs, comma-separated; '*' for any): "
        );
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_ok() {
            tenants = clean(&line.split(',').map(str::to_owned).collect::<Vec<_>>());
        }
    }
    if tenants.is_empty() {
        return Err("cpv-app setup needs the partner tenants allowed to consent \
             (partner.allowed_tenants; partner-consent refuses to start without them): pass \
             --allowed-tenant TENANT (repeatable), or --allowed-tenant '*' to let any partner tenant consent"
            .into());
    }
    Ok(tenants)
}

/// Runs `doctor` with validated `settings`; `json` prints the report as JSON. Exit
/// ([`DoctorReport::exit`](crate::doctor::DoctorReport::exit)): 0 pass, 4 warn, 1 fail; 2 a
/// configuration error.
pub async fn run_doctor(
    settings: &Settings,
    args: &DoctorArgs,
    caller: Caller<'_>,
    json: bool,
    out: &mut dyn Write,
) -> ExitCode {
    let http = match common::http::build_client(&settings.http) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return cli_kit::Exit::Config.into();
        }
    };
    let report = async {
        let admin = match args.sign_in {
            None => None,
            Some(method) => {
                let tenant = settings
                    .partner
                    .tenant_id
                    .clone()
                    .unwrap_or_else(|| "organizations".into());
                let s = SignInSettings::for_doctor(&settings.cloud, &tenant, &args.sign_in_client_id)
                    .with_sign_in_host(settings.entra.sign_in_host.clone())
                    .with_browser_timeout(std::time::Duration::from_secs(args.sign_in_timeout));
                match sign_in(&http, &s, method).await {
                    Ok(session) => Some(session.graph),
                    Err(e) => {
                        eprintln!("warning: admin sign-in failed ({e}); the registration checks are skipped");
                        None
                    }
                }
            }
        };
        // `--partner-tenant` and the CLI's global `--partner` both name partners to check.
        let options = DoctorOptions {
            admin,
            partner: None,
            partners: args
                .partner
                .iter()
                .chain(caller.partners)
                .cloned()
                .collect(),
            customers: args.customers.clone(),
            certificate_warn_days: args.certificate_warn_days,
            inactivity_warn_days: args.inactivity_warn_days,
        };
        doctor::run(settings, &http, &options).await
    }
    .await;
    let text = if json {
        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
    } else {
        report.render_text()
    };
    if out.write_all(text.as_bytes()).is_err() {
        return cli_kit::Exit::Failure.into();
    }
    report.exit().into()
}

/// The commands both CLIs share, flattened into each one's subcommands. `setup` needs no valid
/// configuration; `config check|show` and `doctor` need one and end the run.
#[derive(Debug, clap::Subcommand)]
pub enum SharedCommand {
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(cli_kit::ConfigCommand),
    /// Create or update the app registration in the partner tenant (Partner Center service
    /// principal, multitenant app, delegated permissions only, certificate), write the
    /// configuration and print the consent link. Safe to run again; --dry-run shows the plan.
    Setup(Box<SetupArgs>),
    /// Check the deployment: each finding pass/warn/fail with its fix; exit 0 pass, 4 warn, 1 fail
    /// (2: the configuration does not load). cpv-app also checks, per partner, the application
    /// permissions the app holds in each customer tenant against customers.application_permissions
    /// (customers.application_permissions: more fails, fewer or not consented warns).
    Doctor(DoctorArgs),
}

/// The start of both CLIs' `run`: runs a shared command to its end (`Break` with its exit
/// code), or loads and validates the configuration for the CLI's own command (`Continue`).
pub async fn start(
    config: &cli_kit::ConfigArgs,
    caller: Caller<'_>,
    shared: Option<&SharedCommand>,
    json: bool,
    out: &mut dyn Write,
) -> std::ops::ControlFlow<ExitCode, Settings> {
    use std::ops::ControlFlow;
    if let Some(SharedCommand::Setup(args)) = shared {
        // Before set-up the configuration names no app yet: setup validates what it needs.
        return ControlFlow::Break(
            run_setup(&config.load_options(), args, caller.mode, json, out).await,
        );
    }
    let config_command = match shared {
        Some(SharedCommand::Config(c)) => Some(*c),
        _ => None,
    };
    let settings = cli_kit::startup::start(config, config_command, out)?;
    if let Some(SharedCommand::Doctor(args)) = shared {
        return ControlFlow::Break(run_doctor(&settings, args, caller, json, out).await);
    }
    ControlFlow::Continue(settings)
}
