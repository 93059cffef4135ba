//! What a Secure Application Model app registration must look like (Partner Center's "Create a
//! secure partner application"): multitenant, a web redirect URI, exactly these delegated
//! permissions, and no application permissions. `setup` makes the registration so and `doctor`
//! checks it against these same rules.

use crate::cloud::{GRAPH_APP_ID, PARTNER_CENTER_APP_ID};

/// `signInAudience` of a multitenant app ("Accounts in any organizational directory").
pub const SIGN_IN_AUDIENCE: &str = "AzureADMultipleOrgs";

/// The delegated permissions, per resource app: Microsoft Graph
/// `DelegatedAdminRelationship.ReadWrite.All` and `User.Read.All`, Partner Center
/// `user_impersonation`.
pub const REQUIRED_DELEGATED: &[(&str, &[&str])] = &[
    (
        GRAPH_APP_ID,
        &["DelegatedAdminRelationship.ReadWrite.All", "User.Read.All"],
    ),
    (PARTNER_CENTER_APP_ID, &["user_impersonation"]),
];

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

/// Inactivity window of a refresh token at Entra ID (AADSTS700082 after it).
pub const REFRESH_TOKEN_INACTIVITY_DAYS: i64 = 90;

/// The public client `setup` and `doctor` sign the admin in with: Microsoft Graph Command Line
/// Tools, the client `Connect-MgGraph` uses (what the manual route runs anyway).
pub const SIGN_IN_CLIENT_ID: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// Delegated Graph permissions the signed-in admin needs: create and update the app and service
/// principals, and read the delegated permission grants (admin consent).
pub const ADMIN_GRAPH_SCOPES: &[&str] = &[
    "Application.ReadWrite.All",
    "DelegatedPermissionGrant.Read.All",
];
