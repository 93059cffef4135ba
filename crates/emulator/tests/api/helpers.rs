//! Every test starts its own emulator on port 0.

use emulator::seed::ids;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::Value;

pub struct TestEmulator {
    pub handle: EmulatorHandle,
    pub client: reqwest::Client,
}

pub async fn spawn() -> TestEmulator {
    spawn_with(EmulatorConfig {
        workers: 1,
        ..EmulatorConfig::default()
    })
    .await
}

pub async fn spawn_with(config: EmulatorConfig) -> TestEmulator {
    let handle = Emulator::start(config).await.expect("emulator starts");
    let client = client_for(&handle);
    TestEmulator { handle, client }
}

/// A reqwest client trusting the emulator's CA; `*.vault.localhost` resolves to loopback
/// (RFC 6761 §6.3) through `resolve`.
pub fn client_for(handle: &EmulatorHandle) -> reqwest::Client {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", handle.port()).parse().unwrap();
    let mut b = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(handle.ca_pem().as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .resolve("vault.localhost", addr);
    for v in &handle.seed().vaults {
        b = b.resolve(&format!("{}.vault.localhost", v.name), addr);
    }
    b.build().unwrap()
}

impl TestEmulator {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.authority_host())
    }

    pub async fn token(&self, tenant: &str, v2: bool, form: &[(&str, &str)]) -> (u16, Value) {
        let path = if v2 {
            "oauth2/v2.0/token"
        } else {
            "oauth2/token"
        };
        let r = self
            .client
            .post(self.url(&format!("/{tenant}/{path}")))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn app_token(&self, app: &str, secret: &str, scope: &str) -> String {
        let (s, body) = self
            .token(
                ids::PARTNER_TENANT,
                true,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", app),
                    ("client_secret", secret),
                    ("scope", scope),
                ],
            )
            .await;
        assert_eq!(s, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    pub fn secret_of(&self, app: &str) -> String {
        self.handle
            .seed()
            .apps
            .iter()
            .find(|a| a.app_id == app)
            .unwrap()
            .secrets[0]
            .clone()
    }

    /// The demo vault's URL and an access token for it (the vault operator app's).
    pub async fn vault_token(&self) -> (String, String) {
        let token = self
            .app_token(
                ids::KEYVAULT_OPERATOR_APP,
                &self.secret_of(ids::KEYVAULT_OPERATOR_APP),
                &format!("{}/.default", self.handle.key_vault_resource()),
            )
            .await;
        (self.handle.vault_url(ids::VAULT), token)
    }

    /// Walk the sign-in pages like a browser; returns the final response's Location.
    pub async fn sign_in(&self, authorize_url: &str, upn: &str) -> String {
        let seed = self.handle.seed();
        let user = seed.user_by_upn(upn).unwrap();
        let r = self.client.get(authorize_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let mut html = r.text().await.unwrap();
        let tenant = authorize_url.split('/').nth(3).unwrap().to_string();
        let mut resp = self
            .client
            .post(self.url(&format!("/{tenant}/login")))
            .form(&[
                ("flow", flow_of(&html).as_str()),
                ("login", upn),
                ("passwd", user.password.as_str()),
            ])
            .send()
            .await
            .unwrap();
        for _ in 0..3 {
            if let Some(loc) = resp.headers().get("location") {
                return loc.to_str().unwrap().to_string();
            }
            html = resp.text().await.unwrap();
            let flow = flow_of(&html);
            resp = if html.contains("name=\"otc\"") {
                let code = self.handle.mfa_code(upn).unwrap();
                self.client
                    .post(self.url(&format!("/{tenant}/mfa")))
                    .form(&[("flow", flow.as_str()), ("otc", code.as_str())])
                    .send()
                    .await
                    .unwrap()
            } else if html.contains("id=\"accept\"") {
                self.client
                    .post(self.url(&format!("/{tenant}/consent")))
                    // As an administrator who ticks "Consent on behalf of your organization".
                    .form(&[
                        ("flow", flow.as_str()),
                        ("action", "accept"),
                        ("consent_for_org", "1"),
                    ])
                    .send()
                    .await
                    .unwrap()
            } else {
                panic!("unexpected page: {html}");
            };
        }
        panic!("no redirect after sign-in");
    }
}

pub fn flow_of(html: &str) -> String {
    let start =
        html.find("name=\"flow\" value=\"").expect("flow field") + "name=\"flow\" value=\"".len();
    html[start..].split('"').next().unwrap().to_string()
}

pub fn query_param(location: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn pkce() -> (String, String) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let verifier = "a".repeat(20) + &uuid::Uuid::new_v4().simple().to_string();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}
