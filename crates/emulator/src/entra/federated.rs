//! The token endpoint's check of a `client_assertion` issued by an external issuer (workload
//! identity federation; the credentials and issuers' keys are [`crate::model::federation`]).

use actix_web::http::StatusCode;
use base64::Engine as _;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;

use super::error::AadError;
use crate::model::federation::{FederatedCredentialSeed, Federation};
use crate::model::state::{App, State};

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
