//! Spawns the emulator on port 0 with two CSP partners (the default seed's Contoso Partner and a
//! second one, Litware, built here) with three customers each, registers a certificate on the
//! emulator's CPV app, writes a CPV configuration pointing `cpv-app` at the emulator, stores each
//! partner's consent through the token broker (walking the emulator's sign-in pages like a
//! browser), and runs the CLI in-process.

use emulator::browser::ConsentAnswer;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser as _;
use common::config::LoadOptions;
use common::entra::AuthorizeOptions;
use common::secret::AuthCode;
use common::tokens::TokenBroker;
use emulator::partner_data::CustomerSeed;
use emulator::seed::{TenantKind, TenantSeed, UserSeed, ids};
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use url::Url;

/// The default seed's partner.
pub const CONTOSO: &str = ids::PARTNER_TENANT;
pub const CONTOSO_ADMIN: &str = "admin@contoso-partner.onmicrosoft.com";
pub const FABRIKAM: &str = ids::CUSTOMER_FABRIKAM;
pub const NORTHWIND: &str = ids::CUSTOMER_NORTHWIND;
pub const TAILSPIN: &str = ids::CUSTOMER_TAILSPIN;

/// The second partner, added by [`two_partners`].
pub const LITWARE: &str = "11000000-0000-4000-8000-000000000001";
pub const LITWARE_ADMIN: &str = "admin@litware-partner.onmicrosoft.com";
/// Litware's customers.
pub const LITWARE_CUSTOMERS: [&str; 3] = [
    "21000000-0000-4000-8000-000000000001",
    "21000000-0000-4000-8000-000000000002",
    "21000000-0000-4000-8000-000000000003",
];
/// A partner tenant configured but never consented.
pub const UNCONSENTED: &str = "12000000-0000-4000-8000-000000000001";

/// The default seed plus Litware (partner, admin agent with MFA, three customers with a user each)
/// and a partner tenant nobody consented for.
pub fn two_partners() -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    let seed = &mut config.seed;
    for (id, domain, name) in [
        (
            LITWARE,
            "litware-partner.onmicrosoft.com",
            "Litware Partner (second CSP)",
        ),
        (
            UNCONSENTED,
            "adatum-partner.onmicrosoft.com",
            "Adatum Partner (never consented)",
        ),
    ] {
        seed.tenants.push(TenantSeed {
            id: id.into(),
            domain: domain.into(),
            display_name: name.into(),
            kind: TenantKind::Partner,
            delegated_admin: Vec::new(),
        });
    }
    seed.users.push(UserSeed {
        id: "30100000-0000-4000-8000-000000000001".into(),
        tenant: LITWARE.into(),
        upn: LITWARE_ADMIN.into(),
        display_name: "Lee Litware".into(),
        password: "Litware-Admin-Passw0rd!".into(),
        mfa_code: Some("424242".into()),
        roles: vec!["Global Administrator".into()],
        admin_agent: true,
    });
    for (i, customer) in LITWARE_CUSTOMERS.iter().enumerate() {
        let n = i + 1;
        seed.tenants.push(TenantSeed {
            id: (*customer).into(),
            domain: format!("litware-customer{n}.onmicrosoft.com"),
            display_name: format!("Litware customer {n}"),
            kind: TenantKind::Customer,
            // Legacy DAP: Litware's admin agents act in its customers as administrators.
            delegated_admin: vec![LITWARE.into()],
        });
        seed.users.push(UserSeed {
            id: format!("31100000-0000-4000-8000-00000000000{n}"),
            tenant: (*customer).into(),
            upn: format!("admin@litware-customer{n}.onmicrosoft.com"),
            display_name: format!("Litware customer {n} admin"),
            password: "Customer-Passw0rd!".into(),
            mfa_code: None,
            roles: vec!["Global Administrator".into()],
            admin_agent: false,
        });
        seed.customers.push(CustomerSeed {
            tenant: (*customer).into(),
            partner: Some(LITWARE.into()),
            relationship: "reseller".into(),
            subscriptions: Vec::new(),
        });
    }
    config
}

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
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The `results` of a JSON consent report.
    pub fn results(&self) -> Vec<serde_json::Value> {
        self.json()["results"].as_array().unwrap().clone()
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

/// Outcomes of a JSON consent report, as `(partner, customer, outcome)`.
pub fn outcomes(results: &[serde_json::Value]) -> Vec<(String, String, String)> {
    results
        .iter()
        .map(|r| {
            (
                r["partner"].as_str().unwrap().to_owned(),
                r["customer"].as_str().unwrap_or("(partner)").to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub struct TestApp {
    pub emu: EmulatorHandle,
    pub dir: tempfile::TempDir,
    pub config_file: PathBuf,
    pub http: reqwest::Client,
}

/// Two partners, both consented by their admin agents with MFA.
pub async fn spawn() -> TestApp {
    let app = spawn_with(two_partners()).await;
    app.consent(CONTOSO_ADMIN).await;
    app.consent(LITWARE_ADMIN).await;
    app
}

pub async fn spawn_with(config: EmulatorConfig) -> TestApp {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["cpv-app-test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = config.with_certificate(ids::CPV_APP, cert.pem());
    let emu = Emulator::start(config).await.expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(dir.path().join("ca.pem"), emu.ca_pem()).unwrap();
    std::fs::write(dir.path().join("app.pem"), cert.pem()).unwrap();
    write_private(&dir.path().join("app.key"), &key.serialize_pem());
    let config = format!(
        r#"mode = "cpv"
[app]
client_id = "{app}"
display_name = "Contoso Control Panel (test)"
certificate_path = "{cert}"
private_key_path = "{key}"
[partner]
allowed_tenants = ["{contoso}", "{litware}"]
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
key_file = "{store_key}"
[http]
ca_bundle = "{ca}"
[log]
filter = "error"
"#,
        app = ids::CPV_APP,
        cert = path("app.pem"),
        key = path("app.key"),
        contoso = CONTOSO,
        litware = LITWARE,
        authority = emu.authority_host(),
        graph = emu.graph_url(),
        pc = emu.partner_center_url(),
        kv = emu.key_vault_dns_suffix(),
        tokens = path("tokens.enc"),
        store_key = path("store.key"),
        ca = path("ca.pem"),
    );
    let config_file = dir.path().join("cpv.toml");
    std::fs::write(&config_file, config).unwrap();
    // The sign-in walk opens a fresh connection per request: on a loaded machine a pooled
    // connection can be closed by the emulator's keep-alive timer just as it is reused.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .tls_certs_merge(common::http::read_ca_bundle(&dir.path().join("ca.pem")).unwrap())
        .build()
        .unwrap();
    TestApp {
        emu,
        dir,
        config_file,
        http,
    }
}

fn write_private(path: &std::path::Path, contents: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(contents.as_bytes()).unwrap();
}

impl TestApp {
    fn config_args(&self) -> LoadOptions {
        LoadOptions {
            config_dir: self.dir.path().to_path_buf(),
            config_file: Some(self.config_file.clone()),
            ..LoadOptions::default()
        }
    }

    /// Runs `cpv-app ARGS` in-process.
    pub async fn run(&self, args: &[&str]) -> Output {
        let dir = self.dir.path().display().to_string();
        let file = self.config_file.display().to_string();
        let mut argv = vec!["cpv-app", "--config-dir", &dir, "--config", &file];
        argv.extend_from_slice(args);
        let cli = cpv_app::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = cpv_app::run(cli, &mut out, &mut err).await;
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

    /// A full consent by `upn` (sign-in, MFA, consent pages), stored by the broker under the
    /// user's partner tenant.
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

    /// A grant without MFA, as stores held before `store_consent` refused such consents: the
    /// code is redeemed directly and the token written to the store.
    pub async fn store_grant_without_mfa(&self, upn: &str) {
        use common::tokens::{GrantMetadata, RefreshTokenStore as _, StoredGrant};
        let settings =
            common::config::load_settings(&self.config_args()).expect("valid test configuration");
        let common::config::StoreSettings::Local(local) = &settings.store else {
            panic!("the test configuration uses the local store")
        };
        let broker = self.broker().await;
        let pending = broker.consent_url(AuthorizeOptions {
            prompt: Some("consent".into()),
            ..AuthorizeOptions::default()
        });
        let code = self.sign_in(pending.url.clone(), upn).await;
        let response = broker
            .entra()
            .redeem_code(&AuthCode::new(code), &pending)
            .await
            .expect("code redeemed");
        let tenant = self
            .emu
            .seed()
            .user_by_upn(upn)
            .expect("seeded user")
            .tenant
            .clone();
        let store = common::tokens::LocalFileStore::open(local).expect("store opens");
        store
            .put(&StoredGrant {
                refresh_token: response.refresh_token.expect("refresh token"),
                meta: GrantMetadata {
                    tenant_id: tenant,
                    user: Some(upn.to_owned()),
                    consented_at: 1,
                    rotated_at: 1,
                    app_id: settings.app.client_id.clone(),
                    cloud: settings.cloud.name.to_string(),
                    mfa: false,
                },
            })
            .await
            .expect("stored");
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
