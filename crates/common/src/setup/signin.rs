//! Signing the partner admin in for `setup` and `doctor`: the device-code flow (RFC 8628,
//! Entra's `/oauth2/v2.0/devicecode`) and a loopback-browser flow (authorization code with
//! PKCE S256 to `http://localhost:{port}`, RFC 8252 §7.3). Both use a public client, so no
//! secret is involved; the result is a Graph access token for the admin's tenant.

use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore as _;
use secrecy::SecretString;
use serde::Deserialize;
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use url::Url;

use super::graph::AdminGraph;
use super::{SetupError, jwt, rules};
use crate::cloud::{CloudEndpoints, Resource, join};
use crate::entra::{EntraError, TokenResponse};
use crate::secret::{AccessToken, ExposeSecret as _};

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Where and as whom the admin signs in.
#[derive(Clone, Debug)]
pub struct SignInSettings {
    /// Entra authority host.
    pub authority_host: Url,
    /// Tenant segment: the partner tenant, or `organizations`.
    pub tenant: String,
    /// The public client (default [`rules::SIGN_IN_CLIENT_ID`]).
    pub client_id: String,
    /// Space-separated v2 scopes.
    pub scopes: String,
    /// Graph base URL, for the session.
    pub graph: Url,
}

impl SignInSettings {
    /// The admin sign-in for `cloud`: Graph `Application.ReadWrite.All` and
    /// `DelegatedPermissionGrant.Read.All`, at `tenant`.
    pub fn for_cloud(cloud: &CloudEndpoints, tenant: &str, client_id: &str) -> Self {
        let graph = cloud
            .resource_id(Resource::Graph)
            .unwrap_or_else(|| cloud.graph.as_str().trim_end_matches('/').to_owned());
        let mut scopes: Vec<String> = rules::ADMIN_GRAPH_SCOPES
            .iter()
            .map(|s| format!("{graph}/{s}"))
            .collect();
        scopes.extend(["openid", "profile", "offline_access"].map(str::to_owned));
        Self {
            authority_host: cloud.authority_host.clone(),
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            scopes: scopes.join(" "),
            graph: cloud.graph.clone(),
        }
    }

    fn endpoint(&self, last: &str) -> Url {
        join(
            &self.authority_host,
            &format!("{}/oauth2/v2.0/{last}", self.tenant),
        )
    }
}

/// The signed-in admin.
#[derive(Clone, Debug)]
pub struct AdminSession {
    /// Graph as the admin.
    pub graph: AdminGraph,
    /// The admin's tenant (`tid`): the partner tenant.
    pub tenant_id: String,
    /// Who signed in (`upn` / `preferred_username`), for the report.
    pub user: Option<String>,
}

impl AdminSession {
    fn from_token(
        http: &reqwest::Client,
        settings: &SignInSettings,
        token: AccessToken,
    ) -> Result<Self, SetupError> {
        let claims = jwt::claims(token.expose_secret()).unwrap_or_default();
        let tenant_id = jwt::string_claim(&claims, "tid").ok_or_else(|| SetupError::SignIn {
            message: "the access token names no tenant (tid)".into(),
        })?;
        let user = jwt::string_claim(&claims, "upn")
            .or_else(|| jwt::string_claim(&claims, "preferred_username"));
        Ok(Self {
            graph: AdminGraph::new(http.clone(), &settings.graph, token),
            tenant_id,
            user,
        })
    }
}

/// A pending device-code sign-in: show [`Self::message`] to the admin, then call
/// [`finish_device_code`].
pub struct DeviceAuthorization {
    device_code: SecretString,
    /// The code the admin types at [`Self::verification_uri`].
    pub user_code: String,
    /// Where the admin goes (`https://microsoft.com/devicelogin`).
    pub verification_uri: String,
    /// Entra's own instruction, naming both.
    pub message: String,
    expires_at: Instant,
    interval: Duration,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct DeviceCodeWire {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    interval: Option<serde_json::Value>,
}

fn number(v: Option<&serde_json::Value>, default: u64) -> u64 {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(default),
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(default),
        _ => default,
    }
}

async fn post_form(
    http: &reqwest::Client,
    url: Url,
    form: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), SetupError> {
    let response = http
        .post(url.clone())
        .form(form)
        .send()
        .await
        .map_err(|e| SetupError::Http(format!("POST {}: {e}", url.path())))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| SetupError::Http(format!("POST {}: {e}", url.path())))?;
    Ok((status, body.to_vec()))
}

fn entra_failure(status: u16, body: &[u8]) -> SetupError {
    match EntraError::parse(status, body, None) {
        Some(e) => SetupError::SignIn {
            message: format!("{}: {}", e.error, e.summary()),
        },
        None => SetupError::SignIn {
            message: format!("the sign-in endpoint answered HTTP {status}"),
        },
    }
}

/// Starts a device-code sign-in: `POST {authority}/{tenant}/oauth2/v2.0/devicecode`
/// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code>).
pub async fn start_device_code(
    http: &reqwest::Client,
    settings: &SignInSettings,
) -> Result<DeviceAuthorization, SetupError> {
    let (status, body) = post_form(
        http,
        settings.endpoint("devicecode"),
        &[
            ("client_id", &settings.client_id),
            ("scope", &settings.scopes),
        ],
    )
    .await?;
    if status != 200 {
        return Err(entra_failure(status, &body));
    }
    let w: DeviceCodeWire = serde_json::from_slice(&body).map_err(|e| SetupError::SignIn {
        message: format!("not a device authorization response ({e})"),
    })?;
    let message = w.message.unwrap_or_else(|| {
        format!(
            "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
            w.verification_uri, w.user_code
        )
    });
    Ok(DeviceAuthorization {
        device_code: SecretString::from(w.device_code),
        user_code: w.user_code,
        verification_uri: w.verification_uri,
        message,
        expires_at: Instant::now() + Duration::from_secs(number(w.expires_in.as_ref(), 900)),
        interval: Duration::from_secs(number(w.interval.as_ref(), 5).max(1)),
    })
}

/// Polls the token endpoint until the admin finished (or declined, or the code expired):
/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`. Asks at once, then every
/// `interval` seconds while Entra answers `authorization_pending` (and 5 s more after
/// `slow_down`), as RFC 8628 §3.5 says.
pub async fn finish_device_code(
    http: &reqwest::Client,
    settings: &SignInSettings,
    pending: &DeviceAuthorization,
) -> Result<AdminSession, SetupError> {
    let mut interval = pending.interval;
    loop {
        let (status, body) = post_form(
            http,
            settings.endpoint("token"),
            &[
                ("grant_type", DEVICE_CODE_GRANT),
                ("client_id", &settings.client_id),
                ("device_code", pending.device_code.expose_secret()),
            ],
        )
        .await?;
        if status == 200 {
            let t = TokenResponse::parse(&body, Instant::now())
                .map_err(|message| SetupError::SignIn { message })?;
            return AdminSession::from_token(http, settings, t.access_token);
        }
        let error = EntraError::parse(status, &body, None);
        match error.as_ref().map(|e| e.error.as_str()) {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += Duration::from_secs(5),
            _ => return Err(entra_failure(status, &body)),
        }
        if Instant::now() + interval > pending.expires_at {
            return Err(SetupError::SignIn {
                message:
                    "the device code expired before the sign-in finished; run the command again"
                        .into(),
            });
        }
        tokio::time::sleep(interval).await;
    }
}

fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs the admin in through the system browser: listens on `127.0.0.1` (a free port), calls
/// `open` with the authorize URL (print it, or launch a browser), waits for Entra's redirect to
/// `http://localhost:{port}/`, and redeems the code with the PKCE verifier.
pub async fn sign_in_browser(
    http: &reqwest::Client,
    settings: &SignInSettings,
    open: impl FnOnce(&Url),
) -> Result<AdminSession, SetupError> {
    let io = |e: std::io::Error| SetupError::SignIn {
        message: format!("loopback listener: {e}"),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(io)?;
    let port = listener.local_addr().map_err(io)?.port();
    let redirect = format!("http://localhost:{port}/");
    let verifier = random_b64(32);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let state = random_b64(16);
    let mut url = settings.endpoint("authorize");
    url.query_pairs_mut()
        .append_pair("client_id", &settings.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect)
        .append_pair("response_mode", "query")
        .append_pair("scope", &settings.scopes)
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "select_account");
    open(&url);
    let (mut socket, _) = listener.accept().await.map_err(io)?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut read = 0;
    while read < buf.len() {
        let n = socket.read(&mut buf[read..]).await.map_err(io)?;
        read += n;
        if n == 0 || buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..read]).into_owned();
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/");
    let params: std::collections::HashMap<String, String> = Url::parse("http://localhost")
        .and_then(|b| b.join(target))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let page = if params.contains_key("code") {
        "Signed in. You can close this window and return to the terminal."
    } else {
        "Sign-in did not complete. Return to the terminal for details."
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
        page.len()
    );
    drop(socket.write_all(response.as_bytes()).await);
    if params.get("state") != Some(&state) {
        return Err(SetupError::SignIn {
            message: "the redirect's state does not match this sign-in (ignored)".into(),
        });
    }
    if let Some(e) = params.get("error") {
        return Err(SetupError::SignIn {
            message: format!(
                "{e}: {}",
                params.get("error_description").map_or("", String::as_str)
            ),
        });
    }
    let code = params.get("code").ok_or_else(|| SetupError::SignIn {
        message: "the redirect carries no code".into(),
    })?;
    let (status, body) = post_form(
        http,
        settings.endpoint("token"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &settings.client_id),
            ("code", code),
            ("redirect_uri", &redirect),
            ("code_verifier", &verifier),
            ("scope", &settings.scopes),
        ],
    )
    .await?;
    if status != 200 {
        return Err(entra_failure(status, &body));
    }
    let t = TokenResponse::parse(&body, Instant::now())
        .map_err(|message| SetupError::SignIn { message })?;
    AdminSession::from_token(http, settings, t.access_token)
}
