//! Workload identity federation: federated identity credentials on app registrations, and the
//! token endpoint's check of a `client_assertion` issued by an external issuer (a Kubernetes
//! service-account token, a GitHub Actions token, …).
//!
//! A federated identity credential (Graph `federatedIdentityCredential`,
//! `learn.microsoft.com/graph/api/resources/federatedidentitycredential`) trusts tokens whose
//! `iss` and `sub` equal its `issuer` and `subject` exactly (case-sensitive, a trailing `/`
//! matters: `Azure/azure-workload-identity:docs/book/src/troubleshooting.md`) and whose `aud`
//! contains one of its `audiences` (`api://AzureADTokenExchange` for Entra ID). The client sends
//! the external token unchanged as `client_assertion`
//! (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
//! `grant_type=client_credentials`) — `azure_identity` 1.0 `WorkloadIdentityCredential` and
//! Python `azure-identity` `WorkloadIdentityCredential` re-read it from
//! `AZURE_FEDERATED_TOKEN_FILE` and reuse it for many requests, so unlike a certificate
//! assertion it is not single-use.
//!
//! Entra fetches the issuer's keys from `{issuer}/.well-known/openid-configuration` →
//! `jwks_uri` (AADSTS90061 when that fails). The emulator makes no outbound calls: the seed's
//! `[[external_issuers]]` give each trusted issuer's JWKS inline (`jwks`, the JSON document the
//! issuer would serve). An issuer without keys is refused with AADSTS90061.

use actix_web::http::StatusCode;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entra::error::AadError;
use crate::state::{App, State};

/// The audience Entra ID expects in external tokens by default.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

fn default_audiences() -> Vec<String> {
    vec![TOKEN_EXCHANGE_AUDIENCE.to_string()]
}

/// A federated identity credential on an app registration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredentialSeed {
    /// The app registration (client ID) the credential belongs to.
    pub app_id: String,
    /// Name of the credential.
    pub name: String,
    /// The external issuer URL, compared exactly with the token's `iss`.
    pub issuer: String,
    /// Compared exactly with the token's `sub`, e.g. `system:serviceaccount:{namespace}:{name}`.
    pub subject: String,
    /// Accepted `aud` values; default `["api://AzureADTokenExchange"]`.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

/// An external issuer the emulator trusts, with the keys it would publish.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuerSeed {
    /// The issuer URL (the token's `iss`).
    pub issuer: String,
    /// The issuer's JWKS document (JSON text: `{"keys": [...]}`).
    pub jwks: String,
}

/// Federated credentials and issuer keys of a running emulator.
#[derive(Debug, Default)]
pub struct Federation {
    credentials: Vec<FederatedCredentialSeed>,
    issuers: Vec<(String, JwkSet)>,
}

impl Federation {
    /// From the seed (validated: every JWKS parses).
    pub fn from_seed(seed: &crate::Seed) -> Self {
        Federation {
            credentials: seed.federated_credentials.clone(),
            issuers: seed
                .external_issuers
                .iter()
                .filter_map(|i| Some((i.issuer.clone(), serde_json::from_str(&i.jwks).ok()?)))
                .collect(),
        }
    }
}

/// Check the seed's federated credentials and issuers (called by [`crate::Seed::validate`]).
pub fn validate_seed(seed: &crate::Seed, problems: &mut Vec<String>) {
    for c in &seed.federated_credentials {
        if !seed
            .apps
            .iter()
            .any(|a| a.app_id.eq_ignore_ascii_case(&c.app_id))
        {
            problems.push(format!(
                "federated_credentials.{}: app '{}' is not a seeded app",
                c.name, c.app_id
            ));
        }
        if c.audiences.is_empty() {
            problems.push(format!(
                "federated_credentials.{}: audiences must not be empty (use \"{TOKEN_EXCHANGE_AUDIENCE}\")",
                c.name
            ));
        }
    }
    for i in &seed.external_issuers {
        if serde_json::from_str::<JwkSet>(&i.jwks).is_err() {
            problems.push(format!(
                "external_issuers.{}: jwks is not a JWKS document ({{\"keys\": [...]}})",
                i.issuer
            ));
        }
    }
}

/// The claims of a JWT, read without checking anything (to route the assertion).
fn peek_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn no_match(what: &str, value: &str, code: u32) -> AadError {
    AadError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        code,
        format!(
            "No matching federated identity record found for presented assertion {what} '{value}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
        ),
    )
}

/// Verify a federated `client_assertion`. `None` when the assertion is the app's own
/// (certificate) assertion — `iss` is the client ID — which `entra::token` checks itself.
pub fn verify(state: &State, app: &App, assertion: &str) -> Option<Result<(), AadError>> {
    let claims = peek_claims(assertion)?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default();
    if text("iss").eq_ignore_ascii_case(&app.seed.app_id) {
        return None;
    }
    Some(verify_federated(
        state,
        app,
        assertion,
        text("iss"),
        text("sub"),
    ))
}

fn verify_federated(
    state: &State,
    app: &App,
    assertion: &str,
    iss: &str,
    sub: &str,
) -> Result<(), AadError> {
    let fed = &state.federation;
    let for_app: Vec<&FederatedCredentialSeed> = fed
        .credentials
        .iter()
        .filter(|c| c.app_id.eq_ignore_ascii_case(&app.seed.app_id) && c.issuer == iss)
        .collect();
    if for_app.is_empty() {
        return Err(no_match("issuer", iss, 700211));
    }
    let claims = verify_signature(fed, assertion, iss)?;
    let with_subject: Vec<&&FederatedCredentialSeed> =
        for_app.iter().filter(|c| c.subject == sub).collect();
    if with_subject.is_empty() {
        return Err(no_match("subject", sub, 700213));
    }
    let auds: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !with_subject
        .iter()
        .any(|c| c.audiences.iter().any(|a| auds.contains(&a.as_str())))
    {
        return Err(no_match("audience", &auds.join(","), 700212));
    }
    check_lifetime(state, &claims)
}

fn verify_signature(fed: &Federation, assertion: &str, iss: &str) -> Result<Value, AadError> {
    let Some((_, keys)) = fed.issuers.iter().find(|(i, _)| i == iss) else {
        return Err(AadError::invalid_request(
            90061,
            "Request to External OIDC endpoint failed.",
        ));
    };
    let malformed = || AadError::invalid_client(50027, "JWT token is invalid or malformed.");
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None => keys.keys.first(),
    }
    .ok_or_else(|| {
        AadError::invalid_client(
            700027,
            "Client assertion failed signature validation. (The issuer publishes no key with this kid.)",
        )
    })?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| malformed())?;
    let mut validation = Validation::new(header.alg);
    // Issuer, subject, audience and lifetime are checked here, with Entra's error codes.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                AadError::invalid_client(700027, "Client assertion failed signature validation.")
            }
            _ => malformed(),
        })
}

/// AADSTS700024 unless the assertion's `exp`/`nbf` are within five minutes of the clock (the
/// skew Entra allows); shared by certificate and federated assertions.
pub(crate) fn check_lifetime(state: &State, claims: &Value) -> Result<(), AadError> {
    const SKEW: i64 = 300;
    let now = state.now();
    let num = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64)))
    };
    let (exp, nbf) = (num("exp"), num("nbf"));
    if exp.is_none_or(|e| e + SKEW < now) || nbf.is_some_and(|n| n - SKEW > now) {
        let fmt = |t: Option<i64>| {
            t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                .map_or_else(|| "(none)".into(), |d| d.to_string())
        };
        return Err(AadError::invalid_client(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
                fmt(Some(now)),
                fmt(nbf),
                fmt(exp)
            ),
        ));
    }
    Ok(())
}
