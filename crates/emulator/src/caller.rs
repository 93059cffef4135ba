//! The caller of an API that takes a bearer token (Graph, Partner Center, Key Vault): one
//! extractor for all three. [`Caller::identify`] reads `Authorization: Bearer …`, validates the
//! token for the API's audience with [`State::validate_access_token`] (signature, expiry and
//! not-before on the emulator's clock, issuer of the token's tenant, audience) and looks the
//! tenant and the signed-in user up in the directory.
//!
//! What each API then requires (a known tenant, a partner tenant, a known user, MFA, scopes or
//! roles) and how it words a refusal stay with the API: each has its own error shape and its
//! own order of checks (`graph::authenticate`, `partner_center::authenticate`,
//! `keyvault::auth::admit`).

use crate::model::resources::ResourceKind;
use crate::model::seed::{TenantKind, UserSeed};
use crate::model::state::State;
use crate::model::tokens::{TokenRejection, ValidatedToken};
use actix_web::HttpRequest;

/// Who calls: the validated token, its tenant as the directory knows it, and for a delegated
/// (user) token the signed-in user.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The validated token (tenant `tid`, `oid`, `appid`, scopes `scp`, roles `roles`, `amr`).
    pub token: ValidatedToken,
    /// The kind of the token's tenant; `None` when the directory has no such tenant.
    pub tenant_kind: Option<TenantKind>,
    /// The signed-in user of a delegated token; `None` for an app-only token, or when the
    /// directory has no user with the token's `oid`.
    pub user: Option<UserSeed>,
}

/// The token of an `Authorization: Bearer …` header (scheme `Bearer` or `bearer`), if any.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let header = req.headers().get("authorization")?.to_str().ok()?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl Caller {
    /// The caller of `req` to the API `api`: [`TokenRejection::Missing`] without a bearer token,
    /// the validation's rejection for a token that is not valid for `api`.
    pub fn identify(
        state: &State,
        req: &HttpRequest,
        api: ResourceKind,
    ) -> Result<Caller, TokenRejection> {
        let raw = bearer_token(req).ok_or(TokenRejection::Missing)?;
        // Changes due on the clock are visible to this request (docs/microsoft-behaviour.md §6.6).
        state.replicate();
        let token = state.validate_access_token(raw, &[api])?;
        let dir = state.directory();
        let tenant_kind = dir.tenant(&token.tenant_id).map(|t| t.kind);
        let user = if token.is_app_only {
            None
        } else {
            dir.user(&token.object_id).cloned()
        };
        Ok(Caller {
            token,
            tenant_kind,
            user,
        })
    }

    /// The token's tenant (`tid`): the directory a Graph call reads, the partner of a Partner
    /// Center call.
    pub fn tenant(&self) -> &str {
        &self.token.tenant_id
    }

    /// Whether the token is app-only (no signed-in user).
    pub fn is_app_only(&self) -> bool {
        self.token.is_app_only
    }

    /// Whether the user is a partner's principal acting in a customer tenant (GDAP/DAP).
    pub fn is_foreign_user(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| !u.tenant.eq_ignore_ascii_case(&self.token.tenant_id))
    }

    /// Whether the caller holds one of `delegated` scopes (user tokens) or one of
    /// `application` roles (app-only tokens), case-insensitively.
    pub fn holds_any(&self, delegated: &[&str], application: &[&str]) -> bool {
        let (held, wanted) = if self.is_app_only() {
            (&self.token.roles, application)
        } else {
            (&self.token.scopes, delegated)
        };
        held.iter()
            .any(|h| wanted.iter().any(|w| w.eq_ignore_ascii_case(h)))
    }
}
