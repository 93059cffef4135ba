//! Reading the claims of a token just received from the token endpoint over TLS (no signature
//! check: the token is not trusted for anything but describing itself to its holder).

use base64::Engine as _;
use serde_json::Value;

/// The payload of a compact JWT, or `None` if it is not one.
pub fn claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A string claim.
pub fn string_claim(claims: &Value, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// The space-separated `scp` claim as a list.
pub fn scopes(claims: &Value) -> Vec<String> {
    claims
        .get("scp")
        .and_then(Value::as_str)
        .map(|s| {
            s.split(' ')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `amr` lists `mfa`.
pub fn has_mfa(claims: &Value) -> bool {
    claims
        .get("amr")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|m| m.as_str() == Some("mfa")))
}
