//! What a person must do about a failure: the one vocabulary every error of `common` speaks
//! (`EntraError`, `TokenError`, `BrokerError`, `TokenSourceError`, `PartnerCenterError`,
//! `GraphError`), and the one place its advice is written.

/// What a person must do about a failed call, named in every error message the tools print.
///
/// Serialized in kebab-case (`reconsent`, `mfa`, …) for scripts reading JSON output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Remedy {
    /// The partner's refresh token is expired, revoked or invalid: an admin agent must consent
    /// again (AADSTS700082 inactivity, 50173 revoked by a password change, 70000, 70008).
    Reconsent,
    /// The grant lacks multi-factor authentication: consent again, signing in with MFA
    /// (AADSTS50076, 50078, 50079; Partner Center errors 10001 and 900421, the latter its 401 to
    /// an App+User token without MFA: docs/microsoft-behaviour.md §0b, §5.1).
    Mfa,
    /// The application is not consented in the customer tenant (AADSTS65001 at the customer's
    /// authority): consent it there (Partner Center `applicationconsents`, `consent grant`).
    CustomerConsent,
    /// The partner has no delegated (GDAP) access to the customer tenant (AADSTS50020):
    /// create or approve a GDAP relationship with the needed roles.
    GdapAccess,
    /// A Conditional Access policy of the *customer's* tenant for external users (service
    /// provider users: the partner's admin agents acting through GDAP) asks for a challenge the
    /// partner's user cannot meet there (AADSTS50177, docs/microsoft-behaviour.md §9): the
    /// customer's administrator must change that policy; GDAP and consent are fine.
    CustomerConditionalAccess,
    /// A Conditional Access policy of the tenant blocked the token (AADSTS53003, and 53000–53002
    /// for device and app conditions): consenting again does not help.
    ConditionalAccess,
    /// A Conditional Access sign-in frequency ended the grant (AADSTS70043, 70044): consent
    /// again, and exempt the automation from the policy or it recurs.
    SignInFrequency,
    /// The refresh token was issued to a redirect URI registered as a single-page application,
    /// whose refresh tokens live a fixed 24 hours (AADSTS700084, docs/microsoft-behaviour.md §9):
    /// register the redirect URI under Web (not SPA), then consent again.
    SpaRedirectUri,
    /// The resource's service principal does not exist in the tenant (AADSTS500011).
    ResourceNotInTenant,
    /// The grant was issued to another application (AADSTS700007): check `app.client_id`.
    ///
    /// Serialized as `fix-configuration`: for scripts it is a configuration problem like any other.
    #[serde(rename = "fix-configuration")]
    WrongClient,
    /// The application's secret or certificate is wrong, expired or not registered
    /// (AADSTS7000215, 7000222, 700027, 700024, 700023).
    ///
    /// Serialized as `fix-configuration`: for scripts it is a configuration problem like any other.
    #[serde(rename = "fix-configuration")]
    FixCredential,
    /// The application's configuration is wrong in some other way.
    FixConfiguration,
    /// A transient failure (throttling, 5xx, network): trying again later may work.
    RetryLater,
    /// Nothing specific; the error text says what happened.
    None,
}

impl Remedy {
    /// The advice, one sentence, or `None` when there is nothing specific to say.
    pub fn advice(self) -> Option<&'static str> {
        Some(match self {
            Self::Reconsent => {
                "the partner's refresh token is no longer valid: an admin agent of the partner tenant must sign in and consent again"
            }
            Self::Mfa => {
                "the consent was given without multi-factor authentication: an admin agent must consent again, signing in with MFA"
            }
            Self::CustomerConsent => {
                "the application is not consented in the customer tenant (under GDAP an app needs its own consent in every customer): consent it there with `csp-app consent grant --customer ID --delegated graph:…` (or `cpv-app consent grant`), which uses Partner Center application consents"
            }
            Self::GdapAccess => {
                "the partner has no active GDAP relationship with this customer granting the needed roles: create one (`csp-app gdap create`) and have the customer approve it"
            }
            Self::ConditionalAccess => {
                "a Conditional Access policy of that tenant blocked the token: find the policy in the tenant's Entra sign-in logs (the request's correlation ID) and exclude this application, or meet its conditions (location, device); consenting again does not help"
            }
            Self::CustomerConditionalAccess => {
                "a Conditional Access policy of the customer's tenant that applies to external users (user type \"service provider users\", the partner's admin agents acting through GDAP) asks for a challenge they cannot meet in that tenant: the customer's administrator must exclude service provider users from that policy, or meet it through the cross-tenant access settings (trust multi-factor authentication from the partner's tenant); the GDAP relationship and the consent are not the problem, and consenting again does not help"
            }
            Self::SpaRedirectUri => {
                "the refresh token was issued to a redirect URI registered under \"Single-page application\", whose refresh tokens end after a fixed 24 hours: register consent.redirect_url under Authentication > Web instead (and remove it from Single-page application; `doctor` checks it), then an admin agent must consent again"
            }
            Self::SignInFrequency => {
                "a Conditional Access sign-in frequency policy ended the partner's grant: an admin agent must consent again, and the policy must exempt this application's sign-in (or the grant will end again at the next interval)"
            }
            Self::ResourceNotInTenant => {
                "the API's service principal does not exist in that tenant: for Partner Center in the partner tenant run `setup` (it creates it); in a customer tenant consent the application there so the API is provisioned"
            }
            Self::WrongClient => {
                "the grant belongs to another application: check app.client_id against the app that obtained the consent"
            }
            Self::FixCredential => {
                "the application's client secret or certificate is wrong, expired or not registered on the app: check app.client_secret or the certificate settings"
            }
            Self::FixConfiguration => {
                "the application's credential or configuration is wrong: run `config check` and compare app.client_id and its credential with the app registration"
            }
            Self::RetryLater => "the service is busy or unavailable: try again later",
            Self::None => return None,
        })
    }

    /// Whether an admin agent must consent again (exit code 3 and the consent URL in the CLIs).
    pub fn needs_consent(self) -> bool {
        self.ends_grant() || self == Self::Mfa
    }

    /// Whether the partner's grant (refresh token) is over and only a new consent gives a new
    /// one: expired or revoked, ended by a sign-in frequency, or past a single-page app's 24
    /// hours.
    pub fn ends_grant(self) -> bool {
        matches!(
            self,
            Self::Reconsent | Self::SignInFrequency | Self::SpaRedirectUri
        )
    }

    /// The advice, or a pointer to the error text when there is nothing specific to say: for
    /// messages that always end with what to do.
    pub fn hint(self) -> &'static str {
        self.advice().unwrap_or("see the error description")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_see_one_configuration_remedy() {
        for remedy in [
            Remedy::WrongClient,
            Remedy::FixCredential,
            Remedy::FixConfiguration,
        ] {
            assert_eq!(
                serde_json::to_value(remedy).unwrap(),
                "fix-configuration",
                "{remedy:?}"
            );
        }
        assert_eq!(
            serde_json::to_value(Remedy::CustomerConsent).unwrap(),
            "customer-consent"
        );
    }

    #[test]
    fn a_spa_lifetime_ends_the_grant_and_a_customer_policy_does_not() {
        assert!(Remedy::SpaRedirectUri.ends_grant());
        assert!(Remedy::SpaRedirectUri.needs_consent());
        assert!(
            Remedy::SpaRedirectUri
                .hint()
                .contains("under Authentication > Web")
        );
        assert!(!Remedy::CustomerConditionalAccess.needs_consent());
        assert!(
            Remedy::CustomerConditionalAccess
                .hint()
                .contains("customer's tenant")
        );
        assert!(!Remedy::Mfa.ends_grant() && Remedy::Mfa.needs_consent());
        assert_eq!(
            serde_json::to_value(Remedy::CustomerConditionalAccess).unwrap(),
            "customer-conditional-access"
        );
        assert_eq!(
            serde_json::to_value(Remedy::SpaRedirectUri).unwrap(),
            "spa-redirect-uri"
        );
    }

    #[test]
    fn only_none_has_no_advice() {
        assert_eq!(Remedy::None.advice(), None);
        assert_eq!(Remedy::None.hint(), "see the error description");
        assert!(Remedy::RetryLater.advice().is_some());
    }
}
