//! Signing the partner admin in for `setup` and `doctor`, the user-interaction layer on top of
//! [`common::entra::public_client`]: the device-code flow (RFC 8628) whose message the caller
//! shows, and a loopback-browser flow (authorization code with PKCE S256 to
//! `http://localhost:{port}`, RFC 8252 §7.3) whose listener lives here. Both use a public
//! client, so no secret is involved; the result is a Graph client acting as the admin in their
//! tenant.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use url::Url;

use super::{SetupError, rules};
use common::cloud::{CloudEndpoints, Resource};
use common::entra::public_client::PublicClient;
use common::entra::{AccessTokenClaims, TokenResponse, decode_unverified};
use common::graph::{GraphClient, GraphOptions};
use common::http::{Tenant, TokenFuture, TokenSource, TokenSourceError};
use common::secret::{AccessToken, ExposeSecret as _};

pub use common::entra::public_client::DeviceAuthorization;

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
    /// Where a browser is sent for the authorize endpoint when not the authority host
    /// (`entra.sign_in_host`: the emulator's plain-HTTP sign-in pages).
    pub sign_in_host: Option<Url>,
    /// How long the browser sign-in waits for Entra's redirect before it gives up.
    pub browser_timeout: Duration,
}

/// How long a browser sign-in waits by default (`--sign-in-timeout`).
pub const DEFAULT_BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

impl SignInSettings {
    /// The admin sign-in of `setup` for `cloud` ([`rules::ADMIN_GRAPH_SCOPES`]: Graph
    /// `Application.ReadWrite.All` and `DelegatedPermissionGrant.Read.All`), at `tenant`.
    pub fn for_cloud(cloud: &CloudEndpoints, tenant: &str, client_id: &str) -> Self {
        Self::with_scopes(cloud, tenant, client_id, rules::ADMIN_GRAPH_SCOPES)
    }

    /// The admin sign-in of `doctor --sign-in`, which only reads: the read scopes of
    /// [`rules::DOCTOR_GRAPH_SCOPES`], never a write scope.
    pub fn for_doctor(cloud: &CloudEndpoints, tenant: &str, client_id: &str) -> Self {
        Self::with_scopes(cloud, tenant, client_id, rules::DOCTOR_GRAPH_SCOPES)
    }

    /// The admin sign-in for `cloud` at `tenant`, asking for the delegated Graph `graph_scopes`.
    fn with_scopes(
        cloud: &CloudEndpoints,
        tenant: &str,
        client_id: &str,
        graph_scopes: &[&str],
    ) -> Self {
        let graph = cloud
            .resource_id(Resource::Graph)
            .unwrap_or_else(|| cloud.graph_audience.clone());
        let mut scopes: Vec<String> = graph_scopes
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
            sign_in_host: None,
            browser_timeout: DEFAULT_BROWSER_TIMEOUT,
        }
    }

    /// Sends the browser to `host` for the authorize endpoint (`entra.sign_in_host`).
    #[must_use]
    pub fn with_sign_in_host(mut self, host: Option<Url>) -> Self {
        self.sign_in_host = host;
        self
    }

    /// Gives up a browser sign-in after `timeout`.
    #[must_use]
    pub fn with_browser_timeout(mut self, timeout: Duration) -> Self {
        self.browser_timeout = timeout;
        self
    }

    /// The authorize URL as the browser opens it: on `sign_in_host` when set.
    fn browser_url(&self, url: &Url) -> Url {
        let Some(host) = &self.sign_in_host else {
            return url.clone();
        };
        let authority = self.authority_host.as_str().trim_end_matches('/');
        let text = url.as_str();
        match text.strip_prefix(authority) {
            Some(rest) => Url::parse(&format!("{}{rest}", host.as_str().trim_end_matches('/')))
                .unwrap_or_else(|_| url.clone()),
            None => url.clone(),
        }
    }

    fn client(&self, http: &reqwest::Client) -> PublicClient {
        PublicClient::new(
            http.clone(),
            self.authority_host.clone(),
            self.client_id.clone(),
        )
    }
}

/// The signed-in admin.
#[derive(Clone, Debug)]
pub struct AdminSession {
    /// Graph as the admin, in the partner tenant.
    pub graph: GraphClient,
    /// The admin's tenant (`tid`): the partner tenant.
    pub tenant_id: String,
    /// Who signed in (`upn` / `preferred_username`), for the report.
    pub user: Option<String>,
}

/// The admin's Graph access token, as the token source of a [`GraphClient`]: the only token
/// it has is for Graph in the admin's own tenant.
struct AdminToken(AccessToken);

impl TokenSource for AdminToken {
    fn token<'a>(&'a self, tenant: Tenant<'a>, resource: Resource) -> TokenFuture<'a> {
        let result = match (tenant, resource) {
            (Tenant::Partner, Resource::Graph) => Ok(self.0.clone()),
            _ => Err(TokenSourceError::unavailable(format!(
                "the admin sign-in holds a Graph token for the partner tenant only, not {resource} in {tenant}"
            ))),
        };
        Box::pin(std::future::ready(result))
    }
}

impl AdminSession {
    fn from_token(
        http: &reqwest::Client,
        settings: &SignInSettings,
        token: TokenResponse,
    ) -> Result<Self, SetupError> {
        // Unverified, for routing and the report only: the token came straight from the token
        // endpoint over TLS, and Graph checks it.
        let claims: AccessTokenClaims =
            decode_unverified(token.access_token.expose_secret()).unwrap_or_default();
        let tenant_id = claims.tid.clone().ok_or_else(|| SetupError::SignIn {
            message: "the access token names no tenant (tid)".into(),
        })?;
        let user = claims.user().map(str::to_owned);
        let graph = GraphClient::new(
            settings.graph.clone(),
            http.clone(),
            std::sync::Arc::new(AdminToken(token.access_token)),
            GraphOptions::default(),
        );
        Ok(Self {
            graph,
            tenant_id,
            user,
        })
    }
}

fn sign_in_failed(e: impl std::fmt::Display) -> SetupError {
    SetupError::SignIn {
        message: e.to_string(),
    }
}

/// Starts a device-code sign-in; show [`DeviceAuthorization::message`] to the admin, then call
/// [`finish_device_code`].
pub async fn start_device_code(
    http: &reqwest::Client,
    settings: &SignInSettings,
) -> Result<DeviceAuthorization, SetupError> {
    settings
        .client(http)
        .start_device_code(&settings.tenant, &settings.scopes)
        .await
        .map_err(sign_in_failed)
}

/// Waits until the admin finished the device-code sign-in (or declined, or the code expired).
pub async fn finish_device_code(
    http: &reqwest::Client,
    settings: &SignInSettings,
    pending: &DeviceAuthorization,
) -> Result<AdminSession, SetupError> {
    let token = settings
        .client(http)
        .wait_for_device_code(pending)
        .await
        .map_err(sign_in_failed)?;
    AdminSession::from_token(http, settings, token)
}

/// Signs the admin in through the system browser: listens on `127.0.0.1` (a free port: Entra
/// ignores the port of a loopback redirect URI, docs/microsoft-behaviour.md §0b), calls `open`
/// with the authorize URL (on `entra.sign_in_host` when set; print it, or launch a browser),
/// waits for Entra's redirect to `http://localhost:{port}/` — at most
/// [`SignInSettings::browser_timeout`], then fails saying so — and redeems the code with the
/// PKCE verifier.
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
    let redirect = Url::parse(&format!("http://localhost:{port}/")).map_err(sign_in_failed)?;
    let client = settings.client(http);
    let pending = client.authorize_url(
        &settings.tenant,
        &redirect,
        &settings.scopes,
        Some("select_account"),
    );
    open(&settings.browser_url(&pending.url));
    let timeout = settings.browser_timeout;
    let params = tokio::time::timeout(timeout, receive_redirect(&listener))
        .await
        .map_err(|_| SetupError::SignIn {
            message: format!(
                "the browser sign-in did not come back within {}s (nobody completed it, or the \
                 browser could not reach http://localhost:{port}/). Run again and finish the \
                 sign-in in time, give more time with --sign-in-timeout SECONDS, or use \
                 --sign-in device-code",
                timeout.as_secs()
            ),
        })?
        .map_err(io)?;
    let token = client
        .redeem_redirect(&pending, &params)
        .await
        .map_err(sign_in_failed)?;
    AdminSession::from_token(http, settings, token)
}

/// Accepts one connection, reads the request head, answers a short page, and returns the
/// query parameters of the request target (the redirect).
async fn receive_redirect(
    listener: &tokio::net::TcpListener,
) -> Result<HashMap<String, String>, std::io::Error> {
    let (mut socket, _) = listener.accept().await?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut read = 0;
    while read < buf.len() {
        let n = socket.read(&mut buf[read..]).await?;
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
    let params: HashMap<String, String> = Url::parse("http://localhost")
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
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::cloud::CloudName;

    fn scopes(s: &SignInSettings) -> Vec<&str> {
        s.scopes.split(' ').collect()
    }

    #[test]
    fn doctor_signs_in_with_read_scopes_only() {
        let cloud = CloudEndpoints::preset(CloudName::Global).unwrap();
        let doctor = SignInSettings::for_doctor(&cloud, "organizations", rules::SIGN_IN_CLIENT_ID);
        let asked = scopes(&doctor);
        assert!(
            asked.iter().all(|s| !s.contains("ReadWrite")),
            "doctor only reads: {asked:?}"
        );
        for needed in [
            "https://graph.microsoft.com/Application.Read.All",
            "https://graph.microsoft.com/DelegatedPermissionGrant.Read.All",
        ] {
            assert!(asked.contains(&needed), "{needed} in {asked:?}");
        }
        let setup = SignInSettings::for_cloud(&cloud, "organizations", rules::SIGN_IN_CLIENT_ID);
        assert!(
            scopes(&setup).contains(&"https://graph.microsoft.com/Application.ReadWrite.All"),
            "setup writes the registration: {}",
            setup.scopes
        );
    }
}
