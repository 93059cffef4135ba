//! Building the tokens Entra issues: access tokens (v1 format, which Microsoft's first-party
//! resources receive from both endpoints), ID tokens (v1 or v2), opaque refresh tokens and
//! authorization codes, and the token-endpoint success body.

use crate::model::resources::ResourceApp;
use crate::model::seed::UserSeed;
pub use crate::model::sessions::Version;
use crate::model::state::State;
use crate::model::tokens::b64url;
use actix_web::HttpResponse;
use rand::RngCore as _;
use serde_json::{Value, json};
use sha2::Digest as _;

/// Role template ID of Global Administrator (the `wids` claim).
const GLOBAL_ADMIN_TEMPLATE: &str = "62e90394-69f5-4237-9190-012177145e10";

/// A random opaque string (refresh tokens, codes, flow IDs).
pub fn random_token(prefix: &str, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    format!("{prefix}{}", b64url(buf))
}

/// Mints an authorization code for `grant` and keeps it for the token endpoint to redeem.
pub fn store_auth_code(state: &State, grant: crate::model::sessions::AuthCode) -> String {
    let code = random_token("1.AXEA", 64);
    state
        .codes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(code.clone(), grant);
    code
}

/// The signed-in user a token is issued for.
#[derive(Debug, Clone)]
pub struct UserContext {
    /// The user.
    pub user: UserSeed,
    /// Tenant the token is for (may be a customer tenant for partner admins).
    pub tenant: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Sign-in time.
    pub auth_time: i64,
    /// Session ID.
    pub session_id: String,
}

fn base_claims(
    state: &State,
    tenant: &str,
    aud: &str,
    lifetime: i64,
) -> (serde_json::Map<String, Value>, i64, i64) {
    let iat = state.now();
    let exp = iat + lifetime;
    let mut c = serde_json::Map::new();
    c.insert("aud".into(), json!(aud));
    c.insert("iss".into(), json!(state.v1_issuer(tenant)));
    c.insert("iat".into(), json!(iat));
    c.insert("nbf".into(), json!(iat));
    c.insert("exp".into(), json!(exp));
    c.insert("aio".into(), json!(random_token("E2", 24)));
    c.insert("tid".into(), json!(tenant));
    c.insert("uti".into(), json!(random_token("", 16)));
    c.insert("ver".into(), json!("1.0"));
    (c, iat, exp)
}

fn lifetime(state: &State) -> i64 {
    i64::try_from(state.lifetimes.access_token.as_secs()).unwrap_or(3599)
}

/// An app-only access token (client credentials).
pub fn app_access_token(
    state: &State,
    tenant: &str,
    app_id: &str,
    appidacr: &str,
    sp_object_id: &str,
    aud: &str,
    roles: &[String],
) -> (String, i64, i64) {
    let (mut c, iat, exp) = base_claims(state, tenant, aud, lifetime(state));
    c.insert("appid".into(), json!(app_id));
    c.insert("appidacr".into(), json!(appidacr));
    c.insert("idp".into(), json!(state.v1_issuer(tenant)));
    c.insert("idtyp".into(), json!("app"));
    c.insert("oid".into(), json!(sp_object_id));
    c.insert("rh".into(), json!("0.AAAA"));
    if !roles.is_empty() {
        c.insert("roles".into(), json!(roles));
    }
    c.insert("sub".into(), json!(sp_object_id));
    (state.signing.sign(&Value::Object(c), true), iat, exp)
}

/// A delegated (user) access token.
pub fn user_access_token(
    state: &State,
    ctx: &UserContext,
    app_id: &str,
    appidacr: &str,
    aud: &str,
    scp: &str,
) -> (String, i64, i64) {
    let (mut c, iat, exp) = base_claims(state, &ctx.tenant, aud, lifetime(state));
    let u = &ctx.user;
    c.insert("acr".into(), json!("1"));
    c.insert("amr".into(), json!(ctx.amr));
    c.insert("appid".into(), json!(app_id));
    c.insert("appidacr".into(), json!(appidacr));
    if ctx.tenant != u.tenant {
        // A partner admin acting in a customer tenant is a foreign principal there.
        c.insert("idp".into(), json!(state.v1_issuer(&u.tenant)));
    }
    let (given, family) = u
        .display_name
        .split_once(' ')
        .unwrap_or((u.display_name.as_str(), ""));
    c.insert("family_name".into(), json!(family));
    c.insert("given_name".into(), json!(given));
    c.insert("ipaddr".into(), json!("127.0.0.1"));
    c.insert("name".into(), json!(u.display_name));
    c.insert("oid".into(), json!(u.id));
    c.insert("rh".into(), json!("0.AAAA"));
    c.insert("scp".into(), json!(scp));
    c.insert("sid".into(), json!(ctx.session_id));
    c.insert("sub".into(), json!(pairwise_sub(&u.id, app_id)));
    c.insert("unique_name".into(), json!(u.upn));
    c.insert("upn".into(), json!(u.upn));
    if u.is_global_admin() && ctx.tenant == u.tenant {
        c.insert("wids".into(), json!([GLOBAL_ADMIN_TEMPLATE]));
    }
    (state.signing.sign(&Value::Object(c), true), iat, exp)
}

/// `sub` is pairwise: stable per user and app, different across apps.
fn pairwise_sub(user_id: &str, app_id: &str) -> String {
    b64url(sha2::Sha256::digest(
        format!("{user_id}|{app_id}").as_bytes(),
    ))
}

/// The `c_hash` / `at_hash` of OIDC core §3.3.2.11: left half of SHA-256, base64url.
pub fn half_hash(value: &str) -> String {
    let d = sha2::Sha256::digest(value.as_bytes());
    b64url(&d[..16])
}

/// Which endpoint issues an ID token.
#[derive(Debug)]
pub enum IdTokenFrom {
    /// The authorization endpoint (hybrid flow), with the code's `c_hash`: always signed.
    Authorize {
        /// `c_hash` of the code issued with it.
        c_hash: String,
    },
    /// The token endpoint. v1 returns the ID token unsigned (`alg: none`, empty signature):
    /// "The `id_token` is an unsigned JWT" in Microsoft's v1 code-flow document
    /// (`v1-protocols-oauth-code.md`, "Successful response"); v2 signs it.
    TokenEndpoint,
}

/// An ID token for `client_id` about the user of `ctx`.
pub fn id_token(
    state: &State,
    version: Version,
    ctx: &UserContext,
    client_id: &str,
    nonce: Option<&str>,
    from: IdTokenFrom,
) -> String {
    let iat = state.now();
    let exp = iat + i64::try_from(state.lifetimes.id_token.as_secs()).unwrap_or(3600);
    let u = &ctx.user;
    let mut c = serde_json::Map::new();
    c.insert("aud".into(), json!(client_id));
    c.insert("iat".into(), json!(iat));
    c.insert("nbf".into(), json!(iat));
    c.insert("exp".into(), json!(exp));
    c.insert("name".into(), json!(u.display_name));
    c.insert("oid".into(), json!(u.id));
    c.insert("sub".into(), json!(pairwise_sub(&u.id, client_id)));
    c.insert("tid".into(), json!(ctx.tenant));
    c.insert("sid".into(), json!(ctx.session_id));
    c.insert("uti".into(), json!(random_token("", 16)));
    c.insert("auth_time".into(), json!(ctx.auth_time));
    if let Some(n) = nonce {
        c.insert("nonce".into(), json!(n));
    }
    if let IdTokenFrom::Authorize { c_hash } = &from {
        c.insert("c_hash".into(), json!(c_hash));
    }
    let roles = app_roles(state, u, client_id);
    if !roles.is_empty() {
        c.insert("roles".into(), json!(roles));
    }
    match version {
        Version::V1 => {
            c.insert("iss".into(), json!(state.v1_issuer(&ctx.tenant)));
            c.insert("amr".into(), json!(ctx.amr));
            c.insert("unique_name".into(), json!(u.upn));
            c.insert("upn".into(), json!(u.upn));
            c.insert("ver".into(), json!("1.0"));
        }
        Version::V2 => {
            c.insert(
                "iss".into(),
                json!(format!("{}/{}/v2.0", state.authority_host(), ctx.tenant)),
            );
            c.insert("preferred_username".into(), json!(u.upn));
            c.insert("ver".into(), json!("2.0"));
        }
    }
    let claims = Value::Object(c);
    match (from, version) {
        (IdTokenFrom::TokenEndpoint, Version::V1) => format!(
            "{}.{}.",
            b64url(json!({"typ": "JWT", "alg": "none"}).to_string()),
            b64url(claims.to_string())
        ),
        (IdTokenFrom::Authorize { .. }, _) => state.signing.sign(&claims, version == Version::V1),
        (IdTokenFrom::TokenEndpoint, Version::V2) => state.signing.sign(&claims, false),
    }
}

/// The values of the app roles of `client_id` assigned to `user_id` directly or through a
/// group it is a member of, sorted.
fn app_roles(state: &State, user: &UserSeed, client_id: &str) -> Vec<String> {
    let assignments: Vec<_> = state
        .directory()
        .app_role_assignments
        .iter()
        .filter(|a| a.app_id.eq_ignore_ascii_case(client_id))
        .cloned()
        .collect();
    if assignments.is_empty() {
        return Vec::new();
    }
    let groups = state.partner.lock().groups_of(user);
    let mut roles: Vec<String> = assignments
        .into_iter()
        .filter(|a| {
            a.principal.eq_ignore_ascii_case(&user.id)
                || groups
                    .iter()
                    .any(|g| g.id.eq_ignore_ascii_case(&a.principal))
        })
        .map(|a| a.role)
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// `client_info`: base64url of `{"uid": oid, "utid": home tenant}` (what MSAL reads for the
/// home account ID).
pub fn client_info(user: &UserSeed) -> String {
    b64url(json!({"uid": user.id, "utid": user.tenant}).to_string())
}

/// What a successful token response carries.
#[derive(Debug, Default)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// v1 `resource`.
    pub resource: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// Rotated refresh token.
    pub refresh_token: Option<String>,
    /// ID token.
    pub id_token: Option<String>,
    /// client_info.
    pub client_info: Option<String>,
}

impl TokenResponse {
    /// The JSON body: v1 timing fields are strings, v2 integers (docs/microsoft-behaviour.md §1.2, §2.2).
    pub fn into_response(self, version: Version) -> HttpResponse {
        let expires_in = self.exp - self.iat;
        let mut body = serde_json::Map::new();
        body.insert("token_type".into(), json!("Bearer"));
        if let Some(s) = &self.scope {
            body.insert("scope".into(), json!(s));
        }
        match version {
            Version::V1 => {
                body.insert("expires_in".into(), json!(expires_in.to_string()));
                body.insert("ext_expires_in".into(), json!(expires_in.to_string()));
                body.insert("expires_on".into(), json!(self.exp.to_string()));
                body.insert("not_before".into(), json!(self.iat.to_string()));
                if let Some(r) = &self.resource {
                    body.insert("resource".into(), json!(r));
                }
            }
            Version::V2 => {
                body.insert("expires_in".into(), json!(expires_in));
                body.insert("ext_expires_in".into(), json!(expires_in));
            }
        }
        body.insert("access_token".into(), json!(self.access_token));
        if let Some(rt) = self.refresh_token {
            body.insert("refresh_token".into(), json!(rt));
        }
        if let Some(id) = self.id_token {
            body.insert("id_token".into(), json!(id));
        }
        if let Some(ci) = self.client_info {
            body.insert("client_info".into(), json!(ci));
        }
        HttpResponse::Ok()
            .insert_header(("cache-control", "no-store, no-cache"))
            .insert_header(("pragma", "no-cache"))
            .json(Value::Object(body))
    }
}

/// The target of a token request: one resource, the audience string as requested, and the
/// permissions named (`.default` or explicit).
#[derive(Debug, Clone)]
pub struct Target {
    /// Resource app.
    pub resource: ResourceApp,
    /// The identifier as the client wrote it (v1 `aud`).
    pub aud: String,
    /// Explicit permissions (empty for `.default` / v1).
    pub permissions: Vec<String>,
    /// Whether `.default` was asked for.
    pub is_default: bool,
    /// OIDC scopes present.
    pub oidc: Vec<String>,
}
