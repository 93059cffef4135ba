//! What every grant of the token endpoint works from: the form body, the resolved authority
//! and the authenticated client ([`Grant`]).

use crate::entra::error::AadError;
use crate::entra::issue::Version;
use crate::model::sessions::Authority;
use crate::model::state::{App, State};
use actix_web::http::StatusCode;
use actix_web::web;
use futures::StreamExt as _;
use std::collections::HashMap;

/// Largest form body accepted (Entra refuses large bodies; 64 KiB is plenty for any grant).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A parsed form body.
pub type Form = HashMap<String, String>;

/// A token request whose client is authenticated: what every grant works from.
#[derive(Clone, Copy)]
pub(crate) struct Grant<'a> {
    pub state: &'a State,
    pub app: &'a App,
    /// How the client authenticated: "0" public, "1" secret, "2" certificate.
    pub appidacr: &'a str,
    pub authority: &'a Authority,
    /// The tenant segment of the request's path, as sent.
    pub tenant_seg: &'a str,
    pub form: &'a Form,
    pub version: Version,
}

/// Read a form-urlencoded body with a size limit, answering Entra-shaped errors.
pub async fn read_form(mut payload: web::Payload) -> Result<Form, AadError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            AadError::invalid_request(900144, "The request body could not be read.")
        })?;
        if buf.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(AadError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                90015,
                format!(
                    "The request body is too large. The maximum size is {MAX_FORM_BYTES} bytes."
                ),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    parse_form(&buf)
}

/// A form-urlencoded body as Entra reads it: malformed is AADSTS9002313, a repeated parameter
/// AADSTS90015.
fn parse_form(buf: &[u8]) -> Result<Form, AadError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(buf).map_err(|_| {
        AadError::invalid_request(9002313, "Invalid request. Request is malformed or invalid.")
    })?;
    let mut form = Form::new();
    for (k, v) in pairs {
        if form.contains_key(&k) {
            return Err(AadError::invalid_request(
                90015,
                format!("Requested query string is invalid: the parameter '{k}' is duplicated."),
            ));
        }
        form.insert(k, v);
    }
    Ok(form)
}

/// Resolve the `{tenant}` path segment.
pub fn resolve_authority(state: &State, segment: &str) -> Result<Authority, AadError> {
    match segment.to_ascii_lowercase().as_str() {
        "common" | "organizations" => Ok(Authority::Common),
        "consumers" => Err(AadError::invalid_request(
            9002331,
            "Application is configured for use by Microsoft Account users only. Please use the /consumers endpoint to serve this request.",
        )),
        _ => state
            .directory()
            .tenant(segment)
            .cloned()
            .map(Authority::Tenant)
            .ok_or_else(|| AadError::tenant_not_found(segment)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any token-request body is a form or an Entra error, never a panic; a form of
        /// distinct keys round-trips.
        #[test]
        fn any_body_is_a_form_or_an_entra_error(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            pairs in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{0,24}", 0..6),
        ) {
            let _ = parse_form(&body);
            let encoded = serde_urlencoded::to_string(&pairs).unwrap();
            let form = parse_form(encoded.as_bytes()).expect("an encoded form parses");
            proptest::prop_assert_eq!(form.len(), pairs.len());
            for (k, v) in &pairs {
                proptest::prop_assert_eq!(form.get(k), Some(v));
            }
        }
    }
}
