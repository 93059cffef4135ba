//! The token client: authorize URLs and the three grants the Secure Application Model uses.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Deserializer};
use sha2::Digest as _;
use url::Url;

use super::assertion::CertificateSigner;
use super::error::{EntraError, TokenError};
use crate::cloud::{CloudEndpoints, Resource, join};
use crate::config::EndpointVersion;
use crate::http::RetryPolicy;
use crate::secret::{
    AccessToken, AuthCode, ClientSecret, CodeVerifier, ExposeSecret as _, RefreshToken,
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the application authenticates at the token endpoint.
#[derive(Clone, Debug)]
pub enum ClientCredential {
    /// `client_secret` in the form body.
    Secret(ClientSecret),
    /// A client assertion signed with the app's certificate (preferred).
    Certificate(Arc<CertificateSigner>),
    /// A client assertion signed with a certificate that may be rotated while the process runs
    /// (the app's certificate in Key Vault: `app.certificate_secret`).
    RotatingCertificate(Arc<dyn super::assertion::CertificateProvider>),
}

/// What a token is for: a v1 `resource` or v2 `scope`s.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenTarget {
    /// v1: the App ID URI (`https://api.partnercenter.microsoft.com`).
    Resource(String),
    /// v2: space-separated scopes (`https://graph.microsoft.com/.default offline_access`).
    Scopes(String),
}

impl TokenTarget {
    /// The target for a delegated (app + user) token for `resource`: v1 `resource=`, or v2
    /// `{resource}/.default` plus `offline_access` so the rotated refresh token comes back.
    pub fn delegated(
        cloud: &CloudEndpoints,
        version: EndpointVersion,
        resource: Resource,
    ) -> Option<Self> {
        Self::for_version(cloud, version, resource, |scope| {
            format!("{scope} offline_access")
        })
    }

    /// The target for an app-only token (client credentials): v1 `resource=`, or v2 only
    /// `{resource}/.default` (Entra refuses anything else for this grant).
    pub fn app_only(
        cloud: &CloudEndpoints,
        version: EndpointVersion,
        resource: Resource,
    ) -> Option<Self> {
        Self::for_version(cloud, version, resource, |scope| scope)
    }

    /// v1: `resource=` the App ID URI; v2: `v2_scopes` of `{resource}/.default`.
    fn for_version(
        cloud: &CloudEndpoints,
        version: EndpointVersion,
        resource: Resource,
        v2_scopes: impl FnOnce(String) -> String,
    ) -> Option<Self> {
        Some(match version {
            EndpointVersion::V1 => Self::Resource(cloud.resource_id(resource)?),
            EndpointVersion::V2 => Self::Scopes(v2_scopes(cloud.default_scope(resource)?)),
        })
    }

    fn version(&self) -> EndpointVersion {
        match self {
            Self::Resource(_) => EndpointVersion::V1,
            Self::Scopes(_) => EndpointVersion::V2,
        }
    }

    fn push_into(&self, form: &mut Vec<(&'static str, String)>) {
        match self {
            Self::Resource(r) => form.push(("resource", r.clone())),
            Self::Scopes(s) => form.push(("scope", s.clone())),
        }
    }
}

/// An OpenID Connect ID token (a JWT about the signed-in user). Not a credential, but it
/// carries personal data, so it is never printed.
///
/// A token read from a token endpoint's response remembers that endpoint: v1 endpoints return
/// unsigned ID tokens, which OpenID Connect Core §3.1.3.7 (6) lets a client trust only because
/// they came straight from the token endpoint over TLS.
#[derive(Clone)]
pub struct IdToken {
    jwt: String,
    delivered_by: Option<Url>,
}

impl IdToken {
    /// Wraps a compact JWT of unknown origin (only a signed token can validate).
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            jwt: value.into(),
            delivered_by: None,
        }
    }
    /// The compact JWT.
    pub fn as_str(&self) -> &str {
        &self.jwt
    }
    /// A token read from `endpoint`'s response.
    pub(crate) fn from_endpoint(value: impl Into<String>, endpoint: Url) -> Self {
        Self {
            jwt: value.into(),
            delivered_by: Some(endpoint),
        }
    }
    /// The token endpoint whose response carried this token, if it came from one.
    pub fn delivered_by(&self) -> Option<&Url> {
        self.delivered_by.as_ref()
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken([redacted])")
    }
}

/// A successful token response, v1 or v2.
#[derive(Clone, Debug)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// `token_type` (always `Bearer`).
    pub token_type: String,
    /// Lifetime from the moment the response was received.
    pub expires_in: Duration,
    /// When the response was received (the start of `expires_in`).
    pub received_at: Instant,
    /// `refresh_in` (proactive refresh hint), if sent.
    pub refresh_in: Option<Duration>,
    /// The rotated refresh token, if any.
    pub refresh_token: Option<RefreshToken>,
    /// The ID token, if `openid` was asked for.
    pub id_token: Option<IdToken>,
    /// `scope` granted.
    pub scope: Option<String>,
    /// v1 `resource`.
    pub resource: Option<String>,
}

impl TokenResponse {
    /// When the access token expires.
    pub fn expires_at(&self) -> Instant {
        self.received_at + self.expires_in
    }
}

/// v1 sends numbers as strings (`"expires_in": "3599"`), v2 as numbers (docs/microsoft-behaviour.md §1.2).
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        N(u64),
        S(String),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(None),
        Some(Either::N(n)) => Ok(Some(n)),
        Some(Either::S(s)) => s.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

#[derive(Deserialize)]
struct WireToken {
    access_token: AccessToken,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "number_or_string")]
    refresh_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    resource: Option<String>,
}

impl TokenResponse {
    /// Parses a v1 or v2 success body.
    pub fn parse(body: &[u8], received_at: Instant) -> Result<Self, String> {
        let w: WireToken = serde_json::from_slice(body).map_err(|e| {
            // serde's message names the field, never the value of a string.
            format!("not a token response ({e})")
        })?;
        Ok(Self {
            access_token: w.access_token,
            token_type: w.token_type.unwrap_or_else(|| "Bearer".into()),
            // Entra always sends expires_in; an hour is its default access-token lifetime.
            expires_in: Duration::from_secs(w.expires_in.unwrap_or(3599)),
            received_at,
            refresh_in: w.refresh_in.map(Duration::from_secs),
            refresh_token: w.refresh_token.filter(|t| !t.is_empty()),
            id_token: w.id_token.filter(|t| !t.is_empty()).map(IdToken::new),
            scope: w.scope,
            resource: w.resource,
        })
    }
}

/// What to put in an authorization request (the consent sign-in).
#[derive(Clone, Debug, Default)]
pub struct AuthorizeOptions {
    /// `prompt`: `login`, `consent`, `select_account`, `admin_consent` (v1) or `none`.
    pub prompt: Option<String>,
    /// `login_hint`: the UPN to pre-fill.
    pub login_hint: Option<String>,
    /// `domain_hint`: skips home-realm discovery.
    pub domain_hint: Option<String>,
    /// `response_mode`: `query` (default for `code`) or `form_post`. The hybrid flow always
    /// uses `form_post`.
    pub response_mode: Option<String>,
    /// The OpenID Connect hybrid flow: `response_type=code id_token` with `response_mode=form_post`
    /// (Microsoft's PartnerConsent sample); the authorization response then carries a signed ID
    /// token, to validate with [`super::ExpectedIdToken::code`] before the code is redeemed.
    pub hybrid: bool,
    /// `amr_values` (v1 only): `mfa` asks Entra to challenge multi-factor authentication even
    /// when no policy demands it (docs/microsoft-behaviour.md §1.1).
    pub amr_values: Option<String>,
}

/// An authorization request to send the browser to, and the values to keep until the callback
/// (in the state cookie): `state` to compare, `nonce` to check in the ID token, the PKCE
/// verifier to redeem the code.
#[derive(Clone, Debug)]
pub struct PendingAuthorization {
    /// The URL to redirect the browser to.
    pub url: Url,
    /// `state`: compare with the callback's `state` (CSRF protection, RFC 6749 §10.12).
    pub state: String,
    /// `nonce`: must come back in the ID token (OIDC Core §3.1.2.1).
    pub nonce: String,
    /// PKCE verifier (RFC 7636): send it with the code.
    pub code_verifier: CodeVerifier,
    /// The tenant segment the request was sent to (redeem the code at the same authority).
    pub tenant: String,
    /// The redirect URI (must be repeated when redeeming the code).
    pub redirect_uri: Url,
    /// The target the code is for.
    pub target: TokenTarget,
}

/// A token client for one application (client ID + credential) at one cloud's authority.
///
/// Hand-written on reqwest rather than the `oauth2` crate, which cannot parse v1 responses and
/// has no `private_key_jwt` (see `shared/reference/dependencies.md`).
#[derive(Clone, Debug)]
pub struct EntraClient {
    http: reqwest::Client,
    authority_host: Url,
    /// Host of the authorize endpoint, when a browser signs in elsewhere than the authority
    /// host (the emulator's plain-HTTP loopback pages).
    sign_in_host: Option<Url>,
    client_id: String,
    credential: ClientCredential,
    version: EndpointVersion,
    retry: RetryPolicy,
}

impl EntraClient {
    /// A client for `client_id` at `authority_host` (e.g. [`CloudEndpoints::authority_host`]).
    pub fn new(
        http: reqwest::Client,
        authority_host: Url,
        client_id: impl Into<String>,
        credential: ClientCredential,
        version: EndpointVersion,
    ) -> Self {
        Self {
            http,
            authority_host,
            sign_in_host: None,
            client_id: client_id.into(),
            credential,
            version,
            retry: RetryPolicy::token_requests(),
        }
    }

    /// Replaces the retry policy ([`RetryPolicy::token_requests`] by default). Only transient
    /// failures are retried (5xx, 429, `temporarily_unavailable`, network); `invalid_grant` never.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sends browsers to `host` for the authorize endpoint (`entra.sign_in_host`); tokens are
    /// still redeemed at the authority host.
    pub fn with_sign_in_host(mut self, host: Option<Url>) -> Self {
        self.sign_in_host = host;
        self
    }

    /// The application (client) ID.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The endpoint version (v1 `resource`, v2 `scope`).
    pub fn version(&self) -> EndpointVersion {
        self.version
    }

    /// The authority host.
    pub fn authority_host(&self) -> &Url {
        &self.authority_host
    }

    /// `{authority}/{tenant}/oauth2/token` (v1) or `.../oauth2/v2.0/token` (v2).
    pub fn token_endpoint(&self, tenant: &str) -> Url {
        join(
            &self.authority_host,
            &format!("{tenant}/oauth2/{}token", self.version_segment()),
        )
    }

    /// `{authority}/{tenant}/oauth2/authorize` (v1) or `.../oauth2/v2.0/authorize` (v2).
    pub fn authorize_endpoint(&self, tenant: &str) -> Url {
        join(
            self.sign_in_host.as_ref().unwrap_or(&self.authority_host),
            &format!("{tenant}/oauth2/{}authorize", self.version_segment()),
        )
    }

    fn version_segment(&self) -> &'static str {
        match self.version {
            EndpointVersion::V1 => "",
            EndpointVersion::V2 => "v2.0/",
        }
    }

    /// Builds the authorization (sign-in and consent) URL with a fresh `state`, `nonce` and
    /// PKCE S256 challenge.
    ///
    /// `GET /{tenant}/oauth2/authorize` (v1,
    /// <https://learn.microsoft.com/previous-versions/azure/active-directory/azuread-dev/v1-protocols-oauth-code#request-an-authorization-code>)
    /// or `/oauth2/v2.0/authorize` (v2,
    /// <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code>).
    /// v1 sends `resource` and `scope=openid profile` (the SAM guide's request); v2 sends the
    /// target scopes plus `openid profile offline_access`.
    pub fn authorize_url(
        &self,
        tenant: &str,
        redirect_uri: &Url,
        target: &TokenTarget,
        options: &AuthorizeOptions,
    ) -> PendingAuthorization {
        let state = random_b64(24);
        let nonce = random_b64(24);
        let (verifier, challenge) = pkce_s256();
        let mut url = self.authorize_endpoint(tenant);
        {
            let mut q = url.query_pairs_mut();
            let response_type = if options.hybrid {
                "code id_token"
            } else {
                "code"
            };
            q.append_pair("client_id", &self.client_id)
                .append_pair("response_type", response_type)
                .append_pair("redirect_uri", redirect_uri.as_str());
            match target {
                TokenTarget::Resource(r) => {
                    q.append_pair("resource", r)
                        .append_pair("scope", "openid profile");
                }
                TokenTarget::Scopes(s) => {
                    let mut scopes: Vec<&str> = s.split(' ').filter(|s| !s.is_empty()).collect();
                    for oidc in ["openid", "profile", "offline_access"] {
                        if !scopes.contains(&oidc) {
                            scopes.push(oidc);
                        }
                    }
                    q.append_pair("scope", &scopes.join(" "));
                }
            }
            q.append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if options.hybrid {
                // An ID token never travels in a query string (OIDC Core §3.3.2.5: fragment by
                // default); a server reads it from a form post.
                q.append_pair("response_mode", "form_post");
            } else if let Some(m) = &options.response_mode {
                q.append_pair("response_mode", m);
            }
            if let Some(a) = options
                .amr_values
                .as_deref()
                .filter(|_| self.version == EndpointVersion::V1)
            {
                q.append_pair("amr_values", a);
            }
            if let Some(p) = &options.prompt {
                q.append_pair("prompt", p);
            }
            if let Some(h) = &options.login_hint {
                q.append_pair("login_hint", h);
            }
            if let Some(h) = &options.domain_hint {
                q.append_pair("domain_hint", h);
            }
        }
        PendingAuthorization {
            url,
            state,
            nonce,
            code_verifier: verifier,
            tenant: tenant.to_owned(),
            redirect_uri: redirect_uri.clone(),
            target: target.clone(),
        }
    }

    /// Redeems an authorization code (grant `authorization_code`) with the PKCE verifier.
    ///
    /// `POST /{tenant}/oauth2[/v2.0]/token`
    /// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token>).
    #[tracing::instrument(skip_all, fields(tenant.id = %pending.tenant, grant = "authorization_code"))]
    pub async fn redeem_code(
        &self,
        code: &AuthCode,
        pending: &PendingAuthorization,
    ) -> Result<TokenResponse, TokenError> {
        // A code is single-use: after a timeout or a lost response Entra may already have
        // redeemed it, and a retry would only fail with AADSTS54005 (code already redeemed).
        // Exactly one attempt; the admin signs in again, which yields a new code.
        let once = Self {
            retry: RetryPolicy {
                max_retries: 0,
                ..self.retry
            },
            ..self.clone()
        };
        once.post(
            &pending.tenant,
            "authorization_code",
            &pending.target,
            || {
                let mut form = vec![
                    ("grant_type", "authorization_code".to_owned()),
                    ("code", code.expose_secret().to_owned()),
                    ("redirect_uri", pending.redirect_uri.as_str().to_owned()),
                    (
                        "code_verifier",
                        pending.code_verifier.expose_secret().to_owned(),
                    ),
                ];
                pending.target.push_into(&mut form);
                form
            },
        )
        .await
    }

    /// Redeems a refresh token (grant `refresh_token`) at `tenant`'s authority: the partner's
    /// own tenant, or a customer tenant for delegated (GDAP) access. The response carries a
    /// rotated refresh token that the caller must store.
    ///
    /// `POST /{tenant}/oauth2[/v2.0]/token`
    /// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token>).
    #[tracing::instrument(skip_all, fields(tenant.id = %tenant, grant = "refresh_token"))]
    pub async fn redeem_refresh_token(
        &self,
        tenant: &str,
        refresh_token: &RefreshToken,
        target: &TokenTarget,
    ) -> Result<TokenResponse, TokenError> {
        self.post(tenant, "refresh_token", target, || {
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh_token.expose_secret().to_owned()),
            ];
            target.push_into(&mut form);
            form
        })
        .await
    }

    /// Gets an app-only token (grant `client_credentials`) in `tenant`.
    ///
    /// `POST /{tenant}/oauth2[/v2.0]/token`
    /// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#get-a-token>).
    #[tracing::instrument(skip_all, fields(tenant.id = %tenant, grant = "client_credentials"))]
    pub async fn client_credentials(
        &self,
        tenant: &str,
        target: &TokenTarget,
    ) -> Result<TokenResponse, TokenError> {
        self.post(tenant, "client_credentials", target, || {
            let mut form = vec![("grant_type", "client_credentials".to_owned())];
            target.push_into(&mut form);
            form
        })
        .await
    }

    async fn post<F>(
        &self,
        tenant: &str,
        grant: &'static str,
        target: &TokenTarget,
        build: F,
    ) -> Result<TokenResponse, TokenError>
    where
        F: Fn() -> Vec<(&'static str, String)>,
    {
        if target.version() != self.version {
            return Err(TokenError::Request(format!(
                "a {:?} target cannot be sent to the {:?} endpoint",
                target.version(),
                self.version
            )));
        }
        let endpoint = self.token_endpoint(tenant);
        if let ClientCredential::RotatingCertificate(provider) = &self.credential {
            provider.refresh().await;
        }
        self.retry
            .run(grant, || async {
                let mut form = build();
                self.authenticate(&endpoint, &mut form)?;
                self.send(&endpoint, &form).await
            })
            .await
    }

    fn authenticate(
        &self,
        endpoint: &Url,
        form: &mut Vec<(&'static str, String)>,
    ) -> Result<(), TokenError> {
        form.push(("client_id", self.client_id.clone()));
        let signer = match &self.credential {
            ClientCredential::Secret(s) => {
                form.push(("client_secret", s.expose_secret().to_owned()));
                return Ok(());
            }
            ClientCredential::Certificate(signer) => signer.clone(),
            ClientCredential::RotatingCertificate(provider) => provider.current(),
        };
        // A fresh assertion per attempt: Entra refuses a reused `jti`.
        let assertion = signer
            .sign(&self.client_id, endpoint.as_str())
            .map_err(|e| TokenError::Assertion(e.to_string()))?;
        form.push(("client_assertion_type", JWT_BEARER.to_owned()));
        form.push(("client_assertion", assertion.expose_secret().to_owned()));
        Ok(())
    }

    async fn send(
        &self,
        endpoint: &Url,
        form: &[(&'static str, String)],
    ) -> Result<TokenResponse, TokenError> {
        let request_id = uuid::Uuid::new_v4();
        let started = Instant::now();
        let request = self
            .http
            .post(endpoint.clone())
            .header("client-request-id", request_id.to_string())
            .header("return-client-request-id", "true");
        let (status, retry_after, body) = post_form(request, form, endpoint).await?;
        let received_at = Instant::now();
        tracing::debug!(
            http.status = status,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ms.correlation_id = %request_id,
            "token endpoint answered"
        );
        if (200..300).contains(&status) {
            let mut parsed = TokenResponse::parse(&body, received_at).map_err(|reason| {
                TokenError::Unexpected {
                    status,
                    reason,
                    retry_after,
                }
            })?;
            parsed.id_token = parsed
                .id_token
                .map(|id| IdToken::from_endpoint(id.jwt, endpoint.clone()));
            return Ok(parsed);
        }
        match EntraError::parse(status, &body, retry_after) {
            Some(e) => Err(TokenError::Entra(Box::new(e))),
            None => Err(TokenError::Unexpected {
                status,
                reason: format!("{} bytes that are not an Entra error", body.len()),
                retry_after,
            }),
        }
    }
}

/// A fresh PKCE verifier (32 random bytes, base64url) and its S256 challenge (RFC 7636 §4.1, §4.2).
pub(super) fn pkce_s256() -> (CodeVerifier, String) {
    let verifier = CodeVerifier::new(random_b64(32));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.expose_secret().as_bytes()));
    (verifier, challenge)
}

pub(super) fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Sends `request` (a POST to the token endpoint `endpoint`) with `form` as its body: the status,
/// the `Retry-After` it named and the body. Transport failures name the endpoint, never the form.
pub(super) async fn post_form<F: serde::Serialize + ?Sized>(
    request: reqwest::RequestBuilder,
    form: &F,
    endpoint: &Url,
) -> Result<(u16, Option<Duration>, Vec<u8>), TokenError> {
    let transport = |source: reqwest::Error| TokenError::Transport {
        endpoint: endpoint.to_string(),
        source: Arc::new(source.without_url()),
    };
    let response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .map_err(transport)?;
    let status = response.status().as_u16();
    let retry_after = crate::http::retry_after(response.headers());
    let body = response.bytes().await.map_err(transport)?;
    Ok((status, retry_after, body.to_vec()))
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
