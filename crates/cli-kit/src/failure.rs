//! Failures as a person reads them (what happened, what to do, where to consent again) and the
//! exit code a script branches on.

use std::io::Write;
use std::process::ExitCode;

use common::graph::GraphError;
use common::http::TokenSourceError;
use common::partner_center::PartnerCenterError;
use common::remedy::Remedy;
use common::tokens::BrokerError;
use serde::Serialize;

use crate::Exit;

/// A failed command, or the failure of one partner or customer within a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What happened.
    pub message: String,
    /// What to do.
    pub remedy: Remedy,
    /// Where the partner's admin agent consents again, when that is the remedy.
    pub consent_url: Option<String>,
    /// Whether configuration is at fault (exit 2).
    #[serde(skip)]
    pub is_config: bool,
}

impl Failure {
    /// A failure with no particular remedy.
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_remedy(message, Remedy::None)
    }

    /// A failure with a remedy.
    pub fn with_remedy(message: impl Into<String>, remedy: Remedy) -> Self {
        Self {
            message: message.into(),
            remedy,
            consent_url: None,
            is_config: false,
        }
    }

    /// A configuration problem (exit 2).
    pub fn config(message: impl Into<String>) -> Self {
        Self {
            is_config: true,
            ..Self::new(message)
        }
    }

    /// Whether the partner must consent again (expired or revoked grant, MFA missing).
    pub fn needs_consent(&self) -> bool {
        self.remedy.needs_consent()
    }

    /// The exit status: configuration first, then re-consent, else failure.
    pub fn exit(&self) -> Exit {
        if self.is_config {
            Exit::Config
        } else if self.needs_consent() {
            Exit::Reconsent
        } else {
            Exit::Failure
        }
    }

    /// The remedy line, if there is one to give.
    pub fn advice(&self) -> Option<String> {
        let advice = self.remedy.advice()?;
        Some(match &self.consent_url {
            Some(url) => format!("{advice} (consent page: {url})"),
            None => advice.to_owned(),
        })
    }

    /// The message for a person, without a trailing "; {advice}" that the remedy line repeats
    /// (Entra's errors end with their remedy's advice).
    pub fn text(&self) -> &str {
        self.remedy
            .advice()
            .and_then(|a| {
                self.message
                    .strip_suffix(a)
                    .and_then(|m| m.strip_suffix("; "))
            })
            .unwrap_or(&self.message)
    }

    /// Prints the failure and its remedy to `err` and returns the exit code.
    pub fn report(&self, err: &mut dyn Write) -> ExitCode {
        let _ = writeln!(err, "error: {}", self.text());
        if let Some(advice) = self.advice() {
            let _ = writeln!(err, "remedy: {advice}");
        }
        self.exit().into()
    }
}

impl From<TokenSourceError> for Failure {
    fn from(e: TokenSourceError) -> Self {
        Self {
            consent_url: e.consent_url,
            ..Self::with_remedy(e.message, e.remedy)
        }
    }
}

impl From<&BrokerError> for Failure {
    fn from(e: &BrokerError) -> Self {
        Self {
            is_config: matches!(e, BrokerError::Config(_)),
            ..Self::from(TokenSourceError::from(e))
        }
    }
}

impl From<PartnerCenterError> for Failure {
    fn from(e: PartnerCenterError) -> Self {
        match e {
            PartnerCenterError::Token(t) => t.into(),
            other => Self::with_remedy(other.to_string(), other.remedy()),
        }
    }
}

impl From<GraphError> for Failure {
    fn from(e: GraphError) -> Self {
        match e {
            GraphError::Token(t) => t.into(),
            other => Self::with_remedy(other.to_string(), other.remedy()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::new(format!("cannot write the output: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_is_printed_once() {
        let advice = Remedy::GdapAccess.advice().unwrap();
        let f = Failure::with_remedy(
            format!("no access: AADSTS50020; {advice}"),
            Remedy::GdapAccess,
        );
        assert_eq!(f.text(), "no access: AADSTS50020");
        let mut err = Vec::new();
        f.report(&mut err);
        let err = String::from_utf8(err).unwrap();
        assert_eq!(err.matches(advice).count(), 1, "{err}");
        let plain = Failure::with_remedy("no access", Remedy::GdapAccess);
        assert_eq!(plain.text(), "no access");
    }

    #[test]
    fn a_reconsent_failure_exits_3_and_names_the_consent_page() {
        let f = Failure::from(TokenSourceError {
            remedy: Remedy::Reconsent,
            message: "re-consent needed".into(),
            consent_url: Some("https://consent.example/".into()),
        });
        let mut err = Vec::new();
        let code = f.report(&mut err);
        assert_eq!(code, ExitCode::from(3));
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "error: re-consent needed\nremedy: the partner's refresh token is no longer valid: an admin agent of the partner tenant must sign in and consent again (consent page: https://consent.example/)\n"
        );
    }

    #[test]
    fn a_configuration_failure_exits_2_before_anything_else() {
        let f = Failure {
            remedy: Remedy::Reconsent,
            ..Failure::config("partner.tenant_id is not set")
        };
        assert_eq!(f.exit(), Exit::Config);
        assert_eq!(Failure::new("boom").exit(), Exit::Failure);
    }

    #[test]
    fn scripts_see_message_remedy_and_consent_url_but_not_the_exit_flag() {
        let f = Failure {
            consent_url: Some("https://consent.example/".into()),
            ..Failure::with_remedy("expired", Remedy::Mfa)
        };
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            serde_json::json!({
                "message": "expired",
                "remedy": "mfa",
                "consent_url": "https://consent.example/"
            })
        );
    }
}
