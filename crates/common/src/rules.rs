//! What the Secure Application Model requires, in one place: the consent page shows these
//! permissions, `setup` registers them, `doctor` checks them, and the CLIs compute the refresh
//! token's inactivity expiry from the same limit.
//!
//! Sources: Partner Center "Secure Application Model framework"
//! (<https://learn.microsoft.com/partner-center/developer/enable-secure-app-model>) and "Create a
//! secure partner application"; Microsoft identity platform "Refresh tokens"
//! (<https://learn.microsoft.com/entra/identity-platform/refresh-tokens>).

use crate::cloud::{GRAPH_APP_ID, PARTNER_CENTER_APP_ID};

/// `signInAudience` of a multitenant app ("Accounts in any organizational directory"): partner
/// admins of other tenants (CPV) and the partner's own admin agents consent to the same app.
pub const SIGN_IN_AUDIENCE: &str = "AzureADMultipleOrgs";

/// One delegated permission the SAM application needs, with what it allows in words (shown on
/// the consent page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    /// The resource app (its application ID).
    pub resource_app_id: &'static str,
    /// The resource's display name.
    pub api: &'static str,
    /// The delegated permission's value (the scope).
    pub scope: &'static str,
    /// What it allows, in words.
    pub meaning: &'static str,
}

/// Microsoft Graph `DelegatedAdminRelationship.ReadWrite.All` (GDAP relationships).
pub const GRAPH_DELEGATED_ADMIN_RELATIONSHIP: &str = "DelegatedAdminRelationship.ReadWrite.All";
/// Microsoft Graph `User.Read.All` (users of the partner and, through GDAP, customer tenants).
pub const GRAPH_USER_READ_ALL: &str = "User.Read.All";
/// Partner Center `user_impersonation`: the app calls Partner Center as the signed-in admin
/// agent ("Secure Application Model framework", Partner Center API permission).
pub const PARTNER_CENTER_USER_IMPERSONATION: &str = "user_impersonation";

/// Every delegated permission the SAM application needs, and no application permission: the
/// app acts only as the partner admin who consented (Partner Center "Secure Application Model").
pub const PERMISSIONS: [Permission; 3] = [
    Permission {
        resource_app_id: GRAPH_APP_ID,
        api: "Microsoft Graph",
        scope: GRAPH_DELEGATED_ADMIN_RELATIONSHIP,
        meaning: "manage granular delegated admin (GDAP) relationships with your customers",
    },
    Permission {
        resource_app_id: GRAPH_APP_ID,
        api: "Microsoft Graph",
        scope: GRAPH_USER_READ_ALL,
        meaning: "read the profiles of users in your organization",
    },
    Permission {
        resource_app_id: PARTNER_CENTER_APP_ID,
        api: "Partner Center",
        scope: PARTNER_CENTER_USER_IMPERSONATION,
        meaning: "call Partner Center as you (customers, subscriptions, application consents)",
    },
];

/// The delegated permissions, per resource app: Microsoft Graph
/// [`GRAPH_DELEGATED_ADMIN_RELATIONSHIP`] and [`GRAPH_USER_READ_ALL`], Partner Center
/// [`PARTNER_CENTER_USER_IMPERSONATION`] (the same as [`PERMISSIONS`], grouped as an app
/// registration's `requiredResourceAccess` is).
pub const REQUIRED_DELEGATED: &[(&str, &[&str])] = &[
    (
        GRAPH_APP_ID,
        &[GRAPH_DELEGATED_ADMIN_RELATIONSHIP, GRAPH_USER_READ_ALL],
    ),
    (PARTNER_CENTER_APP_ID, &[PARTNER_CENTER_USER_IMPERSONATION]),
];

/// The scopes needed on a token for `resource_app_id`.
pub fn required_scopes(resource_app_id: &str) -> Vec<&'static str> {
    PERMISSIONS
        .iter()
        .filter(|p| p.resource_app_id.eq_ignore_ascii_case(resource_app_id))
        .map(|p| p.scope)
        .collect()
}

/// Display name of a resource app, for messages.
pub fn resource_name(app_id: &str) -> &'static str {
    if app_id.eq_ignore_ascii_case(GRAPH_APP_ID) {
        "Microsoft Graph"
    } else if app_id.eq_ignore_ascii_case(PARTNER_CENTER_APP_ID) {
        "Microsoft Partner Center"
    } else {
        "another API"
    }
}

/// A refresh token unused for this many days expires (AADSTS700082 after it): Microsoft
/// identity platform "Refresh tokens", token lifetime
/// (<https://learn.microsoft.com/entra/identity-platform/refresh-tokens#token-lifetime>). Every
/// redemption rotates the token and restarts the window, hence `keepalive`.
pub const REFRESH_TOKEN_INACTIVITY_DAYS: i64 = 90;

/// [`REFRESH_TOKEN_INACTIVITY_DAYS`] in seconds.
pub const REFRESH_TOKEN_INACTIVITY_SECS: i64 = REFRESH_TOKEN_INACTIVITY_DAYS * 24 * 3600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grouped_and_the_listed_permissions_agree() {
        let grouped: Vec<(&str, &str)> = REQUIRED_DELEGATED
            .iter()
            .flat_map(|(r, scopes)| scopes.iter().map(move |s| (*r, *s)))
            .collect();
        let listed: Vec<(&str, &str)> = PERMISSIONS
            .iter()
            .map(|p| (p.resource_app_id, p.scope))
            .collect();
        assert_eq!(grouped, listed);
        assert_eq!(
            required_scopes(PARTNER_CENTER_APP_ID),
            vec!["user_impersonation"]
        );
    }
}
