//! What `setup` and `doctor` add to the SAM rules of [`common::rules`] (re-exported here):
//! the public client and the Graph permissions the partner admin signs in with.

pub use common::rules::*;

/// The public client `setup` and `doctor` sign the admin in with: Microsoft Graph Command Line
/// Tools, the client `Connect-MgGraph` uses (what the manual route runs anyway).
pub const SIGN_IN_CLIENT_ID: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// Delegated Graph permissions the signed-in admin needs: create and update the app and service
/// principals, and read the delegated permission grants (admin consent).
pub const ADMIN_GRAPH_SCOPES: &[&str] = &[
    "Application.ReadWrite.All",
    "DelegatedPermissionGrant.Read.All",
];

/// Delegated Graph permissions `doctor --sign-in` asks for: it only reads the registration, the
/// service principals and their app-role assignments (`Application.Read.All`) and the delegated
/// permission grants (`DelegatedPermissionGrant.Read.All`); least privilege, never a write
/// scope (docs/microsoft-behaviour.md §6.5).
pub const DOCTOR_GRAPH_SCOPES: &[&str] =
    &["Application.Read.All", "DelegatedPermissionGrant.Read.All"];
