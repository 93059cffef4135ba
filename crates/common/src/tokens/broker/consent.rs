//! An admin agent's consent: the authorize URL that starts it, and the callback that finishes
//! it. The new grant is stored only when the grant rules hold (the tenant rule, MFA, a real
//! Partner Center call with its token), so a working grant stored before is never replaced by a
//! weaker one.

use std::sync::Arc;
use std::time::Duration;

use super::{BrokerError, TokenBroker, unix_now};
use crate::cloud::Resource;
use crate::config::EndpointVersion;
use crate::entra::{
    AuthorizeOptions, ExpectedIdToken, IdToken, PendingAuthorization, SignedInUser, TokenResponse,
    TokenTarget,
};
use crate::secret::{AccessToken, AuthCode, ExposeSecret as _, RefreshToken};
use crate::store::{GrantMetadata, StoreError, StoredGrant};

/// A consent stored by [`TokenBroker::store_consent`].
#[derive(Clone, Debug)]
pub struct ConsentRecord {
    /// Who consented.
    pub user: SignedInUser,
    /// The metadata stored with the token.
    pub meta: GrantMetadata,
    /// Partner Center's own MFA check: it accepted an App+User call made with this consent's
    /// token before it was stored (it answers 401, code 900421, to a token it does not consider
    /// MFA-compliant, and then nothing is stored).
    pub partner_center_mfa: bool,
}

impl TokenBroker {
    /// Starts a consent: the Entra authorize URL (state, nonce, PKCE S256) to redirect the
    /// admin agent to. Keep the returned value (in the encrypted state cookie) until the
    /// callback, then pass it to [`Self::store_consent`].
    ///
    /// `GET {authority}/{tenant}/oauth2[/v2.0]/authorize`
    /// (<https://learn.microsoft.com/partner-center/developer/enable-secure-app-model#get-authorization-code>).
    pub fn consent_url(&self, mut options: AuthorizeOptions) -> PendingAuthorization {
        let s = &self.inner.settings;
        if options.prompt.is_none() {
            options.prompt.clone_from(&s.prompt);
        }
        // Ask Entra for MFA rather than only refuse a consent without it: Entra challenges MFA
        // on its own only when a policy demands it (docs/microsoft-behaviour.md §1.1). v2
        // refuses the parameter (AADSTS901002): there a Conditional Access policy must demand
        // MFA of the admin agents.
        if options.amr_values.is_none() && s.version == EndpointVersion::V1 {
            options.amr_values = Some("mfa".into());
        }
        let target = self.delegated_target(Resource::PartnerCenter);
        self.inner
            .client
            .authorize_url(&s.authority_tenant, &s.redirect_url, &target, &options)
    }

    /// Finishes a consent: redeems the code (with the PKCE verifier, exactly once: a code is
    /// single-use), validates the ID token (signature, issuer, audience, expiry, nonce), and
    /// stores the refresh token under the partner tenant with its metadata — only when the
    /// grant rules hold, checked in this order, before anything is written:
    ///
    /// 1. the tenant rule (CSP: the partner tenant only; CPV: `partner.allowed_tenants`, where
    ///    `*` allows any tenant and an empty list none);
    /// 2. the sign-in used multi-factor authentication (`amr` contains `mfa`);
    /// 3. a real Partner Center call with the new access token succeeds
    ///    (`GET /v1/customers?size=1`), which proves the user holds a Partner Center role (Admin
    ///    Agent) and the token carries what Partner Center demands.
    ///
    /// A consent that fails any rule stores nothing, so a working grant stored before is never
    /// replaced by a weaker one; the error says why and what to do.
    ///
    /// `POST {authority}/{tenant}/oauth2[/v2.0]/token` with `grant_type=authorization_code`
    /// (<https://learn.microsoft.com/partner-center/developer/enable-secure-app-model#get-refresh-token>).
    #[tracing::instrument(skip_all)]
    pub async fn store_consent(
        &self,
        code: AuthCode,
        pending: &PendingAuthorization,
    ) -> Result<ConsentRecord, BrokerError> {
        self.store_consent_with(code, None, pending).await
    }

    /// [`Self::store_consent`] for the hybrid flow too: with `front` (the signed ID token of the
    /// authorization response), that token is validated first — signature from the authority's
    /// keys, issuer, audience, expiry, `nonce` and `c_hash` of `code` — and only then is the code
    /// redeemed (still with PKCE). Who consented comes from it; the token endpoint's ID token,
    /// when present, must name the same tenant and user (`tid`, `oid`).
    #[tracing::instrument(skip_all)]
    pub async fn store_consent_with(
        &self,
        code: AuthCode,
        front: Option<&IdToken>,
        pending: &PendingAuthorization,
    ) -> Result<ConsentRecord, BrokerError> {
        let inner = &self.inner;
        let (response, user) = self.identify(&code, front, pending).await?;
        let tid = user.tenant_id.to_ascii_lowercase();
        self.check_tenant_may_consent(&tid)?;
        let refresh_token = response
            .refresh_token
            .clone()
            .ok_or(BrokerError::Incomplete("refresh token"))?;
        let mfa = user
            .mfa
            .or_else(|| jwt_amr_has_mfa(response.access_token.expose_secret()))
            .unwrap_or(false);
        if !mfa {
            tracing::warn!(tenant.id = %tid, "consent without MFA refused; nothing stored");
            return Err(BrokerError::ConsentWithoutMfa {
                partner: tid,
                consent_page: inner.settings.consent_page.clone(),
            });
        }
        // Verify first, write second: a consent Partner Center refuses never replaces a grant.
        self.verify_with_partner_center(&tid, &response.access_token)
            .await?;
        let now = unix_now();
        let meta = GrantMetadata {
            tenant_id: tid.clone(),
            user: user.upn.clone(),
            consented_at: now,
            rotated_at: now,
            app_id: inner.settings.app_id.clone(),
            cloud: inner.settings.cloud.name.to_string(),
            mfa,
        };
        let grant = StoredGrant {
            refresh_token,
            meta: meta.clone(),
        };
        // A consent must be stored: retried, and the consent fails (the admin sees it) if the
        // store stays down.
        let token = grant.refresh_token.clone();
        self.store_new_grant(&tid, grant).await?;
        inner.cache.invalidate_partner(&tid);
        // "Recorded" only when the store holds this grant: a store keeps a newer grant it
        // finds (another instance's consent in the same moment) instead of this one.
        self.check_recorded(&tid, &token).await?;
        tracing::info!(tenant.id = %tid, mfa, "partner consent stored");
        Ok(ConsentRecord {
            user,
            meta,
            partner_center_mfa: true,
        })
    }

    /// Redeems the code and says who signed in: from the validated front-channel ID token
    /// (hybrid flow, checked before the redemption) or the token endpoint's.
    async fn identify(
        &self,
        code: &AuthCode,
        front: Option<&IdToken>,
        pending: &PendingAuthorization,
    ) -> Result<(TokenResponse, SignedInUser), BrokerError> {
        let inner = &self.inner;
        let expected = ExpectedIdToken {
            nonce: &pending.nonce,
            tenant: None,
        };
        let front_user = match front {
            Some(t) => Some(
                inner
                    .validator
                    .validate_authorization_response(t, expected, code.expose_secret())
                    .await?,
            ),
            None => None,
        };
        let response = inner.client.redeem_code(code, pending).await?;
        let Some(front_user) = front_user else {
            let id_token = response.id_token.as_ref().ok_or(BrokerError::Incomplete(
                "ID token (was `openid` requested?)",
            ))?;
            let user = inner.validator.validate(id_token, expected).await?;
            return Ok((response, user));
        };
        let back = match response.id_token.as_ref() {
            Some(t) => Some(inner.validator.validate_after_hybrid(t, expected).await?),
            None => None,
        };
        let (back_tid, back_oid) = match &back {
            Some(u) => (Some(u.tenant_id.clone()), Some(u.object_id.clone())),
            None => jwt_tid_oid(response.access_token.expose_secret()),
        };
        let same = |a: Option<String>, b: &str| a.is_none_or(|a| a.eq_ignore_ascii_case(b));
        if !same(back_tid, &front_user.tenant_id) || !same(back_oid, &front_user.object_id) {
            return Err(BrokerError::IdToken(
                crate::entra::IdTokenError::Malformed(
                    "the token endpoint's answer is about another tenant or user than the signed ID token of the sign-in".into(),
                ),
            ));
        }
        let mut user = front_user;
        user.mfa = user.mfa.or(back.and_then(|b| b.mfa));
        Ok((response, user))
    }

    /// Reads the partner's grant back and fails unless it is the one just written.
    pub(super) async fn check_recorded(
        &self,
        tid: &str,
        token: &RefreshToken,
    ) -> Result<(), BrokerError> {
        let Some(stored) = self.inner.store.get(tid).await? else {
            return Err(BrokerError::Store(StoreError::Setup(format!(
                "the consent of partner tenant {tid} was written but the store does not return it: check the store ({})",
                self.inner.store.location()
            ))));
        };
        if stored.refresh_token == *token {
            return Ok(());
        }
        Err(BrokerError::NotRecorded {
            partner: tid.to_owned(),
            stored_consented_at: super::rfc3339(stored.meta.consented_at),
            stored_by: stored.meta.user.unwrap_or_else(|| "an unknown user".into()),
        })
    }

    /// The CSP rule (only the partner tenant) and the CPV allow-list (`*`: any; empty: none).
    fn check_tenant_may_consent(&self, tid: &str) -> Result<(), BrokerError> {
        let s = &self.inner.settings;
        if let Some(p) = s.default_partner.as_deref() {
            if !p.eq_ignore_ascii_case(tid) {
                return Err(BrokerError::TenantNotAllowed {
                    tenant: tid.to_owned(),
                    why: format!("CSP mode: only the partner tenant {p} may consent"),
                });
            }
            if s.allowed_partners.is_empty() {
                return Ok(());
            }
        }
        let allowed = &s.allowed_partners;
        if allowed
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(tid))
        {
            return Ok(());
        }
        Err(BrokerError::TenantNotAllowed {
            tenant: tid.to_owned(),
            why: if allowed.is_empty() {
                "partner.allowed_tenants is empty, which allows no tenant".into()
            } else {
                "not in partner.allowed_tenants".into()
            },
        })
    }

    /// One Partner Center call with the new consent's access token, before it is stored:
    /// `GET /v1/customers?size=1` — "Get a list of customers"
    /// (<https://learn.microsoft.com/partner-center/developer/get-a-list-of-customers>). Partner
    /// Center answers 403 when the user holds no Partner Center role (Admin Agent) and 401 when
    /// the token lacks MFA. Retried briefly on throttling or 5xx: an admin is waiting.
    async fn verify_with_partner_center(
        &self,
        partner: &str,
        token: &AccessToken,
    ) -> Result<(), BrokerError> {
        use crate::http::{RetryPolicy, StaticToken};
        use crate::partner_center::{PartnerCenterClient, PartnerCenterOptions};
        use futures::StreamExt as _;
        let inner = &self.inner;
        let options = PartnerCenterOptions {
            retry: RetryPolicy {
                max_retries: 2,
                min_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(2),
                max_retry_after: Some(Duration::from_secs(2)),
                max_total_wait: Duration::from_secs(5),
            },
            ..PartnerCenterOptions::default()
        };
        let client = PartnerCenterClient::new(
            inner.settings.cloud.partner_center.clone(),
            inner.http.clone(),
            Arc::new(StaticToken(token.clone())),
            options,
        );
        let Some(Err(e)) = client.list_customers(1, None).next().await else {
            tracing::info!(tenant.id = %partner, "new consent verified against Partner Center");
            return Ok(());
        };
        if e.is_mfa_refusal() {
            // Partner Center's own MFA check (401, code 900421): the sign-in showed Entra no
            // MFA challenge. Said as the MFA remedy, not a generic refusal.
            tracing::warn!(tenant.id = %partner, "Partner Center found the new consent's token not MFA-compliant (900421); nothing stored");
            return Err(BrokerError::ConsentWithoutMfa {
                partner: partner.to_owned(),
                consent_page: inner.settings.consent_page.clone(),
            });
        }
        let status = e.status();
        let transient = matches!(status, Some(429) | Some(500..))
            || matches!(e, crate::partner_center::PartnerCenterError::Transport(_));
        let advice = match status {
            Some(403) => {
                "The user who signed in holds no Partner Center role that allows this (Admin Agent): an admin agent of the partner tenant (Partner Center > Account settings > User management) must consent"
            }
            Some(401) => {
                "Partner Center refused the sign-in (it requires multi-factor authentication): consent again, signing in with MFA"
            }
            _ if transient => {
                "Partner Center is unavailable right now: try the consent again later"
            }
            _ => "check that the partner tenant is enrolled in Partner Center, then consent again",
        };
        tracing::warn!(tenant.id = %partner, http.status = ?status, "new consent refused by Partner Center; nothing stored: {e}");
        Err(BrokerError::ConsentNotVerified {
            partner: partner.to_owned(),
            status,
            message: e.to_string(),
            advice,
            transient,
        })
    }

    fn delegated_target(&self, resource: Resource) -> TokenTarget {
        let s = &self.inner.settings;
        TokenTarget::delegated(&s.cloud, s.version, resource)
            .unwrap_or_else(|| TokenTarget::Resource(String::new()))
    }
}

/// Whether a JWT's `amr` claim lists `mfa` (read without verification: the token came straight
/// from the token endpoint over TLS). `None` when there is no `amr`.
fn jwt_amr_has_mfa(jwt: &str) -> Option<bool> {
    let v: serde_json::Value = crate::entra::decode_unverified(jwt).ok()?;
    let amr = v.get("amr")?.as_array()?;
    Some(amr.iter().any(|m| m.as_str() == Some("mfa")))
}

/// `tid` and `oid` of a JWT (read without verification, as [`jwt_amr_has_mfa`]).
fn jwt_tid_oid(jwt: &str) -> (Option<String>, Option<String>) {
    let Ok(v) = crate::entra::decode_unverified::<serde_json::Value>(jwt) else {
        return (None, None);
    };
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    (text("tid"), text("oid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn amr_is_read_from_an_access_token() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = |claims: &str| format!("{}.{}.sig", b64("{}"), b64(claims));
        assert_eq!(
            jwt_amr_has_mfa(&jwt(r#"{"amr":["pwd","mfa"]}"#)),
            Some(true)
        );
        assert_eq!(jwt_amr_has_mfa(&jwt(r#"{"amr":["pwd"]}"#)), Some(false));
        assert_eq!(jwt_amr_has_mfa(&jwt(r#"{}"#)), None);
        assert_eq!(jwt_amr_has_mfa("opaque"), None);
    }
}
