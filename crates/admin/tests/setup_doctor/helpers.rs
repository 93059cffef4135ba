//! An emulator whose partner tenant has no SAM app yet, the admin's device-code sign-in walked
//! over HTTP, `setup` runs, and the partner-admin consent through the configured app.

use std::path::PathBuf;

use admin::doctor::{DoctorOptions, DoctorReport, Status};
use admin::setup::{
    self, AdminSession, CertificateChoice, SetupOptions, SetupReport, SignInSettings, rules,
};
use common::cloud::CloudEndpoints;
use common::config::{
    EndpointVersion, HttpSettings, LoadOptions, LocalStoreSettings, Settings, StoreSettings,
};
use common::entra::AuthorizeOptions;
use common::secret::AuthCode;
use common::tokens::TokenBroker;
use emulator::seed::ids;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle, Seed};
use url::Url;

pub const ADMIN: &str = "admin@contoso-partner.onmicrosoft.com";
pub const REDIRECT: &str = "http://localhost:8080/callback";
pub const DISPLAY_NAME: &str = "Contoso SAM (setup test)";

pub struct Env {
    pub emu: EmulatorHandle,
    pub http: reqwest::Client,
    pub cloud: CloudEndpoints,
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
}

/// The default seed without its demo SAM apps and their service principals and consents: the
/// partner tenant as it is before anyone set it up. The public client the admin signs in with
/// (Microsoft Graph Command Line Tools) is in the default seed.
pub fn empty_partner_seed() -> Seed {
    let mut seed = Seed::default();
    seed.apps
        .retain(|a| a.app_id != ids::CSP_APP && a.app_id != ids::CPV_APP);
    seed.service_principals
        .retain(|s| s.app_id != ids::CSP_APP && s.app_id != ids::CPV_APP);
    seed.consents.clear();
    assert!(
        seed.apps
            .iter()
            .any(|a| a.app_id == rules::SIGN_IN_CLIENT_ID && a.public_client),
        "the default seed has the public client setup signs in with"
    );
    seed
}

pub async fn spawn(seed: Seed) -> Env {
    spawn_with(EmulatorConfig {
        seed,
        ..EmulatorConfig::default()
    })
    .await
}

pub async fn spawn_with(config: EmulatorConfig) -> Env {
    let emu = Emulator::start(config).await.expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, emu.ca_pem()).unwrap();
    let http = common::http::build_client(&HttpSettings {
        ca_bundle: Some(ca.clone()),
        ..HttpSettings::default()
    })
    .unwrap();
    let url = |s: String| Url::parse(&s).unwrap();
    let cloud = CloudEndpoints::custom(
        url(emu.authority_host()),
        url(emu.graph_url()),
        url(emu.partner_center_url()),
        emu.key_vault_dns_suffix(),
    );
    Env {
        emu,
        http,
        cloud,
        dir,
        ca,
    }
}

impl Env {
    /// The partner admin signs in with the device-code flow; the test plays the admin's browser
    /// at `/devicelogin` between the two halves.
    pub async fn admin_session(&self) -> AdminSession {
        let settings =
            SignInSettings::for_cloud(&self.cloud, ids::PARTNER_TENANT, rules::SIGN_IN_CLIENT_ID);
        let pending = setup::signin::start_device_code(&self.http, &settings)
            .await
            .unwrap();
        assert!(
            pending.message.contains(&pending.user_code),
            "{}",
            pending.message
        );
        let page = format!("{}/devicelogin", self.emu.authority_host());
        assert_eq!(pending.verification_uri, page);
        let html = self
            .http
            .post(&page)
            .form(&[
                ("user_code", pending.user_code.as_str()),
                ("login", ADMIN),
                ("passwd", "Demo-Admin-Passw0rd!"),
                ("otc", &self.emu.mfa_code(ADMIN).unwrap()),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("id=\"accept\""), "{html}");
        let done = self
            .http
            .post(format!("{page}/approve"))
            .form(&[
                ("user_code", pending.user_code.as_str()),
                ("action", "accept"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(done.contains("id=\"done\""), "{done}");
        let session = setup::signin::finish_device_code(&self.http, &settings, &pending)
            .await
            .unwrap();
        assert_eq!(session.tenant_id, ids::PARTNER_TENANT);
        session
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config").join("production.toml")
    }

    pub fn options(&self, certificate: CertificateChoice) -> SetupOptions {
        SetupOptions {
            mode: common::config::AppMode::Csp,
            cloud: self.cloud.clone(),
            display_name: DISPLAY_NAME.into(),
            redirect_url: Url::parse(REDIRECT).unwrap(),
            app_id: None,
            certificate,
            config_path: self.config_path(),
            config_dir: self.dir.path().join("no-config-dir"),
            allowed_tenants: Vec::new(),
            endpoint_version: EndpointVersion::V1,
            store: Some(StoreSettings::Local(LocalStoreSettings {
                path: self.dir.path().join("tokens.enc"),
                key_file: self.dir.path().join("store.key"),
                key: None,
            })),
            ca_bundle: Some(self.ca.clone()),
            dry_run: false,
        }
    }

    pub fn generated(&self) -> CertificateChoice {
        CertificateChoice::Generate {
            path: self.dir.path().join("secrets").join("app.pem"),
            valid_days: 365,
            renew_days: 30,
        }
    }

    pub async fn setup(&self, session: &AdminSession, options: &SetupOptions) -> SetupReport {
        setup::run(session, options).await.expect("setup succeeds")
    }

    /// The written configuration, plus `extra` KEY=VALUE overrides, validated.
    pub fn settings(&self, extra: &[String]) -> Settings {
        let args = LoadOptions {
            profile: None,
            config_file: Some(self.config_path()),
            config_dir: self.dir.path().join("no-config-dir"),
            set: extra.to_vec(),
            log_format: None,
        };
        let loaded = common::config::load(&args).expect("the written configuration loads");
        let mut settings = loaded
            .validate()
            .expect("the written configuration validates");
        // The emulator is these tests' cloud, as it is the local profile's: its loopback
        // authority is expected here, not the start-up warning a production setup gets.
        settings.profile = Some(common::config::LOCAL_PROFILE.to_owned());
        settings
    }

    /// The partner admin consents through the app `setup` made (what partner-consent does).
    pub async fn consent(&self, settings: &Settings) {
        self.consent_answering(settings, emulator::browser::ConsentAnswer::Accept)
            .await;
    }

    /// [`Self::consent`], answering the consent page with `answer` (`AcceptForMe`: "Consent on
    /// behalf of your organization" left unchecked).
    pub async fn consent_answering(
        &self,
        settings: &Settings,
        answer: emulator::browser::ConsentAnswer,
    ) {
        let broker = TokenBroker::from_settings(settings, self.http.clone())
            .await
            .unwrap();
        let pending = broker.consent_url(AuthorizeOptions {
            prompt: Some("consent".into()),
            ..AuthorizeOptions::default()
        });
        let location = self
            .emu
            .sign_in(&self.http, &pending.url, ADMIN, answer)
            .await
            .unwrap_or_else(|e| panic!("sign-in: {e}"));
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code: {location}"));
        broker
            .store_consent(AuthCode::new(code), &pending)
            .await
            .expect("consent stored");
    }

    pub async fn doctor(&self, settings: &Settings, admin: Option<&AdminSession>) -> DoctorReport {
        admin::doctor::run(
            settings,
            &self.http,
            &DoctorOptions {
                admin: admin.map(|a| a.graph.clone()),
                ..DoctorOptions::default()
            },
        )
        .await
    }

    /// Setup from scratch, consent, and the settings: a healthy deployment to break.
    /// `--set` values for a Key Vault store reached by the store's app with its client secret,
    /// and that secret.
    pub fn key_vault_store(&self) -> (Vec<String>, String) {
        let secret = self
            .emu
            .seed()
            .apps
            .iter()
            .find(|a| a.app_id == ids::KEYVAULT_APP)
            .expect("the store's app")
            .secrets[0]
            .clone();
        let sets = vec![
            "store.kind=key-vault".to_owned(),
            format!(
                "store.key_vault.vault_url={}",
                self.emu.vault_url(ids::VAULT)
            ),
            "store.key_vault.identity=client-secret".to_owned(),
            format!("store.key_vault.tenant_id={}", ids::PARTNER_TENANT),
            format!("store.key_vault.client_id={}", ids::KEYVAULT_APP),
            format!("store.key_vault.client_secret={secret}"),
        ];
        (sets, secret)
    }

    pub async fn ready(&self) -> (AdminSession, Settings) {
        let session = self.admin_session().await;
        self.setup(&session, &self.options(self.generated())).await;
        let settings = self.settings(&[]);
        self.consent(&settings).await;
        (session, settings)
    }
}

/// Walks the emulator's sign-in, MFA and consent pages like a browser; returns the code.
/// `setup`, then a consent stored in Key Vault by the store's app, whose access policy allows
/// `get, set, list, delete` (broader than the `get, set` setup asks for): the app's secret, the
/// admin session, the settings.
pub async fn consented_in_a_vault_with_a_broad_policy() -> (Env, AdminSession, Settings, String) {
    let mut seed = empty_partner_seed();
    for v in &mut seed.vaults {
        for p in &mut v.access_policies {
            if p.object_id == ids::KEYVAULT_APP_SP {
                p.secrets = vec!["get".into(), "set".into(), "list".into(), "delete".into()];
            }
        }
    }
    let env = spawn(seed).await;
    let session = env.admin_session().await;
    env.setup(&session, &env.options(env.generated())).await;
    let (vault, secret) = env.key_vault_store();
    let settings = env.settings(&vault);
    env.consent(&settings).await;
    (env, session, settings, secret)
}

/// Asserts one check's status and returns its text (detail and fix) for further assertions.
pub fn expect(report: &DoctorReport, id: &str, status: Status) -> String {
    let c = report
        .check(id)
        .unwrap_or_else(|| panic!("no check {id}:\n{}", report.render_text()));
    assert_eq!(c.status, status, "{id}:\n{}", report.render_text());
    format!("{} | fix: {}", c.detail, c.fix.as_deref().unwrap_or(""))
}
