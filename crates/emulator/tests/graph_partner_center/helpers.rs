//! Spawning an emulator, getting app-only and delegated tokens from its Entra ID (walking the
//! sign-in pages over HTTP), and calling Graph / Partner Center.

use emulator::seed::{AppSeed, PermissionSeed, ids};
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

pub const REDIRECT: &str = "http://127.0.0.1:8080/callback";
pub const GRAPH: &str = "https://graph.microsoft.com";
pub const PC: &str = "https://api.partnercenter.microsoft.com";
pub const GRAPH_APP: &str = "00000003-0000-0000-c000-000000000000";
pub const PC_APP: &str = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd";
pub const ADMIN: &str = "admin@contoso-partner.onmicrosoft.com";
pub const NO_MFA_ADMIN: &str = "nomfa-admin@contoso-partner.onmicrosoft.com";
pub const PLAIN_USER: &str = "user@contoso-partner.onmicrosoft.com";
/// A setup tool registered for the app-setup tests (delegated Application.ReadWrite.All).
pub const SETUP_APP: &str = "4a000000-0000-4000-8000-0000000000aa";
pub const SETUP_SECRET: &str = "setup-secret-NOT-A-REAL-SECRET";

pub struct Emu {
    pub handle: EmulatorHandle,
    pub client: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn config() -> EmulatorConfig {
    EmulatorConfig {
        workers: 1,
        ..EmulatorConfig::default()
    }
}

pub fn setup_app() -> AppSeed {
    AppSeed {
        app_id: SETUP_APP.into(),
        display_name: "SAM setup (test)".into(),
        publisher: None,
        tenant: ids::PARTNER_TENANT.into(),
        multitenant: false,
        public_client: false,
        redirect_uris: vec![REDIRECT.into()],
        spa_redirect_uris: vec![],
        secrets: vec![SETUP_SECRET.into()],
        certificates: Vec::new(),
        required_delegated: vec![PermissionSeed {
            resource: GRAPH_APP.into(),
            scopes: vec![
                "Application.ReadWrite.All".into(),
                "Directory.Read.All".into(),
                "User.Read".into(),
            ],
        }],
    }
}

pub async fn spawn() -> Emu {
    spawn_with(config()).await
}

pub async fn spawn_with(config: EmulatorConfig) -> Emu {
    let handle = Emulator::start(config).await.expect("emulator starts");
    let client = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(handle.ca_pem().as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Emu { handle, client }
}

fn flow_of(html: &str) -> String {
    let marker = "name=\"flow\" value=\"";
    let start = html.find(marker).expect("a flow field") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

impl Emu {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.authority_host())
    }

    pub fn graph(&self, path: &str) -> String {
        format!("{}/v1.0{path}", self.handle.graph_url())
    }

    pub fn pc(&self, path: &str) -> String {
        format!("{}/v1{path}", self.handle.partner_center_url())
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

    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Client credentials (v2) in `tenant`.
    pub async fn try_app_token(
        &self,
        tenant: &str,
        app: &str,
        secret: &str,
        resource: &str,
    ) -> (u16, Value) {
        let scope = format!("{resource}/.default");
        self.token_request(
            tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", app),
                ("client_secret", secret),
                ("scope", &scope),
            ],
        )
        .await
    }

    pub async fn app_token(&self, tenant: &str, app: &str, resource: &str) -> String {
        let secret = self.secret_of(app);
        let (s, body) = self.try_app_token(tenant, app, &secret, resource).await;
        assert_eq!(s, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Sign `upn` in to `app` at `tenant` through the authorize pages (sign-in, MFA, consent)
    /// and redeem the code; returns the refresh token.
    pub async fn sign_in(&self, tenant: &str, app: &str, secret: &str, upn: &str) -> String {
        let user = self.handle.seed().user_by_upn(upn).unwrap().clone();
        let scope = format!("{GRAPH}/.default offline_access openid");
        let mut authorize =
            url::Url::parse(&self.url(&format!("/{tenant}/oauth2/v2.0/authorize"))).unwrap();
        authorize
            .query_pairs_mut()
            .append_pair("client_id", app)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", &scope)
            .append_pair("state", "s1")
            .append_pair("prompt", "login");
        let html = self
            .client
            .get(authorize.as_str())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
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
        let mut location = None;
        for _ in 0..4 {
            if let Some(loc) = resp.headers().get("location") {
                location = Some(loc.to_str().unwrap().to_string());
                break;
            }
            let page = resp.text().await.unwrap();
            let flow = flow_of(&page);
            resp = if page.contains("name=\"otc\"") {
                let code = self.handle.mfa_code(upn).unwrap();
                self.client
                    .post(self.url(&format!("/{tenant}/mfa")))
                    .form(&[("flow", flow.as_str()), ("otc", code.as_str())])
                    .send()
                    .await
                    .unwrap()
            } else if page.contains("id=\"accept\"") {
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
                panic!("unexpected page: {page}");
            };
        }
        let location = location.expect("a redirect back to the app");
        let code = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {location}"));
        let (s, body) = self
            .token_request(
                tenant,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", app),
                    ("client_secret", secret),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("scope", &scope),
                ],
            )
            .await;
        assert_eq!(s, 200, "{body}");
        body["refresh_token"].as_str().unwrap().to_string()
    }

    /// Redeem a refresh token at `tenant`'s authority for `resource`.
    pub async fn redeem(
        &self,
        tenant: &str,
        app: &str,
        secret: &str,
        refresh_token: &str,
        resource: &str,
    ) -> (u16, Value) {
        let scope = format!("{resource}/.default");
        self.token_request(
            tenant,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", app),
                ("client_secret", secret),
                ("refresh_token", refresh_token),
                ("scope", &scope),
            ],
        )
        .await
    }

    /// A delegated token of `upn` (signed in to the demo CSP app) for `resource` at `tenant`.
    pub async fn user_token(&self, upn: &str, tenant: &str, resource: &str) -> String {
        let home = self.handle.seed().user_by_upn(upn).unwrap().tenant.clone();
        let secret = self.secret_of(ids::CSP_APP);
        let rt = self.sign_in(&home, ids::CSP_APP, &secret, upn).await;
        let (s, body) = self
            .redeem(tenant, ids::CSP_APP, &secret, &rt, resource)
            .await;
        assert_eq!(s, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn call(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut b = self.client.request(method, url);
        if let Some(t) = token {
            b = b.bearer_auth(t);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if let Some(json) = body {
            b = b.json(&json);
        }
        let r = b.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, url: &str, token: &str) -> Reply {
        self.call(Method::GET, url, Some(token), None, &[]).await
    }

    pub async fn post(&self, url: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, url, Some(token), Some(body), &[])
            .await
    }

    pub async fn patch(&self, url: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, url, Some(token), Some(body), &[])
            .await
    }

    pub async fn delete(&self, url: &str, token: &str) -> Reply {
        self.call(Method::DELETE, url, Some(token), None, &[]).await
    }
}

/// Graph's error code of a reply.
pub fn graph_code(r: &Reply) -> &str {
    r.body["error"]["code"].as_str().unwrap_or_default()
}
