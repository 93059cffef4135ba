//! The partner's refresh token: redeemed, rotated, and the rotations stored.
//!
//! Every redemption returns a new refresh token (rotation). The newest is kept in memory at once
//! and written to the store by one writer per partner at a time; writes are coalesced, so a
//! fan-out over hundreds of customer tenants does not queue hundreds of writes. The old token
//! stays valid at Entra and stays stored until a newer one is written, so a failure or a crash at
//! any point leaves a usable token stored. [`TokenBroker::flush`] waits for the writes in flight;
//! [`TokenBroker::keepalive`] redeems once so the grant never expires from inactivity;
//! [`TokenBroker::status`] reports the grant.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tracing::Instrument as _;

use super::{BrokerError, TokenBroker, fetched, unix_now};
use crate::cloud::Resource;
use crate::entra::TokenTarget;
use crate::secret::RefreshToken;
use crate::store::{GrantMetadata, StoreError, StoredGrant};
use crate::tokens::cache::Fetched;

/// The state of a partner's grant, for health pages and the CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantStatus {
    /// The partner tenant.
    pub tenant_id: String,
    /// The stored grant's metadata; `None` when no consent is stored.
    pub meta: Option<GrantMetadata>,
    /// `false` when the latest rotated token could not be written to the store (the stored one
    /// is older but still valid; the broker retries at the next redemption).
    pub persisted: bool,
    /// The last store failure, if the latest write failed.
    pub last_store_error: Option<String>,
    /// Where the tokens are kept.
    pub location: String,
    /// How many rotated refresh tokens this process has written to the store so far.
    pub rotations_stored: u64,
}

/// A partner's grant in this process: the newest token known, and its writes to the store.
#[derive(Debug, Default)]
pub(super) struct GrantState {
    /// The newest refresh token known (possibly newer than the stored one).
    current: Option<StoredGrant>,
    persisted: bool,
    last_store_error: Option<String>,
    /// Bumped on every rotation, so a writer knows whether what it stored is still the newest.
    generation: u64,
    /// Held while a rotated token is being written: one writer per partner at a time.
    pub(super) writer: Arc<Mutex<()>>,
    /// Rotated tokens written so far (reported by `status`).
    rotations_stored: u64,
}

/// When a redemption's caller learns that the rotated refresh token is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settle {
    /// Before the redemption returns.
    Now,
    /// At [`TokenBroker::status`] (or [`TokenBroker::flush`]).
    Later,
}

/// What a write of the newest rotated token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// The newest token is stored (or nothing was left to store).
    Newest,
    /// A token was stored, and a newer one arrived meanwhile.
    Superseded,
    /// The write failed (reported; the previous token stays stored).
    Failed,
}

impl TokenBroker {
    /// Redeems the partner's refresh token once (for Partner Center, at the partner's own
    /// authority) and stores the rotated one, so the grant never expires from inactivity
    /// (90 days). Run it from a scheduled job (e.g. weekly).
    ///
    /// `POST {authority}/{partner}/oauth2[/v2.0]/token` with `grant_type=refresh_token`
    /// (<https://learn.microsoft.com/entra/identity-platform/refresh-tokens#token-lifetime>).
    #[tracing::instrument(skip_all, fields(tenant.id = %partner))]
    pub async fn keepalive(&self, partner: &str) -> Result<GrantStatus, BrokerError> {
        let fetched = self
            .redeem(partner, partner, Resource::PartnerCenter)
            .await?;
        let _ = fetched;
        Ok(self.status(partner).await)
    }

    /// The partners whose consent is stored, with the consent's metadata (no tokens). With Key
    /// Vault this needs the `list` permission on secrets (the broker otherwise needs only get
    /// and set); callers fall back to the configured partners when it is refused.
    ///
    /// A store that reads every grant in one go (the local file) also hands over the tokens:
    /// a partner whose grant this broker has not loaded yet starts from it, so redeeming every
    /// stored partner afterwards (the watch's keepalive) reads the store once, not once per
    /// partner.
    pub async fn stored_partners(&self) -> Result<Vec<GrantMetadata>, BrokerError> {
        let mut metas = match self.inner.store.list_grants().await? {
            Some(grants) => {
                let mut metas = Vec::with_capacity(grants.len());
                for grant in grants {
                    metas.push(grant.meta.clone());
                    let state = self.grant_state(&grant.meta.tenant_id);
                    let mut g = state.lock().await;
                    if g.current.is_none() {
                        g.current = Some(grant);
                        g.persisted = true;
                    }
                }
                metas
            }
            None => self.inner.store.list().await?,
        };
        metas.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        Ok(metas)
    }

    /// The state of a partner's grant: stored or not, its metadata, and whether the latest
    /// rotated token reached the store.
    pub async fn status(&self, partner: &str) -> GrantStatus {
        let state = self.grant_state(partner);
        // A rotation still being written in the background is part of this state.
        self.settle(partner, &state).await;
        let mut g = state.lock().await;
        if g.current.is_none()
            && let Ok(Some(stored)) = self.inner.store.get(partner).await
        {
            g.current = Some(stored);
            g.persisted = true;
        }
        GrantStatus {
            tenant_id: partner.to_owned(),
            meta: g.current.as_ref().map(|c| c.meta.clone()),
            persisted: g.current.is_some() && g.persisted,
            last_store_error: g.last_store_error.clone(),
            location: self.inner.store.location(),
            rotations_stored: g.rotations_stored,
        }
    }

    /// Waits until the newest rotated refresh token of every partner this broker redeemed for
    /// is stored (or its write failed and was reported), for a process about to exit.
    pub async fn flush(&self) {
        let states: Vec<(String, Arc<Mutex<GrantState>>)> = self
            .inner
            .grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(partner, state)| (partner.clone(), state.clone()))
            .collect();
        for (partner, state) in states {
            self.settle(&partner, &state).await;
        }
    }

    pub(super) fn grant_state(&self, partner: &str) -> Arc<Mutex<GrantState>> {
        let mut map = self
            .inner
            .grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(partner.to_ascii_lowercase()).or_default().clone()
    }

    /// The newest refresh token of `partner`, from memory or the store.
    async fn current_grant(&self, partner: &str) -> Result<StoredGrant, BrokerError> {
        let state = self.grant_state(partner);
        let mut g = state.lock().await;
        if let Some(c) = &g.current {
            return Ok(c.clone());
        }
        let stored =
            self.inner
                .store
                .get(partner)
                .await?
                .ok_or_else(|| BrokerError::NotConsented {
                    partner: partner.to_owned(),
                    consent_page: self.inner.settings.consent_page.clone(),
                })?;
        g.current = Some(stored.clone());
        g.persisted = true;
        Ok(stored)
    }

    /// Redeems `partner`'s refresh token at `tenant`'s authority for `resource`, and stores the
    /// rotated refresh token Entra returns with the access token. When Entra refuses the token
    /// (re-consent), a newer consent another instance stored meanwhile is tried once.
    pub(super) async fn redeem(
        &self,
        partner: &str,
        tenant: &str,
        resource: Resource,
    ) -> Result<Fetched, BrokerError> {
        self.redeem_with(partner, tenant, resource, Settle::Now)
            .await
    }

    /// [`Self::redeem`], returning before the rotated token is stored when `settle` says so
    /// (the write still runs to its end in its own task; [`Self::status`] waits for it).
    #[tracing::instrument(skip_all, fields(tenant.id = %tenant, partner.id = %partner, resource = %resource))]
    pub(super) async fn redeem_with(
        &self,
        partner: &str,
        tenant: &str,
        resource: Resource,
        settle: Settle,
    ) -> Result<Fetched, BrokerError> {
        let s = &self.inner.settings;
        let target = TokenTarget::delegated(&s.cloud, s.version, resource).ok_or_else(|| {
            BrokerError::Config(format!("the {} cloud has no {resource}", s.cloud.name))
        })?;
        let grant = self.current_grant(partner).await?;
        let result = self
            .inner
            .client
            .redeem_refresh_token(tenant, &grant.refresh_token, &target)
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) if e.remedy().ends_grant() => {
                // Another instance may have stored a new consent since we loaded ours.
                match self.inner.store.get(partner).await {
                    Ok(Some(stored)) if stored.refresh_token != grant.refresh_token => {
                        self.replace_current(partner, stored.clone()).await;
                        self.inner
                            .client
                            .redeem_refresh_token(tenant, &stored.refresh_token, &target)
                            .await
                            .map_err(|e| self.redeeming(partner, tenant, e))?
                    }
                    _ => return Err(self.redeeming(partner, tenant, e)),
                }
            }
            Err(e) => return Err(self.redeeming(partner, tenant, e)),
        };
        if let Some(rotated) = response.refresh_token.clone() {
            // The rotation takes the partner's writer lock and writes the store: it runs in a
            // task of its own, to its end, even when this redemption's caller goes away (a
            // keepalive cancelled mid-write; the cache already runs each fetch in its own task).
            let broker = self.clone();
            let partner = partner.to_owned();
            let rotation = tokio::spawn(
                async move { broker.rotate(&partner, &grant, rotated).await }
                    .instrument(tracing::Span::current()),
            );
            if settle == Settle::Now
                && let Err(e) = rotation.await
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        Ok(fetched(&response))
    }

    /// What a failed redemption means ([`BrokerError::redeeming`]).
    fn redeeming(&self, partner: &str, tenant: &str, e: crate::entra::TokenError) -> BrokerError {
        BrokerError::redeeming(partner, tenant, &self.inner.settings.consent_page, e)
    }

    /// Stores a new consent's grant and makes it the partner's current one. A consent must be
    /// stored: the write is retried, and its failure is the caller's (an admin sees it). The
    /// partner's writer lock is held, so that a rotation of a previous consent being written
    /// right now cannot land after (and over) this new consent.
    pub(super) async fn store_new_grant(
        &self,
        partner: &str,
        grant: StoredGrant,
    ) -> Result<(), StoreError> {
        let state = self.grant_state(partner);
        let writer = state.lock().await.writer.clone();
        let _writing = writer.lock().await;
        self.put_with_retry(&grant).await?;
        let mut g = state.lock().await;
        g.current = Some(grant);
        g.persisted = true;
        g.last_store_error = None;
        g.generation += 1;
        Ok(())
    }

    pub(super) async fn replace_current(&self, partner: &str, grant: StoredGrant) {
        let state = self.grant_state(partner);
        let mut g = state.lock().await;
        g.current = Some(grant);
        g.persisted = true;
        g.last_store_error = None;
    }

    /// Records a rotated refresh token and stores it. The old token stays valid at Entra, and
    /// stays in the store until a newer one is written, so a failure or a crash at any point
    /// leaves a usable token stored; the newest is always kept in memory.
    ///
    /// Writes are coalesced per partner, one at a time. A redemption that finds no write in
    /// flight stores its token (or a newer one) before it returns, so sequential redemptions
    /// store every rotation. One that finds a write in flight leaves its token to that writer.
    /// When newer tokens arrived during its own write (a fan-out: hundreds of customer-tenant
    /// redemptions), the writer goes on storing the newest in the background, so no caller
    /// waits on writes of tokens other calls rotated (with Key Vault, ~100 ms each, a fan-out
    /// would otherwise hold one caller until it ends). [`TokenBroker::flush`] waits for it.
    async fn rotate(&self, partner: &str, used: &StoredGrant, rotated: RefreshToken) {
        let state = self.grant_state(partner);
        let writer = {
            let mut g = state.lock().await;
            let mut meta = g
                .current
                .as_ref()
                .map_or_else(|| used.meta.clone(), |c| c.meta.clone());
            meta.rotated_at = unix_now();
            g.current = Some(StoredGrant {
                refresh_token: rotated,
                meta,
            });
            g.persisted = false;
            g.generation += 1;
            g.writer.clone()
        };
        let Ok(writing) = writer.try_lock_owned() else {
            // The writer in flight re-checks the generation after its write.
            return;
        };
        match self.write_newest(partner, &state).await {
            Written::Newest => drop(writing),
            Written::Failed => return,
            Written::Superseded => {
                self.write_in_background(partner, state, Some(writing));
                return;
            }
        }
        // A rotation that finished between the write and releasing the writer lock found the
        // lock taken and left; pick its token up.
        if !state.lock().await.persisted {
            self.write_in_background(partner, state, None);
        }
    }

    /// Stores the newest rotated token until none is left unstored, in a task of its own;
    /// `writing` is the writer lock when the caller holds it.
    fn write_in_background(
        &self,
        partner: &str,
        state: Arc<Mutex<GrantState>>,
        mut writing: Option<OwnedMutexGuard<()>>,
    ) {
        let broker = self.clone();
        let partner = partner.to_owned();
        tokio::spawn(async move {
            loop {
                let guard = match writing.take() {
                    Some(guard) => guard,
                    None => {
                        let writer = state.lock().await.writer.clone();
                        match writer.try_lock_owned() {
                            Ok(guard) => guard,
                            // Another writer re-checks after its write.
                            Err(_) => return,
                        }
                    }
                };
                if !broker.write_until_newest(&partner, &state).await {
                    return;
                }
                drop(guard);
                if state.lock().await.persisted {
                    return;
                }
            }
        });
    }

    /// Writes the newest rotated token, when it is not stored yet. The caller holds the
    /// partner's writer lock.
    async fn write_newest(&self, partner: &str, state: &Mutex<GrantState>) -> Written {
        let (grant, generation) = {
            let g = state.lock().await;
            match (&g.current, g.persisted) {
                (Some(current), false) => (current.clone(), g.generation),
                _ => return Written::Newest,
            }
        };
        let result = self.put_with_retry(&grant).await;
        let mut g = state.lock().await;
        match result {
            Ok(()) if g.generation == generation => {
                g.persisted = true;
                g.last_store_error = None;
                g.rotations_stored += 1;
                tracing::debug!(tenant.id = %partner, "rotated refresh token stored");
                Written::Newest
            }
            Ok(()) => {
                g.last_store_error = None;
                g.rotations_stored += 1;
                Written::Superseded
            }
            Err(e) => {
                g.last_store_error = Some(e.to_string());
                tracing::warn!(
                    tenant.id = %partner,
                    store = %self.inner.store.location(),
                    "cannot store the rotated refresh token; the previous one stays stored and valid, and the new one is kept in memory and stored at the next redemption: {e}"
                );
                Written::Failed
            }
        }
    }

    /// Waits for the partner's writer. A token left unstored without a failed write (its
    /// writer is about to start) is written here; a failed write is not retried (the next
    /// redemption does, and [`GrantStatus`] reports it).
    async fn settle(&self, partner: &str, state: &Mutex<GrantState>) {
        let writer = state.lock().await.writer.clone();
        let _writing = writer.lock().await;
        let pending = {
            let g = state.lock().await;
            !g.persisted && g.current.is_some() && g.last_store_error.is_none()
        };
        if pending {
            self.write_until_newest(partner, state).await;
        }
    }

    /// Writes the newest rotated token until no newer one arrived during the write; `false`
    /// when a write failed. The caller holds the partner's writer lock.
    async fn write_until_newest(&self, partner: &str, state: &Mutex<GrantState>) -> bool {
        loop {
            match self.write_newest(partner, state).await {
                Written::Superseded => {}
                Written::Newest => return true,
                Written::Failed => return false,
            }
        }
    }

    async fn put_with_retry(&self, grant: &StoredGrant) -> Result<(), StoreError> {
        let store = &self.inner.store;
        (|| store.put(grant))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(2))
                    .with_max_times(self.inner.settings.store_attempts.saturating_sub(1))
                    .with_jitter(),
            )
            .when(StoreError::is_transient)
            .await
    }
}
