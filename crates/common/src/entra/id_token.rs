//! ID-token validation for the consent flow (OpenID Connect Core §3.1.3.7).
//!
//! Keys and issuer come from the authority's OpenID configuration
//! (<https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#fetch-the-openid-configuration-document>);
//! for `common`/`organizations` the issuer is the template `https://login.microsoftonline.com/{tenantid}/v2.0`
//! (v1: `https://sts.windows.net/{tenantid}/` in the global cloud, `https://sts.chinacloudapi.cn/{tenantid}/`
//! in 21Vianet's) and the `tid` claim fills it in
//! (<https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-the-issuer>).
//! Every token, signed or not, is checked against the issuer of the configured authority's
//! discovery document, never a fixed host (docs/microsoft-behaviour.md §1.3).
//! Claims: <https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference>.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;
use url::Url;

use super::client::IdToken;
use crate::cloud::join;
use crate::config::EndpointVersion;

/// How far clocks may disagree when checking `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(120);
/// Keys are refetched on an unknown `kid` at most this often (a flood of forged tokens must not
/// become a flood of requests to Entra).
pub const MIN_KEY_REFRESH: Duration = Duration::from_secs(30);
/// Cached keys are fetched again after this long even when every token names a known key, so a
/// key Entra withdrew stops being accepted (Entra rolls keys over every few weeks).
pub const KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Why an ID token was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a JWT, or a claim is missing or mistyped.
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    /// Signed with a key the tenant does not publish.
    #[error("the ID token is signed with an unknown key (kid {0:?})")]
    UnknownKey(String),
    /// Unsigned (`alg: none`) where that is not allowed.
    #[error("the ID token is unsigned and {0}")]
    Unsigned(String),
    /// The signature does not verify.
    #[error("the ID token's signature is invalid")]
    Signature,
    /// Wrong issuer.
    #[error("the ID token was issued by {found:?}, expected {expected:?}")]
    Issuer {
        /// Expected issuer.
        expected: String,
        /// Found issuer.
        found: String,
    },
    /// Issued to another application.
    #[error("the ID token is for the audience {found:?}, not this application")]
    Audience {
        /// Found audience.
        found: String,
    },
    /// Expired.
    #[error("the ID token expired at {exp} (now {now})")]
    Expired {
        /// `exp`.
        exp: i64,
        /// The time checked against.
        now: i64,
    },
    /// Not valid yet.
    #[error("the ID token is not valid before {nbf} (now {now})")]
    NotYetValid {
        /// `nbf`.
        nbf: i64,
        /// The time checked against.
        now: i64,
    },
    /// `nonce` differs from the one sent (a replayed or injected token).
    #[error("the ID token's nonce does not match the sign-in request")]
    Nonce,
    /// Issued in another tenant than required.
    #[error("the ID token is from tenant {found}, expected {expected}")]
    Tenant {
        /// Expected tenant.
        expected: String,
        /// Found tenant.
        found: String,
    },
    /// `c_hash` missing or not the hash of the authorization code it came with (OIDC Core
    /// §3.3.2.11: a code swapped into the response).
    #[error("the ID token's c_hash does not match the authorization code")]
    CodeHash,
    /// The OpenID configuration or keys could not be fetched.
    #[error("cannot fetch the signing keys: {0}")]
    Discovery(String),
}

fn b64_decode(part: &str) -> Result<Vec<u8>, IdTokenError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| IdTokenError::Malformed(e.to_string()))
}

/// The `alg` of a compact JWT's header (read by hand: `jsonwebtoken` has no `none`).
fn header_alg(jwt: &str) -> Result<String, IdTokenError> {
    #[derive(Deserialize)]
    struct Header {
        alg: String,
    }
    let first = jwt
        .split('.')
        .next()
        .ok_or_else(|| IdTokenError::Malformed("not a JWT".into()))?;
    let header: Header = serde_json::from_slice(&b64_decode(first)?)
        .map_err(|e| IdTokenError::Malformed(format!("header: {e}")))?;
    Ok(header.alg)
}

/// Who signed in, from a validated ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedInUser {
    /// `tid`: the user's tenant (the partner tenant).
    pub tenant_id: String,
    /// `oid`: the user's object ID.
    pub object_id: String,
    /// `upn` (v1) or `preferred_username` (v2).
    pub upn: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// Whether `amr` lists `mfa`; `None` when the token has no `amr` (v2 ID tokens never do).
    pub mfa: Option<bool>,
}

/// What the ID token must say.
#[derive(Clone, Copy, Debug)]
pub struct ExpectedIdToken<'a> {
    /// The nonce sent in the authorization request.
    pub nonce: &'a str,
    /// The tenant the user must belong to, if one is required.
    pub tenant: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: OneOrMany,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    tid: String,
    oid: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    unique_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    amr: Option<Vec<String>>,
    #[serde(default)]
    c_hash: Option<String>,
}

/// What else a token must prove, by where it came from.
#[derive(Clone, Copy, Debug)]
enum Channel<'a> {
    /// The token endpoint's answer, or the authorization response of a code flow: `nonce`
    /// required.
    Plain,
    /// The authorization response of the hybrid flow: signed, `nonce` and `c_hash` of `code`.
    Hybrid { code: &'a str },
    /// The token endpoint's answer after a hybrid flow: `nonce` checked only when present
    /// (Microsoft documents it only where `response_type` includes `id_token`).
    AfterHybrid,
}

/// `c_hash` of OIDC Core §3.3.2.11 for RS256: the left half of SHA-256 of the code, base64url.
pub fn code_hash(code: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(code.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: Url,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    x5t: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

struct KeySet {
    issuer: String,
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
}

/// Validates ID tokens from one authority for one application; keys are cached for
/// [`KEY_TTL`], and fetched again sooner when a token names an unknown `kid` (key rollover), at
/// most every [`MIN_KEY_REFRESH`]. The metadata's `jwks_uri` must be HTTPS on the authority's
/// own host: keys from anywhere else would let whoever serves them sign ID tokens.
#[derive(Debug)]
pub struct IdTokenValidator {
    http: reqwest::Client,
    metadata_url: Url,
    authority_host: Url,
    version: EndpointVersion,
    client_id: String,
    leeway: Duration,
    key_ttl: Duration,
    min_key_refresh: Duration,
    keys: RwLock<Option<KeySet>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("issuer", &self.issuer)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl IdTokenValidator {
    /// A validator for tokens issued to `client_id` by `{authority_host}/{tenant}` (`common`,
    /// `organizations` or a tenant), reading `.well-known/openid-configuration` of that version.
    pub fn new(
        http: reqwest::Client,
        authority_host: &Url,
        tenant: &str,
        version: EndpointVersion,
        client_id: impl Into<String>,
    ) -> Self {
        let path = match version {
            EndpointVersion::V1 => format!("{tenant}/.well-known/openid-configuration"),
            EndpointVersion::V2 => format!("{tenant}/v2.0/.well-known/openid-configuration"),
        };
        Self {
            http,
            metadata_url: join(authority_host, &path),
            authority_host: authority_host.clone(),
            version,
            client_id: client_id.into(),
            leeway: DEFAULT_LEEWAY,
            key_ttl: KEY_TTL,
            min_key_refresh: MIN_KEY_REFRESH,
            keys: RwLock::new(None),
        }
    }

    /// Replaces how long keys are cached ([`KEY_TTL`]) and how soon an unknown `kid` may cause
    /// a refetch ([`MIN_KEY_REFRESH`]).
    pub fn with_key_refresh(mut self, ttl: Duration, min_refresh: Duration) -> Self {
        self.key_ttl = ttl;
        self.min_key_refresh = min_refresh;
        self
    }

    /// Replaces the clock-skew allowance.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Validates signature, issuer, audience, expiry and nonce, and returns who signed in.
    ///
    /// Keys: `GET {jwks_uri}` from `GET {authority}/{tenant}[/v2.0]/.well-known/openid-configuration`.
    #[tracing::instrument(skip_all)]
    pub async fn validate(
        &self,
        token: &IdToken,
        expected: ExpectedIdToken<'_>,
    ) -> Result<SignedInUser, IdTokenError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.validate_at(token, expected, now).await
    }

    /// [`Self::validate`] against a given time (Unix seconds).
    pub async fn validate_at(
        &self,
        token: &IdToken,
        expected: ExpectedIdToken<'_>,
        now: i64,
    ) -> Result<SignedInUser, IdTokenError> {
        self.check(token, expected, Channel::Plain, now).await
    }

    /// Validates the signed ID token of a hybrid flow's authorization response (OIDC Core
    /// §3.3.2.12): everything [`Self::validate`] checks, a signature (an unsigned token is
    /// refused whatever its origin), and `c_hash` of `code`, before the code is redeemed.
    #[tracing::instrument(skip_all)]
    pub async fn validate_authorization_response(
        &self,
        token: &IdToken,
        expected: ExpectedIdToken<'_>,
        code: &str,
    ) -> Result<SignedInUser, IdTokenError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.check(token, expected, Channel::Hybrid { code }, now)
            .await
    }

    /// Validates the token endpoint's ID token after a hybrid flow: as [`Self::validate`], but
    /// `nonce` is checked only when present (v1's unsigned token need not repeat it).
    #[tracing::instrument(skip_all)]
    pub async fn validate_after_hybrid(
        &self,
        token: &IdToken,
        expected: ExpectedIdToken<'_>,
    ) -> Result<SignedInUser, IdTokenError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.check(token, expected, Channel::AfterHybrid, now).await
    }

    async fn check(
        &self,
        token: &IdToken,
        expected: ExpectedIdToken<'_>,
        channel: Channel<'_>,
        now: i64,
    ) -> Result<SignedInUser, IdTokenError> {
        if matches!(channel, Channel::Hybrid { .. }) && header_alg(token.as_str())? == "none" {
            return Err(IdTokenError::Unsigned(
                "an authorization response's ID token must be signed".into(),
            ));
        }
        let (claims, issuer_template) = self.verified_claims(token).await?;
        let expected_issuer = issuer_template.replace("{tenantid}", &claims.tid);
        if claims.iss != expected_issuer {
            return Err(IdTokenError::Issuer {
                expected: expected_issuer,
                found: claims.iss,
            });
        }
        let auds = match claims.aud {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(v) => v,
        };
        if !auds.iter().any(|a| a == &self.client_id) {
            return Err(IdTokenError::Audience {
                found: auds.join(","),
            });
        }
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(0);
        if claims.exp + leeway < now {
            return Err(IdTokenError::Expired {
                exp: claims.exp,
                now,
            });
        }
        if let Some(nbf) = claims.nbf.filter(|nbf| nbf - leeway > now) {
            return Err(IdTokenError::NotYetValid { nbf, now });
        }
        let nonce_ok = match (channel, claims.nonce.as_deref()) {
            (Channel::AfterHybrid, None) => true,
            (_, found) => found == Some(expected.nonce),
        };
        if !nonce_ok {
            return Err(IdTokenError::Nonce);
        }
        if let Channel::Hybrid { code } = channel
            && claims.c_hash.as_deref() != Some(code_hash(code).as_str())
        {
            return Err(IdTokenError::CodeHash);
        }
        if let Some(t) = expected
            .tenant
            .filter(|t| !t.eq_ignore_ascii_case(&claims.tid))
        {
            return Err(IdTokenError::Tenant {
                expected: t.to_owned(),
                found: claims.tid,
            });
        }
        Ok(SignedInUser {
            tenant_id: claims.tid,
            object_id: claims.oid,
            upn: claims
                .upn
                .or(claims.preferred_username)
                .or(claims.unique_name),
            name: claims.name,
            mfa: claims.amr.map(|amr| amr.iter().any(|m| m == "mfa")),
        })
    }

    /// The claims of a token whose origin is proven, and the issuer template to check them
    /// against: by its RS256 signature, or — for an unsigned (`alg: none`) token — by having come
    /// in the v1 token endpoint's response over TLS from the configured authority (OpenID Connect
    /// Core §3.1.3.7 (6); Entra's v1 code flow returns unsigned ID tokens there:
    /// <https://learn.microsoft.com/previous-versions/azure/active-directory/azuread-dev/v1-protocols-oauth-code#successful-response-1>).
    async fn verified_claims(&self, token: &IdToken) -> Result<(Claims, String), IdTokenError> {
        let alg = header_alg(token.as_str())?;
        if alg == "none" {
            let claims = self.unsigned_claims(token)?;
            return Ok((claims, self.issuer_template().await?));
        }
        let header = jsonwebtoken::decode_header(token.as_str())
            .map_err(|e| IdTokenError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(IdTokenError::Malformed(format!(
                "algorithm {:?} is not RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .or(header.x5t)
            .ok_or_else(|| IdTokenError::Malformed("no kid in the header".into()))?;
        let (key, issuer_template) = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        // Time, audience and issuer are checked by the caller, with our clock and precise errors.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Claims>(token.as_str(), &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => IdTokenError::Signature,
                _ => IdTokenError::Malformed(e.to_string()),
            })?
            .claims;
        Ok((claims, issuer_template))
    }

    fn unsigned_claims(&self, token: &IdToken) -> Result<Claims, IdTokenError> {
        if self.version != EndpointVersion::V1 {
            return Err(IdTokenError::Unsigned(
                "v2 endpoints sign every ID token".into(),
            ));
        }
        let endpoint = token.delivered_by().ok_or_else(|| {
            IdTokenError::Unsigned("it did not come from a token endpoint's response".into())
        })?;
        if endpoint.scheme() != "https" {
            return Err(IdTokenError::Unsigned(
                "its token endpoint was not reached over TLS".into(),
            ));
        }
        if endpoint.origin() != self.authority_host.origin() {
            return Err(IdTokenError::Unsigned(format!(
                "it came from {}, not the configured authority",
                endpoint.origin().ascii_serialization()
            )));
        }
        let mut parts = token.as_str().split('.');
        let (Some(_), Some(payload), Some(""), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IdTokenError::Malformed(
                "an unsigned JWT must end with an empty signature".into(),
            ));
        };
        serde_json::from_slice(&b64_decode(payload)?)
            .map_err(|e| IdTokenError::Malformed(e.to_string()))
    }

    /// The issuer (template) of the authority's discovery document: cached with the keys, fetched
    /// when there are none or they are older than the key TTL. Each cloud has its own
    /// (`https://sts.windows.net/{tenantid}/`, `https://sts.chinacloudapi.cn/{tenantid}/`, …).
    async fn issuer_template(&self) -> Result<String, IdTokenError> {
        {
            let guard = self.keys.read().await;
            if let Some(set) = guard
                .as_ref()
                .filter(|s| s.fetched_at.elapsed() < self.key_ttl)
            {
                return Ok(set.issuer.clone());
            }
        }
        let mut guard = self.keys.write().await;
        if guard
            .as_ref()
            .is_none_or(|s| s.fetched_at.elapsed() >= self.key_ttl)
        {
            *guard = Some(self.fetch().await?);
        }
        guard
            .as_ref()
            .map(|s| s.issuer.clone())
            .ok_or_else(|| IdTokenError::Discovery("no metadata".into()))
    }

    async fn key(&self, kid: &str) -> Result<(DecodingKey, String), IdTokenError> {
        {
            let guard = self.keys.read().await;
            if let Some(set) = guard.as_ref() {
                let fresh = set.fetched_at.elapsed() < self.key_ttl;
                if let Some(k) = set.keys.get(kid).filter(|_| fresh) {
                    return Ok((k.clone(), set.issuer.clone()));
                }
                if fresh && set.fetched_at.elapsed() < self.min_key_refresh {
                    return Err(IdTokenError::UnknownKey(kid.to_owned()));
                }
            }
        }
        let mut guard = self.keys.write().await;
        // Another task may have refreshed while we waited for the lock.
        let stale = guard.as_ref().is_none_or(|s| {
            let age = s.fetched_at.elapsed();
            age >= self.key_ttl || (!s.keys.contains_key(kid) && age >= self.min_key_refresh)
        });
        if stale {
            *guard = Some(self.fetch().await?);
        }
        let set = guard
            .as_ref()
            .ok_or_else(|| IdTokenError::Discovery("no keys".into()))?;
        set.keys
            .get(kid)
            .map(|k| (k.clone(), set.issuer.clone()))
            .ok_or_else(|| IdTokenError::UnknownKey(kid.to_owned()))
    }

    async fn fetch(&self) -> Result<KeySet, IdTokenError> {
        let metadata: Metadata = self.get_json(self.metadata_url.clone()).await?;
        let jwks_uri = metadata.jwks_uri;
        if jwks_uri.scheme() != "https" || jwks_uri.host() != self.authority_host.host() {
            return Err(IdTokenError::Discovery(format!(
                "the metadata's jwks_uri {jwks_uri} is not https on the authority's host {}: keys from elsewhere are not trusted",
                self.authority_host.host_str().unwrap_or_default()
            )));
        }
        let jwks: Jwks = self.get_json(jwks_uri).await?;
        let mut keys = HashMap::new();
        for k in jwks.keys.into_iter().filter(|k| k.kty == "RSA") {
            let (Some(n), Some(e)) = (&k.n, &k.e) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_rsa_components(n, e) else {
                continue;
            };
            for id in [k.kid.clone(), k.x5t.clone()].into_iter().flatten() {
                keys.insert(id, key.clone());
            }
        }
        tracing::debug!(keys = keys.len(), "fetched Entra signing keys");
        Ok(KeySet {
            issuer: metadata.issuer,
            keys,
            fetched_at: Instant::now(),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: Url) -> Result<T, IdTokenError> {
        let shown = url.to_string();
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| IdTokenError::Discovery(format!("{shown}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(IdTokenError::Discovery(format!("{shown}: HTTP {status}")));
        }
        response
            .json()
            .await
            .map_err(|e| IdTokenError::Discovery(format!("{shown}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsigned(claims: &serde_json::Value) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(r#"{"typ":"JWT","alg":"none"}"#),
            b64.encode(claims.to_string())
        )
    }

    #[tokio::test]
    async fn an_unsigned_id_token_over_plain_http_is_refused() {
        let host = Url::parse("http://127.0.0.1:1").unwrap();
        let v = IdTokenValidator::new(
            reqwest::Client::new(),
            &host,
            "common",
            EndpointVersion::V1,
            "app",
        );
        let jwt = unsigned(&serde_json::json!({
            "iss": "https://sts.windows.net/t/", "aud": "app", "exp": 4_000_000_000_i64,
            "tid": "t", "oid": "o", "nonce": "n"
        }));
        let token = IdToken::from_endpoint(jwt, host.join("common/oauth2/token").unwrap());
        let expected = ExpectedIdToken {
            nonce: "n",
            tenant: None,
        };
        let err = v.validate(&token, expected).await.unwrap_err();
        assert!(
            matches!(&err, IdTokenError::Unsigned(m) if m.contains("TLS")),
            "{err:?}"
        );
    }
}
