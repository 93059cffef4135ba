//! Entra ID token-endpoint errors, kept whole, and the [`Remedy`] a person can act on.
//!
//! Shape: "Microsoft identity platform and OAuth 2.0 authorization code flow" § Error response
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1>);
//! codes: "Microsoft Entra authentication and authorization error codes"
//! (<https://learn.microsoft.com/entra/identity-platform/reference-error-codes>).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::http::RetryableError;
use crate::remedy::Remedy;

/// An error answered by the Entra ID token endpoint, with every field Entra sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntraError {
    /// HTTP status.
    pub status: u16,
    /// OAuth `error` (`invalid_grant`, `invalid_client`, `interaction_required`, ...).
    pub error: String,
    /// `error_description`, with its AADSTS code and trace lines.
    pub description: String,
    /// `error_codes` (AADSTS numbers).
    pub codes: Vec<u32>,
    /// `suberror` (`consent_required`, `basic_action`, ...), if any.
    pub suberror: Option<String>,
    /// `trace_id`: what Microsoft support asks for.
    pub trace_id: Option<String>,
    /// `correlation_id`.
    pub correlation_id: Option<String>,
    /// `timestamp`.
    pub timestamp: Option<String>,
    /// `Retry-After` sent with the error, if any.
    pub retry_after: Option<Duration>,
}

#[derive(Deserialize)]
struct WireError {
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u32>,
    #[serde(default)]
    suberror: Option<String>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

impl EntraError {
    /// Parses an Entra error body; `None` when the body is not one.
    pub fn parse(status: u16, body: &[u8], retry_after: Option<Duration>) -> Option<Self> {
        let w: WireError = serde_json::from_slice(body).ok()?;
        let mut codes = w.error_codes;
        if codes.is_empty() {
            codes.extend(aadsts_code(&w.error_description));
        }
        Some(Self {
            status,
            error: w.error,
            description: w.error_description,
            codes,
            suberror: w.suberror,
            trace_id: w.trace_id,
            correlation_id: w.correlation_id,
            timestamp: w.timestamp,
            retry_after,
        })
    }

    /// Whether any of the AADSTS codes is `code`.
    pub fn has_code(&self, code: u32) -> bool {
        self.codes.contains(&code)
    }

    /// The first line of the description (without the trace lines Entra appends).
    pub fn summary(&self) -> &str {
        self.description
            .split(['\r', '\n'])
            .next()
            .unwrap_or_default()
    }

    /// Whether retrying the same request may succeed (5xx, 429, `temporarily_unavailable`).
    /// `invalid_grant` is never retried.
    pub fn is_transient(&self) -> bool {
        self.error != "invalid_grant"
            && (self.status >= 500
                || self.status == 429
                || self.error == "temporarily_unavailable"
                || self.error == "server_error")
    }

    /// The remedy for this error.
    pub fn remedy(&self) -> Remedy {
        const RECONSENT: [u32; 4] = [700_082, 50_173, 70_000, 70_008];
        const MFA: [u32; 3] = [50_076, 50_078, 50_079];
        const CREDENTIAL: [u32; 5] = [7_000_215, 7_000_222, 700_027, 700_024, 700_023];
        const CONDITIONAL_ACCESS: [u32; 4] = [53_000, 53_001, 53_002, 53_003];
        const SIGN_IN_FREQUENCY: [u32; 2] = [70_043, 70_044];
        let any = |set: &[u32]| set.iter().any(|c| self.has_code(*c));
        if any(&CONDITIONAL_ACCESS) {
            Remedy::ConditionalAccess
        } else if self.has_code(50_177) {
            // The customer's Conditional Access for external (service provider) users, not
            // missing GDAP (docs/microsoft-behaviour.md §9).
            Remedy::CustomerConditionalAccess
        } else if self.has_code(700_084) {
            // A refresh token issued to a SPA redirect URI: fixed 24 hours
            // (docs/microsoft-behaviour.md §9).
            Remedy::SpaRedirectUri
        } else if any(&SIGN_IN_FREQUENCY) {
            Remedy::SignInFrequency
        } else if self.has_code(500_011) {
            Remedy::ResourceNotInTenant
        } else if any(&MFA) {
            Remedy::Mfa
        } else if self.has_code(65_001) {
            Remedy::CustomerConsent
        } else if self.has_code(50_020) {
            Remedy::GdapAccess
        } else if self.has_code(700_007) {
            Remedy::WrongClient
        } else if any(&CREDENTIAL) {
            Remedy::FixCredential
        } else if any(&RECONSENT) {
            Remedy::Reconsent
        } else if self.is_transient() {
            Remedy::RetryLater
        } else {
            match self.error.as_str() {
                // An unknown or malformed refresh token (e.g. AADSTS9002313) cannot be redeemed
                // again; only a new consent gives a new one.
                "invalid_grant" => Remedy::Reconsent,
                "invalid_client" => Remedy::FixCredential,
                "interaction_required" => Remedy::Mfa,
                _ => Remedy::None,
            }
        }
    }
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.summary().is_empty() {
            write!(f, ": {}", self.summary())?;
        }
        if let Some(t) = &self.trace_id {
            write!(f, " (trace ID {t}")?;
            if let Some(c) = &self.correlation_id {
                write!(f, ", correlation ID {c}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

fn aadsts_code(description: &str) -> Option<u32> {
    let rest = description.split("AADSTS").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Why a token request failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TokenError {
    /// Entra ID refused the request.
    #[error("Entra ID refused the token request: {0}; {advice}", advice = .0.remedy().hint())]
    Entra(Box<EntraError>),
    /// Entra ID could not be reached (connection, TLS, timeout).
    #[error("cannot reach Entra ID at {endpoint}: {source}")]
    Transport {
        /// The token endpoint.
        endpoint: String,
        /// The cause.
        source: Arc<reqwest::Error>,
    },
    /// The answer was not a token response nor an Entra error.
    #[error("Entra ID answered HTTP {status} with an unexpected body: {reason}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
        /// `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The client assertion could not be signed.
    #[error("cannot sign the client assertion: {0}")]
    Assertion(String),
    /// The request could not be built (bad configuration).
    #[error("cannot build the token request: {0}")]
    Request(String),
}

impl TokenError {
    /// The Entra error, if Entra answered one.
    pub fn entra(&self) -> Option<&EntraError> {
        match self {
            Self::Entra(e) => Some(e),
            _ => None,
        }
    }

    /// The remedy: Entra's mapped remedy, `RetryLater` for transport failures.
    pub fn remedy(&self) -> Remedy {
        match self {
            Self::Entra(e) => e.remedy(),
            Self::Transport { .. } => Remedy::RetryLater,
            Self::Unexpected { status, .. } if *status >= 500 || *status == 429 => {
                Remedy::RetryLater
            }
            _ => Remedy::None,
        }
    }

    /// Whether a retry may succeed: 5xx, 429, timeouts and connection failures; never
    /// `invalid_grant`.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Entra(e) => e.is_transient(),
            Self::Transport { source, .. } => {
                source.is_timeout() || source.is_connect() || source.is_request()
            }
            Self::Unexpected { status, .. } => *status >= 500 || *status == 429,
            Self::Assertion(_) | Self::Request(_) => false,
        }
    }

    /// The delay the server asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Entra(e) => e.retry_after,
            Self::Unexpected { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl RetryableError for TokenError {
    fn is_transient(&self) -> bool {
        TokenError::is_transient(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        TokenError::retry_after(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever a token endpoint answers, parsing never panics.
        #[test]
        fn any_answer_parses_or_is_refused_without_panic(
            status in 0u16..600,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let _ = EntraError::parse(status, &body, None);
        }

        /// The documented shape round-trips its error and codes, whatever the description holds.
        #[test]
        fn the_documented_shape_keeps_its_error_and_codes(
            codes in proptest::collection::vec(1u32..99_999_999, 1..4),
            description in "\\PC{0,120}",
            error in "[a-z_]{1,30}",
        ) {
            let body = serde_json::json!({
                "error": error,
                "error_description": description,
                "error_codes": codes,
            });
            let parsed = EntraError::parse(400, body.to_string().as_bytes(), None);
            let parsed = parsed.expect("a documented body parses");
            proptest::prop_assert_eq!(&parsed.error, &error);
            for c in &codes {
                proptest::prop_assert!(parsed.has_code(*c));
            }
        }
    }

    const EXPIRED: &str = r#"{"error":"invalid_grant","error_description":"AADSTS70002: Error validating credentials. AADSTS70008: The provided authorization code or refresh token is expired. Send a new interactive authorization request for this user and resource.\r\nTrace ID: 3939d04c-d7ba-42bf-9cb7-1e5854cdce9e\r\nCorrelation ID: a8125194-2dc8-4078-90ba-7b6592a7f231\r\nTimestamp: 2016-04-11 18:00:12Z","error_codes":[70002,70008],"timestamp":"2016-04-11 18:00:12Z","trace_id":"3939d04c-d7ba-42bf-9cb7-1e5854cdce9e","correlation_id":"a8125194-2dc8-4078-90ba-7b6592a7f231"}"#;

    fn err(error: &str, codes: &[u32]) -> EntraError {
        let body =
            serde_json::json!({"error": error, "error_description": "x", "error_codes": codes});
        EntraError::parse(400, body.to_string().as_bytes(), None).unwrap()
    }

    #[test]
    fn parses_every_field_of_the_documented_v1_error() {
        let e = EntraError::parse(400, EXPIRED.as_bytes(), None).unwrap();
        assert_eq!(e.error, "invalid_grant");
        assert_eq!(e.codes, vec![70002, 70008]);
        assert_eq!(
            e.trace_id.as_deref(),
            Some("3939d04c-d7ba-42bf-9cb7-1e5854cdce9e")
        );
        assert_eq!(
            e.correlation_id.as_deref(),
            Some("a8125194-2dc8-4078-90ba-7b6592a7f231")
        );
        assert_eq!(e.timestamp.as_deref(), Some("2016-04-11 18:00:12Z"));
        assert_eq!(e.remedy(), Remedy::Reconsent);
        assert!(!e.is_transient());
        assert_eq!(
            e.to_string(),
            "invalid_grant: AADSTS70002: Error validating credentials. AADSTS70008: The provided authorization code or refresh token is expired. Send a new interactive authorization request for this user and resource. (trace ID 3939d04c-d7ba-42bf-9cb7-1e5854cdce9e, correlation ID a8125194-2dc8-4078-90ba-7b6592a7f231)"
        );
    }

    #[test]
    fn known_codes_map_to_their_remedies() {
        for code in [700_082, 50_173, 70_000, 70_008] {
            assert_eq!(
                err("invalid_grant", &[code]).remedy(),
                Remedy::Reconsent,
                "{code}"
            );
        }
        for code in [50_076, 50_078, 50_079] {
            assert_eq!(
                err("interaction_required", &[code]).remedy(),
                Remedy::Mfa,
                "{code}"
            );
        }
        assert_eq!(
            err("invalid_grant", &[65_001]).remedy(),
            Remedy::CustomerConsent
        );
        assert_eq!(
            err("invalid_grant", &[700_007]).remedy(),
            Remedy::WrongClient
        );
        assert_eq!(
            err("invalid_client", &[7_000_215]).remedy(),
            Remedy::FixCredential
        );
        assert_eq!(
            err("invalid_client", &[700_027]).remedy(),
            Remedy::FixCredential
        );
        assert_eq!(err("invalid_grant", &[50_020]).remedy(), Remedy::GdapAccess);
        assert_eq!(
            err("invalid_grant", &[50_177]).remedy(),
            Remedy::CustomerConditionalAccess
        );
        assert_eq!(
            err("invalid_grant", &[700_084]).remedy(),
            Remedy::SpaRedirectUri
        );
        assert_eq!(
            err("invalid_grant", &[70_043]).remedy(),
            Remedy::SignInFrequency
        );
        assert_eq!(
            err("invalid_grant", &[9_002_313]).remedy(),
            Remedy::Reconsent
        );
        assert_eq!(err("invalid_scope", &[70_011]).remedy(), Remedy::None);
    }

    #[test]
    fn codes_are_read_from_the_description_when_the_array_is_missing() {
        let body = r#"{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity."}"#;
        let e = EntraError::parse(400, body.as_bytes(), None).unwrap();
        assert_eq!(e.codes, vec![700_082]);
        assert_eq!(e.remedy(), Remedy::Reconsent);
    }

    #[test]
    fn server_errors_and_throttling_are_transient_but_invalid_grant_never_is() {
        let mut e = err("temporarily_unavailable", &[]);
        assert!(e.is_transient());
        e.status = 503;
        e.error = "invalid_grant".into();
        assert!(!e.is_transient());
        let mut t = err("server_error", &[]);
        t.status = 500;
        assert!(t.is_transient());
        assert_eq!(t.remedy(), Remedy::RetryLater);
    }

    #[test]
    fn a_body_that_is_not_an_entra_error_is_not_parsed() {
        assert!(EntraError::parse(500, b"<html>oops</html>", None).is_none());
    }
}
