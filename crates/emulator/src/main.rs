//! `emulator` binary: `cargo run -p emulator -- --seed FILE --port N --state-dir DIR`.

use anyhow::Context as _;
use clap::Parser;
use emulator::{Emulator, EmulatorConfig, ReplicationSettings, Seed, app_certificate};
use std::path::PathBuf;

/// Emulated Microsoft Entra ID, Key Vault, Graph and Partner Center on localhost (a test double).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The emulator's data file (TOML): the demo directory's tenants, users, apps and vaults;
    /// the built-in demo directory when absent.
    #[arg(long, env = "SAM_EMULATOR_SEED")]
    seed: Option<PathBuf>,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8443, env = "SAM_EMULATOR_PORT")]
    port: u16,
    /// Port of the plain-HTTP listener of the sign-in pages (authorize, sign-in, MFA, consent,
    /// device login), so a browser needs no certificate exception; every API stays HTTPS.
    #[arg(long, default_value_t = 8480, env = "SAM_EMULATOR_SIGN_IN_PORT")]
    sign_in_port: u16,
    /// Address to listen on. 127.0.0.1 by default; 0.0.0.0 in a container whose port is
    /// published (docker-compose.yml). The URLs it prints stay https://127.0.0.1:{port}.
    #[arg(long, default_value = "127.0.0.1", env = "SAM_EMULATOR_BIND")]
    bind: std::net::IpAddr,
    /// Register a certificate credential on an app of the demo directory: APP_ID=PATH. PATH is a PEM
    /// file with the certificate and its private key, created (self-signed, mode 0600) when
    /// missing, before the emulator listens. Repeatable.
    #[arg(long, value_name = "APP_ID=PATH", value_parser = app_certificate::parse)]
    app_certificate: Vec<(String, PathBuf)>,
    /// Directory for the CA (ca.pem, ca.key) and the token-signing key, kept across restarts.
    #[arg(
        long,
        default_value = ".sam-local/emulator",
        env = "SAM_EMULATOR_STATE_DIR"
    )]
    state_dir: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Start clean: forget the refresh grants, consents, vault secrets, Partner Center and GDAP
    /// data and clock offset kept in the state directory (its CA and keys stay).
    #[arg(long)]
    reset: bool,
    /// Add this many generated customer tenants to the demo directory (deterministic IDs; for
    /// benchmarks and scale tests). See `emulator::partner_data::generate`.
    #[arg(long, default_value_t = 0)]
    customers: u32,
    /// Users in each generated customer tenant (with `--customers`).
    #[arg(long, default_value_t = 50)]
    users_per_customer: u32,
    /// How long a consent's service principal and grant, or an app-role assignment, take to
    /// become visible to Graph and to token requests: SECS or MIN-MAX (a random delay in the
    /// range), on the emulator's clock. The demo's default, 2-8, is short and realistic; 0 makes
    /// every change visible at once. Overrides the seed's `[replication]`.
    #[arg(long, value_name = "SECS|MIN-MAX", default_value = "2-8", value_parser = ReplicationSettings::parse, env = "SAM_EMULATOR_REPLICATION_DELAY")]
    replication_delay: ReplicationSettings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    let args = Args::parse();
    let seed = match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Seed::from_toml(&text)?
        }
        None => Seed::default(),
    };
    let mut seed = if args.customers > 0 {
        seed.with_generated_customers(args.customers, args.users_per_customer)?
    } else {
        seed
    };
    // The demo keeps GDAP's transitional states for a few seconds each (crates/emulator/README.md
    // "GDAP's clock"), unless the seed says otherwise.
    seed.gdap_timings
        .get_or_insert_with(emulator::partner_data::gdap::GdapTimings::demo);
    if args.reset {
        emulator::persist::reset(&args.state_dir)?;
        println!(
            "  Reset: {} removed",
            args.state_dir.join(emulator::persist::FILE).display()
        );
    }
    seed.replication = args.replication_delay.clone();
    let mut config = EmulatorConfig {
        seed,
        bind: args.bind,
        port: args.port,
        sign_in_port: Some(args.sign_in_port),
        state_dir: Some(args.state_dir.clone()),
        workers: args.workers,
        ..EmulatorConfig::default()
    };
    for (app_id, path) in &args.app_certificate {
        let pem = app_certificate::ensure(path)?;
        config = config.with_certificate(app_id, pem);
        println!("  App {app_id}: certificate {}", path.display());
    }
    // The demo app's certificate (above) and the CA (in `Emulator::start`) are written before
    // the first listener is bound: a health check that connects proves both files exist.
    let handle = Emulator::start(config).await?;
    if !args.bind.is_loopback() {
        eprintln!(
            "WARNING: listening on {}, not a loopback address: the emulator's APIs and its demo \
             credentials are reachable from other machines. It is a test double; /_admin/ answers \
             loopback peers only.",
            args.bind
        );
    }
    print_banner(&handle);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    handle.stop().await;
    Ok(())
}

/// What the emulator serves, where, and the demo credentials (stdout).
fn print_banner(handle: &emulator::EmulatorHandle) {
    let ca = handle
        .ca_path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    println!(
        "SAM emulator (a test double of Microsoft Entra ID, Key Vault, Graph and Partner Center) is running."
    );
    println!();
    println!("  CA certificate (trust it):  {ca}");
    println!("  Entra authority host:       {}", handle.authority_host());
    println!(
        "  Sign-in pages (browser):    {} (plain HTTP, loopback)",
        handle.sign_in_host()
    );
    // Where the APIs answer; their tokens are for Microsoft's App ID URIs only, as in Entra
    // (docs/microsoft-behaviour.md §6.1a).
    println!(
        "  Microsoft Graph:            {} (tokens: https://graph.microsoft.com)",
        handle.graph_url()
    );
    println!(
        "  Partner Center:             {} (tokens: https://api.partnercenter.microsoft.com)",
        handle.partner_center_url()
    );
    println!(
        "  Partner API:                {} (tokens: https://api.partner.microsoft.com)",
        handle.partner_api_url()
    );
    let r = &handle.seed().replication;
    println!(
        "  Replication delay:          {} ms (consents, app-role assignments; --replication-delay)",
        match r.max_delay_ms {
            Some(max) if max > r.delay_ms => format!("{}-{max}", r.delay_ms),
            _ => r.delay_ms.to_string(),
        }
    );
    println!(
        "  Key Vault DNS suffix:       {}",
        handle.key_vault_dns_suffix()
    );
    for v in &handle.seed().vaults {
        println!("  Vault {:<20} {}", v.name, handle.vault_url(&v.name));
    }
    println!(
        "  Admin API:                  {}/_admin/counters (loopback peers only)",
        handle.authority_host()
    );
    print_identity(handle);
    println!();
    println!(
        "  *.localhost names must resolve to 127.0.0.1 (RFC 6761 §6.3); add them to /etc/hosts if your resolver does not."
    );
    println!();
    print_directory(handle.seed());
}

/// The managed-identity endpoint as an App Service / Container Apps host provides it, with a
/// ready `export` line, so managed identity can be tried by hand. `IDENTITY_HEADER` is random
/// per start and proves only that a caller read this output (as on a real host, where it proves
/// the caller runs there).
fn print_identity(handle: &emulator::EmulatorHandle) {
    println!("  Managed identity:");
    println!("    IDENTITY_ENDPOINT=\"{}\"", handle.identity_endpoint());
    println!("    IDENTITY_HEADER=\"{}\"", handle.identity_header());
    println!(
        "    export IDENTITY_ENDPOINT=\"{}\" IDENTITY_HEADER=\"{}\"",
        handle.identity_endpoint(),
        handle.identity_header()
    );
}

/// The demo directory's tenants, sign-ins and apps (the first ones of a generated seed).
fn print_directory(seed: &Seed) {
    // Generated seeds hold thousands of tenants and users: list the first ones only.
    const LISTED: usize = 25;
    println!("Tenants:");
    for t in seed.tenants.iter().take(LISTED) {
        println!("  {:<38} {:<34} {:?}", t.id, t.domain, t.kind);
    }
    if seed.tenants.len() > LISTED {
        println!("  ... and {} more", seed.tenants.len() - LISTED);
    }
    println!("Demo sign-ins:");
    for u in seed.users.iter().take(LISTED) {
        println!(
            "  {:<46} password {:<24} MFA code {}",
            u.upn,
            u.password,
            u.mfa_code.as_deref().unwrap_or("(no MFA)")
        );
    }
    if seed.users.len() > LISTED {
        println!("  ... and {} more", seed.users.len() - LISTED);
    }
    println!("Apps:");
    for a in &seed.apps {
        println!("  {:<38} {}", a.app_id, a.display_name);
    }
}

fn tracing_subscriber_init() {
    // Logs go to stderr at info by default; RUST_LOG overrides. Secrets are never logged.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
