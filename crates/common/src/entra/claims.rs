//! Reading the claims of a compact JWT **without verifying it**.
//!
//! This is NOT a validation: no signature, issuer, audience or lifetime is checked. It is for
//! display and routing only — describing a token the caller just received from the token
//! endpoint over TLS (its tenant, user, scopes, `amr`, `roles`) to that same caller. Never base
//! a trust decision on it; ID tokens are validated by [`super::IdTokenValidator`].
//!
//! A compact JWT is `header.payload.signature`, each part base64url without padding
//! (RFC 7515 §3.1, §2 "Base64url Encoding"); the payload is a JSON object of claims (RFC 7519 §7.2).

use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Why a token's claims could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    /// Not three dot-separated parts.
    #[error("not a compact JWT (header.payload.signature)")]
    NotCompact,
    /// The payload is not base64url.
    #[error("the JWT payload is not base64url: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The payload is not the JSON expected.
    #[error("the JWT payload is not the JSON expected: {0}")]
    Json(#[from] serde_json::Error),
}

/// The payload of a compact JWT as `T`, **unverified** (see the module docs: for display and
/// routing only). Padding (`=`), which RFC 7515 leaves out but some encoders add, is tolerated.
/// Never panics, whatever the input.
pub fn decode_unverified<T: DeserializeOwned>(jwt: &str) -> Result<T, ClaimsError> {
    let mut parts = jwt.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ClaimsError::NotCompact);
    };
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// The claims of an Entra access token that the tools show or route on (all optional; unknown
/// claims are ignored). Read with [`decode_unverified`]: describes the token, proves nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AccessTokenClaims {
    /// `tid`: the tenant that issued the token.
    pub tid: Option<String>,
    /// `upn` (v1 tokens, users).
    pub upn: Option<String>,
    /// `preferred_username` (v2 tokens).
    pub preferred_username: Option<String>,
    /// `scp`: the delegated scopes, space-separated.
    pub scp: Option<String>,
    /// `amr`: how the user authenticated (`pwd`, `mfa`, …).
    pub amr: Option<Vec<String>>,
    /// `roles`: application permissions (app-only tokens).
    pub roles: Option<Vec<String>>,
}

impl AccessTokenClaims {
    /// Who signed in: `upn`, else `preferred_username`.
    pub fn user(&self) -> Option<&str> {
        self.upn.as_deref().or(self.preferred_username.as_deref())
    }

    /// The `scp` claim as a list.
    pub fn scopes(&self) -> Vec<String> {
        self.scp
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Whether `amr` lists `mfa`.
    pub fn has_mfa(&self) -> bool {
        self.amr.iter().flatten().any(|m| m == "mfa")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Sample {
        tid: String,
        scp: String,
        amr: Vec<String>,
        exp: i64,
    }

    #[test]
    fn an_access_token_describes_its_tenant_user_scopes_and_mfa() {
        let jwt = format!(
            "{}.{}.sig",
            b64(b"{}"),
            b64(br#"{"tid":"t-1","preferred_username":"a@b","scp":"User.Read  Mail.Read","amr":["pwd","mfa"]}"#)
        );
        let c: AccessTokenClaims = decode_unverified(&jwt).unwrap();
        assert_eq!(c.tid.as_deref(), Some("t-1"));
        assert_eq!(c.user(), Some("a@b"));
        assert_eq!(c.scopes(), ["User.Read", "Mail.Read"]);
        assert!(c.has_mfa());
        assert!(!AccessTokenClaims::default().has_mfa());
    }

    #[test]
    fn what_is_not_a_jwt_is_an_error() {
        let v = |s: &str| decode_unverified::<serde_json::Value>(s);
        assert!(matches!(v("opaque"), Err(ClaimsError::NotCompact)));
        assert!(matches!(v("a.b.c.d"), Err(ClaimsError::NotCompact)));
        assert!(matches!(v("a.!!.c"), Err(ClaimsError::Base64(_))));
        assert!(matches!(
            v(&format!("a.{}.c", b64(b"not json"))),
            Err(ClaimsError::Json(_))
        ));
        // Padding is tolerated.
        assert!(v(&format!("a.{}==.c", b64(b"{\"a\":1}"))).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics_on_any_input(s in ".*") {
            let _ = decode_unverified::<serde_json::Value>(&s);
            let _ = decode_unverified::<AccessTokenClaims>(&s);
        }

        #[test]
        fn never_panics_on_three_arbitrary_parts(
            a in "[A-Za-z0-9_=+/-]*",
            b in "[A-Za-z0-9_=+/-]*",
            c in "[A-Za-z0-9_=+/-]*",
        ) {
            let _ = decode_unverified::<serde_json::Value>(&format!("{a}.{b}.{c}"));
        }

        #[test]
        fn encoded_claims_round_trip(
            tid in ".*",
            scp in ".*",
            amr in proptest::collection::vec(".*", 0..4),
            exp in any::<i64>(),
            signature in "[A-Za-z0-9_-]*",
        ) {
            let claims = Sample { tid, scp, amr, exp };
            let payload = serde_json::to_vec(&claims).unwrap();
            let jwt = format!("{}.{}.{signature}", b64(br#"{"alg":"RS256"}"#), b64(&payload));
            prop_assert_eq!(decode_unverified::<Sample>(&jwt).unwrap(), claims);
        }
    }
}
