//! Failures as a person reads them (what happened, what to do, where to consent again) and the
//! exit code a script branches on.

use std::io::Write;
use std::process::ExitCode;

use common::graph::GraphError;
use common::http::TokenSourceError;
use common::partner_center::PartnerCenterError;
use common::remedy::Remedy;
use common::tokens::BrokerError;

/// Exit status of a failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status when the partner must consent again (expired or revoked refresh token, no MFA).
pub const EXIT_RECONSENT: u8 = 3;
/// Exit status of a fan-out that finished with some customers failed.
pub const EXIT_PARTIAL: u8 = 4;

/// A failed command.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What happened.
    pub message: String,
    /// What to do.
    pub remedy: Remedy,
    /// Where to consent again, when that is the remedy.
    pub consent_url: Option<String>,
    /// Whether configuration is at fault (exit 2).
    pub is_config: bool,
}

impl Failure {
    /// A failure with no particular remedy.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            remedy: Remedy::None,
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

    /// Whether the partner must consent again.
    pub fn needs_consent(&self) -> bool {
        matches!(self.remedy, Remedy::Reconsent | Remedy::Mfa)
    }

    /// The exit status.
    pub fn exit_code(&self) -> u8 {
        if self.is_config {
            common::cli::EXIT_CONFIG_ERROR
        } else if self.needs_consent() {
            EXIT_RECONSENT
        } else {
            EXIT_FAILURE
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

    /// Prints the failure and its remedy to `err` and returns the exit code.
    pub fn report(&self, err: &mut dyn Write) -> ExitCode {
        let _ = writeln!(err, "error: {}", self.message);
        if let Some(advice) = self.advice() {
            let _ = writeln!(err, "remedy: {advice}");
        }
        ExitCode::from(self.exit_code())
    }
}

impl From<TokenSourceError> for Failure {
    fn from(e: TokenSourceError) -> Self {
        Self {
            message: e.message.clone(),
            remedy: e.remedy,
            consent_url: e.consent_url.clone(),
            is_config: false,
        }
    }
}

impl From<&BrokerError> for Failure {
    fn from(e: &BrokerError) -> Self {
        let mut failure = Self::from(TokenSourceError::from(e));
        failure.is_config = matches!(e, BrokerError::Config(_));
        failure
    }
}

impl From<PartnerCenterError> for Failure {
    fn from(e: PartnerCenterError) -> Self {
        match e {
            PartnerCenterError::Token(t) => t.into(),
            other => Self {
                remedy: other.remedy(),
                ..Self::new(other.to_string())
            },
        }
    }
}

impl From<GraphError> for Failure {
    fn from(e: GraphError) -> Self {
        match e {
            GraphError::Token(t) => t.into(),
            other => Self {
                remedy: other.remedy(),
                ..Self::new(other.to_string())
            },
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
}
