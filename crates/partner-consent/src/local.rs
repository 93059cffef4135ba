//! `--local`: the whole flow on one machine with no Azure tenant.
//!
//! Starts the emulated Microsoft cloud (`crates/emulator`, default seed) in this process on
//! 127.0.0.1:8443 (or `--emulator-port`), its sign-in pages also over plain HTTP on
//! 127.0.0.1:8480 (or `--sign-in-port`) so a stock browser walks the sign-in without a
//! certificate warning, keeping its CA and signing key in
//! `.sam-local/emulator` so a restart keeps browsers' trust and issued tokens' signatures valid;
//! writes the CA to `.sam-local/emulator/ca.pem` (which `config/local.toml` trusts), creates the
//! demo app's certificate `.sam-local/app.pem` once and registers it with the emulator, selects
//! the `local` profile, then prints where to go and how to sign in. The emulator keeps its state
//! (refresh grants, consents, vault secrets, GDAP data) in that directory across restarts;
//! `--reset` starts clean.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use common::config::LoadOptions;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};

use crate::startup::AppState;

/// Where local state lives by default, relative to the working directory (as
/// `config/local.toml` says); `--state-dir` chooses another directory.
pub const LOCAL_DIR: &str = ".sam-local";

/// The local refresh-token store in the state directory.
const TOKEN_STORE: &str = "refresh-tokens.enc";

/// The emulator's ports on 127.0.0.1: its TLS listener (every API) and its plain-HTTP sign-in
/// pages.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// TLS listener (`config/local.toml` expects 8443).
    pub emulator: u16,
    /// Plain-HTTP sign-in pages (`config/local.toml` expects 8480).
    pub sign_in: u16,
}

/// The running local cloud; stops when dropped.
#[derive(Debug)]
pub struct LocalCloud {
    emulator: EmulatorHandle,
    ca_path: PathBuf,
}

/// Starts the emulator and points the configuration at it. Local state (the emulator's CA and
/// keys, the demo app's certificate, the token store) lives in `dir` (`.sam-local` by default);
/// the `local` profile is built into the binary, so no `config/` directory is needed.
pub async fn prepare(
    config: &mut LoadOptions,
    ports: Ports,
    dir: Option<&Path>,
    reset: bool,
) -> anyhow::Result<LocalCloud> {
    let Ports {
        emulator: port,
        sign_in: sign_in_port,
    } = ports;
    let dir = dir.map_or_else(|| PathBuf::from(LOCAL_DIR), Path::to_path_buf);
    let state_dir = dir.join("emulator");
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let store = dir.join(TOKEN_STORE);
    if reset {
        emulator::persist::reset(&state_dir)?;
        match std::fs::remove_file(&store) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete {}", store.display())),
        }
        println!(
            "Reset: the emulated cloud's saved state and {} were removed.",
            store.display()
        );
    }
    // GDAP's transitional states last a few seconds each, as in the emulator binary's demo
    // (crates/emulator/README.md, "GDAP's clock").
    let seed = emulator::Seed {
        gdap_timings: Some(emulator::partner_data::gdap::GdapTimings::demo()),
        ..emulator::Seed::default()
    };
    let app_id = demo_app_id(&seed)?;
    let cert_path = dir.join("app.pem");
    let certificate = emulator::app_certificate::ensure(&cert_path)?;
    let emulator = Emulator::start(EmulatorConfig {
        seed,
        port,
        sign_in_port: Some(sign_in_port),
        state_dir: Some(state_dir.clone()),
        ..EmulatorConfig::default()
    }
    .with_certificate(&app_id, certificate))
    .await
    .with_context(|| format!("cannot start the emulator on 127.0.0.1:{port} and {sign_in_port} (is another one running? try --emulator-port and --sign-in-port)"))?;
    let ca_path = state_dir.join("ca.pem");
    write_if_changed(&ca_path, emulator.ca_pem().as_bytes())?;
    if config.profile.is_none() {
        config.profile = Some("local".to_owned());
    }
    // The emulator's own addresses win over the profile's defaults; the user's --set still wins.
    let mut sets = vec![
        format!("cloud.authority_host={}", emulator.authority_host()),
        format!("entra.sign_in_host={}", emulator.sign_in_host()),
        format!("cloud.graph_url={}", emulator.graph_url()),
        format!("cloud.partner_center_url={}", emulator.partner_center_url()),
        format!(
            "cloud.key_vault_dns_suffix={}",
            emulator.key_vault_dns_suffix()
        ),
        format!("http.ca_bundle={}", ca_path.display()),
        format!("app.certificate_path={}", cert_path.display()),
        format!("store.local.path={}", store.display()),
        format!("store.local.key_file={}", dir.join("store.key").display()),
    ];
    sets.append(&mut config.set);
    config.set = sets;
    Ok(LocalCloud { emulator, ca_path })
}

impl LocalCloud {
    /// The emulator.
    pub fn emulator(&self) -> &EmulatorHandle {
        &self.emulator
    }

    /// Registers the configured redirect URL on the demo app, as an admin would in the portal,
    /// so `--set consent.listen=… --set consent.redirect_url=…` works on another port than the
    /// demo's `http://localhost:8080/callback`.
    pub fn register_redirect(&self, app: &AppState) -> anyhow::Result<()> {
        self.emulator.add_redirect_uri(
            &app.settings.app.client_id,
            app.settings.consent.redirect_url.as_str(),
        )
    }

    /// Prints the URL and the demo admin's sign-in details (demo credentials of the emulator's
    /// default seed: not secrets).
    pub fn print_banner(&self, app: &AppState) {
        let mut url = app.settings.consent.redirect_url.clone();
        url.set_path("/");
        url.set_query(None);
        let partner = app.settings.partner.tenant_id.clone().unwrap_or_default();
        let admin = self.emulator.seed().users.iter().find(|u| {
            u.tenant.eq_ignore_ascii_case(&partner)
                && u.admin_agent
                && u.is_global_admin()
                && u.mfa_code.is_some()
        });
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "\nPartner consent (local demo) is running.\n");
        let _ = writeln!(out, "  Open:           {url}");
        if let Some(u) = admin {
            let _ = writeln!(out, "  Sign in as:     {}", u.upn);
            let _ = writeln!(out, "  Password:       {}", u.password);
            let _ = writeln!(
                out,
                "  MFA code:       {}",
                u.mfa_code.as_deref().unwrap_or_default()
            );
        }
        let _ = writeln!(
            out,
            "  Emulated cloud: {} (a test double of Entra ID and Key Vault; CA {}); sign-in pages on {}",
            self.emulator.authority_host(),
            self.ca_path.display(),
            self.emulator.sign_in_host()
        );
        let _ = writeln!(out, "  Tokens stored:  {}", app.store.location());
        let _ = writeln!(
            out,
            "\nThe demo credentials belong to the emulator's demo directory, not to Microsoft. Press Ctrl-C to stop.\n"
        );
        let _ = out.flush();
    }
}

fn demo_app_id(seed: &emulator::Seed) -> anyhow::Result<String> {
    // The CSP demo app: the first multitenant app of the partner tenant with a redirect URI.
    seed.apps
        .iter()
        .find(|a| a.multitenant && !a.redirect_uris.is_empty())
        .map(|a| a.app_id.clone())
        .context("the emulator's demo directory has no multitenant app with a redirect URI")
}

fn write_if_changed(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    if std::fs::read(path).is_ok_and(|c| c == content) {
        return Ok(());
    }
    std::fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))
}
