//! Spawns the emulator on port 0, writes a configuration pointing `csp-app` at it, stores a
//! consent through the token broker (walking the emulator's sign-in pages over HTTP like a
//! browser), and runs the CLI in-process.

use emulator::browser::ConsentAnswer;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser as _;
use common::config::LoadOptions;
use common::entra::AuthorizeOptions;
use common::secret::AuthCode;
use common::tokens::{LocalFileStore, RefreshTokenStore as _, StoredGrant, TokenBroker};
use emulator::seed::ids;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use url::Url;

pub const ADMIN: &str = "admin@contoso-partner.onmicrosoft.com";
pub const PARTNER: &str = ids::PARTNER_TENANT;
pub const FABRIKAM: &str = ids::CUSTOMER_FABRIKAM;
pub const NORTHWIND: &str = ids::CUSTOMER_NORTHWIND;
pub const TAILSPIN: &str = ids::CUSTOMER_TAILSPIN;

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: ExitCode,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
    pub fn ndjson(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    #[track_caller]
    pub fn assert_code(&self, code: u8) -> &Self {
        assert_eq!(
            self.code,
            ExitCode::from(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

pub struct TestApp {
    pub emu: EmulatorHandle,
    pub dir: tempfile::TempDir,
    pub config_file: PathBuf,
    pub http: reqwest::Client,
}

/// The default seed, consented by the partner's admin agent with MFA.
pub async fn spawn() -> TestApp {
    let app = spawn_with(EmulatorConfig::default()).await;
    app.consent(ADMIN).await;
    app
}

pub async fn spawn_with(config: EmulatorConfig) -> TestApp {
    let emu = Emulator::start(config).await.expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, emu.ca_pem()).unwrap();
    let secret = emu
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::CSP_APP)
        .unwrap()
        .secrets[0]
        .clone();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let config = format!(
        r#"mode = "csp"
[app]
client_id = "{app}"
client_secret = "{secret}"
[partner]
tenant_id = "{partner}"
[cloud]
name = "custom"
authority_host = "{authority}"
graph_url = "{graph}"
partner_center_url = "{pc}"
key_vault_dns_suffix = "{kv}"
[consent]
redirect_url = "http://127.0.0.1:8080/callback"
[store]
kind = "local"
[store.local]
path = "{tokens}"
key_file = "{key}"
[http]
ca_bundle = "{ca}"
[log]
filter = "error"
"#,
        app = ids::CSP_APP,
        partner = PARTNER,
        authority = emu.authority_host(),
        graph = emu.graph_url(),
        pc = emu.partner_center_url(),
        kv = emu.key_vault_dns_suffix(),
        tokens = path("tokens.enc"),
        key = path("store.key"),
        ca = path("ca.pem"),
    );
    let config_file = dir.path().join("csp.toml");
    std::fs::write(&config_file, config).unwrap();
    let http = common::http::build_client(&common::config::HttpSettings {
        ca_bundle: Some(ca),
        ..Default::default()
    })
    .unwrap();
    TestApp {
        emu,
        dir,
        config_file,
        http,
    }
}

impl TestApp {
    fn config_args(&self) -> LoadOptions {
        LoadOptions {
            config_dir: self.dir.path().to_path_buf(),
            config_file: Some(self.config_file.clone()),
            ..LoadOptions::default()
        }
    }

    /// The CLI's context on this configuration.
    pub async fn context(&self) -> csp_app::context::Context {
        let settings =
            common::config::load_settings(&self.config_args()).expect("valid test configuration");
        csp_app::context::Context::build(&settings)
            .await
            .expect("context")
    }

    /// Runs `csp-app ARGS` in-process.
    pub async fn run(&self, args: &[&str]) -> Output {
        let dir = self.dir.path().display().to_string();
        let file = self.config_file.display().to_string();
        let mut argv = vec!["csp-app", "--config-dir", &dir, "--config", &file];
        argv.extend_from_slice(args);
        let cli = csp_app::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = csp_app::run(cli, &mut out, &mut err).await;
        Output {
            code,
            stdout: String::from_utf8(out).unwrap(),
            stderr: String::from_utf8(err).unwrap(),
        }
    }

    /// A broker on the same configuration as the CLI.
    pub async fn broker(&self) -> TokenBroker {
        let settings =
            common::config::load_settings(&self.config_args()).expect("valid test configuration");
        TokenBroker::from_settings(&settings, self.http.clone())
            .await
            .unwrap()
    }

    /// The grant in the local store.
    pub async fn stored_grant(&self) -> Option<StoredGrant> {
        let settings = common::config::load_settings(&self.config_args()).unwrap();
        let common::config::StoreSettings::Local(local) = &settings.store else {
            panic!("local store")
        };
        LocalFileStore::open(local)
            .unwrap()
            .get(PARTNER)
            .await
            .unwrap()
    }

    /// A full consent by `upn` (sign-in, MFA, consent pages), stored by the broker.
    pub async fn consent(&self, upn: &str) {
        let broker = self.broker().await;
        let pending = broker.consent_url(AuthorizeOptions {
            prompt: Some("consent".into()),
            ..AuthorizeOptions::default()
        });
        let code = self.sign_in(pending.url.clone(), upn).await;
        broker
            .store_consent(AuthCode::new(code), &pending)
            .await
            .expect("consent stored");
    }

    async fn sign_in(&self, authorize: Url, upn: &str) -> String {
        let location = self
            .emu
            .sign_in(&self.http, &authorize, upn, ConsentAnswer::Accept)
            .await
            .unwrap_or_else(|e| panic!("sign-in of {upn}: {e}"));
        location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {location}"))
    }
}

/// The Key Vault app's client secret (the seed's).
pub fn key_vault_app_secret(emu: &EmulatorHandle) -> String {
    emu.seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::KEYVAULT_APP)
        .unwrap()
        .secrets[0]
        .clone()
}

/// The default seed with the grant kept in the emulator's Key Vault (`kv-partner`), reached as
/// the Key Vault app with its client secret (`get` and `set` on secrets only, as production
/// should be), consented by the partner's admin agent with MFA through that store.
pub async fn spawn_key_vault() -> TestApp {
    let app = spawn_with(EmulatorConfig::default()).await;
    app.use_key_vault();
    app.consent(ADMIN).await;
    app
}

impl TestApp {
    /// Rewrites the configuration so the store is the emulator's Key Vault (identity
    /// `client-secret`, the Key Vault app).
    pub fn use_key_vault(&self) {
        let config = std::fs::read_to_string(&self.config_file).unwrap();
        let mut config = config.replace("kind = \"local\"", "kind = \"key-vault\"");
        config.push_str(&format!(
            r#"[store.key_vault]
vault_url = "{vault}"
identity = "client-secret"
tenant_id = "{partner}"
client_id = "{client}"
client_secret = "{secret}"
"#,
            vault = self.emu.vault_url(ids::VAULT),
            partner = PARTNER,
            client = ids::KEYVAULT_APP,
            secret = key_vault_app_secret(&self.emu),
        ));
        std::fs::write(&self.config_file, config).unwrap();
    }

    /// The partner's grant in the configured store (local file or Key Vault), read through a
    /// store of its own.
    pub async fn stored_grant_in_store(&self) -> Option<StoredGrant> {
        self.try_stored_grant_in_store().await.unwrap()
    }

    /// [`Self::stored_grant_in_store`], or why the store could not be read.
    pub async fn try_stored_grant_in_store(
        &self,
    ) -> Result<Option<StoredGrant>, common::tokens::StoreError> {
        let settings = common::config::load_settings(&self.config_args()).unwrap();
        let (store, _) = common::tokens::open_store(&settings, &self.http).unwrap();
        store.get(PARTNER).await
    }

    /// The configuration file and directory as `csp-app` flags, for running the binary.
    pub fn config_flags(&self) -> Vec<String> {
        vec![
            "--config-dir".into(),
            self.dir.path().display().to_string(),
            "--config".into(),
            self.config_file.display().to_string(),
        ]
    }
}
