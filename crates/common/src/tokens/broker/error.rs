//! Why the broker could not give a token ([`BrokerError`]): what went wrong, and what a person
//! must do about it ([`BrokerError::remedy`], [`BrokerError::consent_page`]); and the one mapping
//! of a broker failure to what the REST clients report ([`TokenSourceError`]).

use url::Url;

use crate::entra::{IdTokenError, TokenError};
use crate::http::transport::TokenSourceError;
use crate::remedy::Remedy;
use crate::store::StoreError;

/// Why the broker could not give a token.
#[derive(Clone, Debug, thiserror::Error)]
pub enum BrokerError {
    /// No refresh token is stored for the partner tenant.
    #[error(
        "no consent is stored for partner tenant {partner}: an admin agent must consent at {consent_page}"
    )]
    NotConsented {
        /// The partner tenant.
        partner: String,
        /// Where to consent.
        consent_page: Url,
    },
    /// The stored refresh token is expired, revoked or invalid.
    #[error(
        "re-consent needed for partner tenant {partner}: {source}. An admin agent must consent again at {consent_page}"
    )]
    ReconsentRequired {
        /// The partner tenant.
        partner: String,
        /// Where to consent.
        consent_page: Url,
        /// What Entra said.
        source: TokenError,
    },
    /// The grant has no MFA, or the consent sign-in did not use MFA.
    #[error(
        "multi-factor authentication required for partner tenant {partner}: {source}. Consent again with MFA at {consent_page}"
    )]
    MfaRequired {
        /// The partner tenant.
        partner: String,
        /// Where to consent.
        consent_page: Url,
        /// What Entra said.
        source: TokenError,
    },
    /// The app is not consented in the customer tenant (AADSTS65001).
    #[error("the application is not consented in customer tenant {customer}: {source}")]
    CustomerConsentMissing {
        /// The customer tenant.
        customer: String,
        /// What Entra said.
        source: TokenError,
    },
    /// No delegated (GDAP) access to the customer tenant.
    #[error(
        "partner tenant {partner} has no delegated admin (GDAP) access to customer tenant {customer}: {source}"
    )]
    NoDelegatedAccess {
        /// The partner tenant.
        partner: String,
        /// The customer tenant.
        customer: String,
        /// What Entra said.
        source: TokenError,
    },
    /// A Conditional Access policy of the customer's tenant for external (service provider)
    /// users refused the partner's admin agent (AADSTS50177): the customer must change it.
    #[error(
        "a Conditional Access policy of customer tenant {customer} refuses partner tenant {partner}'s admin agents there (they are service provider users of that tenant): {source}"
    )]
    CustomerPolicy {
        /// The partner tenant.
        partner: String,
        /// The customer tenant whose policy refused.
        customer: String,
        /// What Entra said.
        source: TokenError,
    },
    /// A tenant that may not consent tried to (CSP: not the partner tenant; CPV: not allowed).
    #[error("tenant {tenant} is not allowed to consent to this application ({why})")]
    TenantNotAllowed {
        /// The tenant.
        tenant: String,
        /// Which rule refused it.
        why: String,
    },
    /// The consent sign-in did not use multi-factor authentication (`amr` without `mfa`):
    /// nothing was stored.
    #[error(
        "the consent for partner tenant {partner} was signed in without multi-factor authentication, so it was not stored (any grant stored before stays in use). Sign in again with MFA at {consent_page}: Partner Center refuses tokens without it"
    )]
    ConsentWithoutMfa {
        /// The partner tenant.
        partner: String,
        /// Where to consent.
        consent_page: Url,
    },
    /// Partner Center refused, or could not answer, a call made with the new consent's token:
    /// nothing was stored, and a grant stored before stays in use.
    #[error(
        "the consent for partner tenant {partner} was not stored (any grant stored before stays in use): a Partner Center call with its token failed: {message}. {advice}"
    )]
    ConsentNotVerified {
        /// The partner tenant.
        partner: String,
        /// HTTP status Partner Center answered, if it answered.
        status: Option<u16>,
        /// What Partner Center said.
        message: String,
        /// What to do.
        advice: &'static str,
        /// Whether trying again later may work (Partner Center unreachable or throttling).
        transient: bool,
    },
    /// The consent callback's ID token is invalid.
    #[error("the sign-in response is invalid: {0}")]
    IdToken(#[from] IdTokenError),
    /// The consent was written, but the store holds another grant for the partner (a newer one
    /// written at the same time by another instance): this consent is not the one in use.
    #[error(
        "this consent was not recorded: the store holds another grant for partner tenant {partner} (consented at {stored_consented_at}, by {stored_by}), written at the same time by another instance; that grant stays in use — check it with `csp-app status` (or `cpv-app partners list`) and consent again only if it does not work"
    )]
    NotRecorded {
        /// The partner tenant.
        partner: String,
        /// When the stored grant was consented (RFC 3339).
        stored_consented_at: String,
        /// Who consented it.
        stored_by: String,
    },
    /// An operator asked to restore the grant before the stored one, and the store keeps none.
    #[error(
        "no earlier grant of partner tenant {partner} is kept in {location} to restore (the store keeps the grant a consent or a rotation replaced; a grant stored only once has none)"
    )]
    NothingToRestore {
        /// The partner tenant.
        partner: String,
        /// Where the store is.
        location: String,
    },
    /// The earlier grant an operator asked to restore no longer redeems: nothing was changed.
    #[error(
        "the earlier grant of partner tenant {partner} (consented at {consented_at}) no longer redeems, so it was not restored and the stored grant stays in use: {source}"
    )]
    RestoreRefused {
        /// The partner tenant.
        partner: String,
        /// When the earlier grant was consented (RFC 3339).
        consented_at: String,
        /// What Entra said.
        source: TokenError,
    },
    /// The consent sign-in gave no refresh token or ID token.
    #[error("the sign-in response lacks a {0}")]
    Incomplete(&'static str),
    /// Any other token failure.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The refresh-token store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Configuration the broker cannot use.
    #[error("{0}")]
    Config(String),
}

impl BrokerError {
    /// The remedy, for display.
    pub fn remedy(&self) -> Remedy {
        match self {
            Self::ReconsentRequired { source, .. } if source.remedy().ends_grant() => {
                source.remedy()
            }
            Self::NotConsented { .. } | Self::ReconsentRequired { .. } => Remedy::Reconsent,
            Self::MfaRequired { .. } | Self::ConsentWithoutMfa { .. } => Remedy::Mfa,
            Self::ConsentNotVerified {
                transient: true, ..
            } => Remedy::RetryLater,
            Self::CustomerConsentMissing { .. } => Remedy::CustomerConsent,
            Self::NoDelegatedAccess { .. } => Remedy::GdapAccess,
            Self::CustomerPolicy { .. } => Remedy::CustomerConditionalAccess,
            Self::Token(t) => t.remedy(),
            _ => Remedy::None,
        }
    }

    /// Where an admin agent should go to consent again, when that is the remedy.
    pub fn consent_page(&self) -> Option<&Url> {
        match self {
            Self::NotConsented { consent_page, .. }
            | Self::ReconsentRequired { consent_page, .. }
            | Self::MfaRequired { consent_page, .. }
            | Self::ConsentWithoutMfa { consent_page, .. } => Some(consent_page),
            _ => None,
        }
    }

    /// What a failed redemption of `partner`'s refresh token at `tenant`'s authority means:
    /// consent again (at `consent_page`), consent with MFA, the customer's consent or the
    /// GDAP relationship missing, or the token error itself.
    pub(super) fn redeeming(
        partner: &str,
        tenant: &str,
        consent_page: &Url,
        e: TokenError,
    ) -> BrokerError {
        let consent_page = consent_page.clone();
        match e.remedy() {
            r if r.ends_grant() => BrokerError::ReconsentRequired {
                partner: partner.to_owned(),
                consent_page,
                source: e,
            },
            Remedy::Mfa => BrokerError::MfaRequired {
                partner: partner.to_owned(),
                consent_page,
                source: e,
            },
            Remedy::CustomerConsent => BrokerError::CustomerConsentMissing {
                customer: tenant.to_owned(),
                source: e,
            },
            Remedy::GdapAccess => BrokerError::NoDelegatedAccess {
                partner: partner.to_owned(),
                customer: tenant.to_owned(),
                source: e,
            },
            Remedy::CustomerConditionalAccess => BrokerError::CustomerPolicy {
                partner: partner.to_owned(),
                customer: tenant.to_owned(),
                source: e,
            },
            _ => BrokerError::Token(e),
        }
    }
}

/// The one mapping of a broker failure to what the clients report: its remedy, its message, and
/// where to consent again.
impl From<&BrokerError> for TokenSourceError {
    fn from(e: &BrokerError) -> Self {
        Self {
            remedy: e.remedy(),
            message: e.to_string(),
            consent_url: e.consent_page().map(ToString::to_string),
        }
    }
}
