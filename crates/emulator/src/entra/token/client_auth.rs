//! Client authentication at the token endpoint: a secret (form post or HTTP Basic), a
//! certificate assertion, or a federated assertion (docs/microsoft-behaviour.md §1.2).

use super::request::Form;
use crate::entra::error::AadError;
use crate::model::sessions::Authority;
use crate::model::state::{App, State};
use actix_web::HttpRequest;
use base64::Engine as _;
use jsonwebtoken::Algorithm;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
    let unescape = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|v| v.into_iter().next().map(|(_, v)| v))
            .unwrap_or_else(|| s.to_string())
    };
    Some((unescape(id), unescape(secret)))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Authenticate the client; returns `appidacr` ("0" public, "1" secret, "2" certificate).
pub(crate) fn authenticate_client(
    state: &State,
    app: &App,
    form: &Form,
    basic_secret: Option<&str>,
    tenant_seg: &str,
    authority: &Authority,
) -> Result<&'static str, AadError> {
    let app_id = &app.seed.app_id;
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(AadError::invalid_request(
                50027,
                "Invalid client_assertion_type. Expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
            ));
        }
        // Workload identity federation: an external issuer's token (`super::federated`).
        if let Some(federated) = crate::entra::federated::verify(state, app, assertion) {
            return federated.map(|()| "2");
        }
        verify_assertion(state, app, assertion, tenant_seg, authority)?;
        return Ok("2");
    }
    let secret = form
        .get("client_secret")
        .map(String::as_str)
        .or(basic_secret);
    match secret {
        Some(s) => {
            if app
                .seed
                .secrets
                .iter()
                .any(|k| constant_time_eq(k.as_bytes(), s.as_bytes()))
            {
                Ok("1")
            } else {
                Err(AadError::invalid_client(
                    7000215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app_id}'."
                    ),
                ))
            }
        }
        None if app.seed.public_client => Ok("0"),
        None => Err(AadError::invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
    }
}

fn verify_assertion(
    state: &State,
    app: &App,
    assertion: &str,
    tenant_seg: &str,
    authority: &Authority,
) -> Result<(), AadError> {
    let malformed = || AadError::invalid_client(50027, "JWT token is invalid or malformed.");
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(AadError::invalid_client(
            5002738,
            format!(
                "Invalid JWT token. '{:?}' is not a supported signature algorithm. Supported signing algorithms are: 'RS256, PS256'.",
                header.alg
            ),
        ));
    }
    let app_id = &app.seed.app_id;
    let Some(cert) = app.certificates.iter().find(|c| c.matches(&header)) else {
        let thumb = header
            .x5t
            .clone()
            .or_else(|| header.x5t_s256.clone())
            .unwrap_or_default();
        return Err(AadError::invalid_client(
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumb}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{app_id}'.]"
            ),
        ));
    };
    let claims = cert
        .verify(assertion, header.alg)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                AadError::invalid_client(700027, "Client assertion failed signature validation.")
            }
            _ => malformed(),
        })?;
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    if text("iss") != *app_id || text("sub") != *app_id {
        return Err(AadError::invalid_client(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        ));
    }
    let auds: Vec<String> = match claims.get("aud") {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !auds
        .iter()
        .any(|a| is_token_endpoint_for(state, a, tenant_seg, authority))
    {
        return Err(AadError::invalid_client(
            700023,
            format!(
                "Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials . Audience: '{}'.",
                auds.join(",")
            ),
        ));
    }
    let now = state.now();
    // MSAL Python sends `exp`/`iat` as floats (time.time()); accept any JSON number.
    let num = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64)))
    };
    let exp = num("exp");
    const SKEW: i64 = 300;
    crate::entra::federated::check_lifetime(state, &claims)?;
    let jti = text("jti");
    if jti.is_empty() {
        return Err(malformed());
    }
    let mut jtis = state
        .assertion_jtis
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    jtis.retain(|_, e| *e + SKEW >= now);
    let key = format!("{app_id}|{jti}");
    if jtis.contains_key(&key) {
        return Err(AadError::invalid_client(
            700027,
            format!(
                "Client assertion contains a jti that was already used: '{jti}'. A client assertion is single use."
            ),
        ));
    }
    jtis.insert(key, exp.unwrap_or(now));
    Ok(())
}

fn is_token_endpoint_for(
    state: &State,
    aud: &str,
    tenant_seg: &str,
    authority: &Authority,
) -> bool {
    let Ok(url) = url::Url::parse(aud) else {
        return false;
    };
    let host_ok = matches!(url.host_str(), Some("127.0.0.1" | "localhost"))
        && url.port() == Some(state.port())
        || url.host_str() == Some("login.microsoftonline.com");
    if !host_ok {
        return false;
    }
    let path = url.path().trim_end_matches('/');
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let seg = segments.next().unwrap_or_default();
    let rest = segments.next().unwrap_or_default();
    let tenant_ok = seg.eq_ignore_ascii_case(tenant_seg)
        || match authority {
            Authority::Tenant(t) => {
                seg.eq_ignore_ascii_case(&t.id) || seg.eq_ignore_ascii_case(&t.domain)
            }
            Authority::Common => false,
        };
    tenant_ok && matches!(rest, "oauth2/token" | "oauth2/v2.0/token" | "v2.0" | "")
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any `Authorization` header is read as Basic credentials or ignored, never a panic.
        #[test]
        fn any_authorization_header_is_read_or_ignored(value in "\\PC{0,80}", id in "[ -~]{1,20}", secret in "[ -~]{0,20}") {
            if let Ok(header) = actix_web::http::header::HeaderValue::from_str(&value) {
                let req = actix_web::test::TestRequest::default()
                    .insert_header(("authorization", header))
                    .to_http_request();
                let _ = basic_credentials(&req);
            }
            // RFC 6749 §2.3.1: both parts form-urlencoded, then Base64.
            let enc = |s: &str| serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_owned();
            let raw = format!("{}:{}", enc(&id), enc(&secret));
            let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
            let req = actix_web::test::TestRequest::default()
                .insert_header(("authorization", header))
                .to_http_request();
            proptest::prop_assert_eq!(basic_credentials(&req), Some((id.clone(), secret.clone())));
        }
    }
}
