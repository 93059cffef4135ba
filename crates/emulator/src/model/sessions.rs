//! What Entra keeps between the requests of one sign-in: pending authorization requests
//! (flows), browser sessions (the SSO cookie), device authorizations, authorization codes and
//! the grants behind refresh tokens.

use super::seed::TenantSeed;

/// Which endpoint version a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `/oauth2/...`
    V1,
    /// `/oauth2/v2.0/...`
    V2,
}

/// The authority's tenant: a specific tenant, or a multi-tenant alias.
#[derive(Debug, Clone)]
pub enum Authority {
    /// `/{tenant-id or domain}/`.
    Tenant(TenantSeed),
    /// `/common/` or `/organizations/`.
    Common,
}

/// A pending authorization request.
#[derive(Debug, Clone)]
pub struct Flow {
    pub(crate) version: Version,
    pub(crate) tenant_seg: String,
    pub(crate) authority: Authority,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) response_type: String,
    pub(crate) response_mode: String,
    pub(crate) state: Option<String>,
    pub(crate) target: String,
    pub(crate) nonce: Option<String>,
    pub(crate) prompt: Option<String>,
    pub(crate) login_hint: Option<String>,
    pub(crate) code_challenge: Option<(String, String)>,
    pub(crate) user_id: Option<String>,
    pub(crate) amr: Vec<String>,
    pub(crate) auth_time: i64,
    pub(crate) session_id: String,
    pub(crate) created: i64,
    /// `amr_values=mfa` (v1): the app asks for MFA.
    pub(crate) mfa_requested: bool,
}

/// A browser sign-in session (the SSO cookie).
#[derive(Debug, Clone)]
pub struct SsoSession {
    /// User.
    pub user_id: String,
    pub(crate) amr: Vec<String>,
    pub(crate) auth_time: i64,
    pub(crate) session_id: String,
}

/// A pending device authorization.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) user_code: String,
    pub(crate) issued_at: i64,
    pub(crate) status: DeviceStatus,
}

#[derive(Debug, Clone)]
pub(crate) enum DeviceStatus {
    Pending,
    /// Signed in, consent page shown.
    SignedIn {
        user_id: String,
        amr: Vec<String>,
    },
    Approved {
        code: String,
    },
    Declined,
}

/// An issued authorization code.
#[derive(Clone, Debug)]
pub struct AuthCode {
    /// Client.
    pub client_id: String,
    /// Redirect URI used at authorize.
    pub redirect_uri: String,
    /// User.
    pub user_id: String,
    /// Tenant the token is for.
    pub tenant: String,
    /// v1 `resource` or v2 `scope` from the authorize request.
    pub target: String,
    /// Whether the authorize request asked for `openid`.
    pub wants_id_token: bool,
    /// Whether the authorize request asked for `offline_access` (v2).
    pub wants_refresh_token: bool,
    /// PKCE.
    pub code_challenge: Option<(String, String)>,
    /// Nonce to echo into the id_token.
    pub nonce: Option<String>,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Sign-in time.
    pub auth_time: i64,
    /// Issued at.
    pub issued_at: i64,
    /// Redeemed already.
    pub redeemed: bool,
    /// Session ID.
    pub session_id: String,
}

/// Delegated grant behind a refresh token. The token string itself is opaque; this record
/// binds it to user, client, home tenant, authentication methods and the original consent.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RefreshGrant {
    /// User object ID.
    pub user_id: String,
    /// Client app ID.
    pub client_id: String,
    /// The user's home tenant.
    pub home_tenant: String,
    /// Authentication methods of the original sign-in.
    pub amr: Vec<String>,
    /// When the user signed in (emulator clock, epoch seconds).
    pub auth_time: i64,
    /// When this token was issued.
    pub issued_at: i64,
    /// Scopes requested originally (v2) or `openid` markers, for the id_token decision.
    pub wants_id_token: bool,
    /// Original v1 resource or v2 scopes, used when a refresh names none.
    pub original_target: String,
    /// Session ID (`sid`).
    pub session_id: String,
}
