//! Access tokens: app + user tokens through a partner's stored grant (the partner's own tenant,
//! or a customer tenant reached through GDAP), and app-only tokens; cached per (tenant,
//! resource, identity) with single-flight ([`crate::tokens::AccessTokenCache`]). And the broker
//! as the token source the REST clients receive ([`BrokerTokens`]).

use std::sync::Arc;

use futures::future::Either;

use super::rotation::Settle;
use super::{BrokerError, TokenBroker, fetched};
use crate::cloud::Resource;
use crate::entra::TokenTarget;
use crate::http::transport::{Tenant, TokenFuture, TokenSource, TokenSourceError};
use crate::secret::AccessToken;
use crate::tokens::cache::{Identity, KeyRef};

impl TokenBroker {
    /// An app + user access token for `tenant`: the partner's own tenant, or a customer tenant
    /// reached through the default partner's grant (CSP mode, GDAP). In CPV mode use
    /// [`Self::delegated_token`], which names the partner.
    ///
    /// Cached per (tenant, resource, partner) with single-flight; on a miss, the partner's
    /// refresh token is redeemed at `tenant`'s authority and the rotated refresh token stored.
    /// `POST {authority}/{tenant}/oauth2[/v2.0]/token` with `grant_type=refresh_token`
    /// (<https://learn.microsoft.com/partner-center/developer/enable-secure-app-model#get-access-token>,
    /// GDAP: <https://learn.microsoft.com/partner-center/customers/gdap-introduction>).
    pub fn access_token<'a>(
        &'a self,
        tenant: &'a str,
        resource: Resource,
    ) -> impl Future<Output = Result<AccessToken, BrokerError>> + Send + 'a {
        self.delegated_token(self.default_partner(tenant), tenant, resource)
    }

    /// The cached access token for `tenant` and `resource` through the default partner's grant,
    /// never redeeming: `None` when nothing fresh is cached. For hot paths that fall back to
    /// [`Self::access_token`] themselves.
    pub fn cached_access_token(&self, tenant: &str, resource: Resource) -> Option<AccessToken> {
        self.inner.cache.get(KeyRef {
            tenant,
            resource,
            identity: Identity::Delegated {
                partner: self.default_partner(tenant),
            },
        })
    }

    /// [`Self::access_token`] without copying the token: the cache's shared value (the fastest
    /// hit, for hot paths that only build an `Authorization` header from it).
    pub async fn access_token_shared(
        &self,
        tenant: &str,
        resource: Resource,
    ) -> Result<Arc<AccessToken>, BrokerError> {
        let partner = self.default_partner(tenant);
        self.delegated_token_shared(partner, tenant, resource).await
    }

    fn default_partner<'a>(&'a self, tenant: &'a str) -> &'a str {
        self.inner
            .settings
            .default_partner
            .as_deref()
            .unwrap_or(tenant)
    }

    /// An app + user access token for `tenant` through `partner`'s stored grant (CPV: each
    /// partner consented separately). See [`Self::access_token`].
    pub fn delegated_token<'a>(
        &'a self,
        partner: &'a str,
        tenant: &'a str,
        resource: Resource,
    ) -> impl Future<Output = Result<AccessToken, BrokerError>> + Send + 'a {
        // The synchronous fast path: a cached token is looked up before the redeeming future is
        // built, so a hit costs one cache read and an already-complete future.
        let hit = self.inner.cache.get(KeyRef {
            tenant,
            resource,
            identity: Identity::Delegated { partner },
        });
        // The slow path is boxed so that the future a hit returns stays a few words wide: moving
        // the redeeming future's full state around cost a third of the hit's time.
        match hit {
            Some(token) => Either::Left(std::future::ready(Ok(token))),
            None => Either::Right(Box::pin(async move {
                self.delegated_token_shared(partner, tenant, resource)
                    .await
                    .map(|t| AccessToken::clone(&t))
            })),
        }
    }

    /// [`Self::delegated_token`] without copying the token.
    pub async fn delegated_token_shared(
        &self,
        partner: &str,
        tenant: &str,
        resource: Resource,
    ) -> Result<Arc<AccessToken>, BrokerError> {
        self.cached_delegated(partner, tenant, resource, Settle::Now)
            .await
    }

    /// Redeems `partner`'s refresh token at its own authority for `resource` now (whatever is
    /// cached), caches the access token, and returns without waiting for the rotated refresh
    /// token to be stored: the write goes on in a task of its own, and [`Self::status`] waits
    /// for it. For a caller with other work to do with the token meanwhile: the watch lists the
    /// partner's GDAP relationships while the rotation is written, instead of holding one of
    /// its slots through the write.
    pub async fn refresh_delegated_token(
        &self,
        partner: &str,
        resource: Resource,
    ) -> Result<(), BrokerError> {
        self.forget_delegated_token(partner, partner, resource);
        self.cached_delegated(partner, partner, resource, Settle::Later)
            .await
            .map(|_| ())
    }

    /// The cached token of `partner` for `tenant` and `resource`, else one redeemed (single
    /// flight), its rotated refresh token stored as `settle` says.
    async fn cached_delegated(
        &self,
        partner: &str,
        tenant: &str,
        resource: Resource,
        settle: Settle,
    ) -> Result<Arc<AccessToken>, BrokerError> {
        let key = KeyRef {
            tenant,
            resource,
            identity: Identity::Delegated { partner },
        };
        self.inner
            .cache
            .get_or_fetch_shared(key, || {
                let broker = self.clone();
                let (partner, tenant) = (partner.to_owned(), tenant.to_owned());
                async move {
                    broker
                        .redeem_with(&partner, &tenant, resource, settle)
                        .await
                }
            })
            .await
    }

    /// Forgets the cached token of `partner` for `tenant` and `resource`, so the next request
    /// redeems again: after a change of the grant behind it (a consent created or replaced in a
    /// customer tenant changes the scopes a new token carries).
    pub fn forget_delegated_token(&self, partner: &str, tenant: &str, resource: Resource) {
        self.inner.cache.invalidate(KeyRef {
            tenant,
            resource,
            identity: Identity::Delegated { partner },
        });
    }

    /// An app-only access token in `tenant` (client credentials): for APIs and customer
    /// tenants where the app itself is consented (CPV application consents).
    ///
    /// `POST {authority}/{tenant}/oauth2[/v2.0]/token` with `grant_type=client_credentials`
    /// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>).
    pub async fn app_only_token(
        &self,
        tenant: &str,
        resource: Resource,
    ) -> Result<AccessToken, BrokerError> {
        let key = KeyRef {
            tenant,
            resource,
            identity: Identity::App,
        };
        self.inner
            .cache
            .get_or_fetch(key, || {
                let broker = self.clone();
                let tenant = tenant.to_owned();
                async move {
                    let target = broker.app_target(resource)?;
                    let r = broker
                        .inner
                        .client
                        .client_credentials(&tenant, &target)
                        .await?;
                    Ok(fetched(&r))
                }
            })
            .await
    }

    fn app_target(&self, resource: Resource) -> Result<TokenTarget, BrokerError> {
        let s = &self.inner.settings;
        TokenTarget::app_only(&s.cloud, s.version, resource).ok_or_else(|| {
            BrokerError::Config(format!("the {} cloud has no {resource}", s.cloud.name))
        })
    }
}

/// The token broker as a [`TokenSource`]: app + user tokens through one partner's stored grant,
/// redeemed at the partner's authority ([`Tenant::Partner`]) or at a customer's (GDAP).
#[derive(Clone, Debug)]
pub struct BrokerTokens {
    broker: TokenBroker,
    partner: String,
}

impl BrokerTokens {
    /// Tokens for `partner`'s grant (the partner tenant ID).
    pub fn new(broker: TokenBroker, partner: impl Into<String>) -> Self {
        Self {
            broker,
            partner: partner.into(),
        }
    }

    /// The partner tenant.
    pub fn partner(&self) -> &str {
        &self.partner
    }
}

impl TokenSource for BrokerTokens {
    fn token<'a>(&'a self, tenant: Tenant<'a>, resource: Resource) -> TokenFuture<'a> {
        Box::pin(async move {
            let tenant = match tenant {
                Tenant::Partner => self.partner.as_str(),
                Tenant::Customer(id) => id,
            };
            self.broker
                .delegated_token(&self.partner, tenant, resource)
                .await
                .map_err(|e| TokenSourceError::from(&e))
        })
    }
}
