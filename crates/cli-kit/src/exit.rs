//! Exit codes of the CLIs: the single definition `docs/ARCHITECTURE.md` ("Exit codes of the
//! CLIs") describes. Scripts and monitors branch on these, so they never change meaning.

use std::process::ExitCode;

/// Exit status of `csp-app` and `cpv-app` (and `2` of `partner-consent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// `0`: success.
    Success = 0,
    /// `1`: failure; the message names the remedy.
    Failure = 1,
    /// `2`: configuration or usage error; the report names every problem.
    Config = 2,
    /// `3`: the partner must consent again (refresh token expired or revoked, MFA missing,
    /// nothing stored); the consent URL is printed.
    Reconsent = 3,
    /// `4`: a fan-out finished with some customers (or partners) failed, listed at the end.
    Partial = 4,
}

impl Exit {
    /// The numeric status.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_numbers() {
        let codes = [
            Exit::Success,
            Exit::Failure,
            Exit::Config,
            Exit::Reconsent,
            Exit::Partial,
        ]
        .map(Exit::code);
        assert_eq!(codes, [0, 1, 2, 3, 4]);
    }
}
