//! An operator's return to the grant before the stored one ([`TokenBroker::restore_previous`]),
//! for when a newer consent turned out worse (signed in by the wrong user, or without MFA).

use super::{BrokerError, TokenBroker, rfc3339, unix_now};
use crate::cloud::Resource;
use crate::entra::TokenTarget;
use crate::store::{GrantMetadata, StoredGrant};

/// What a restore did.
#[derive(Clone, Debug)]
pub struct Restored {
    /// The grant now stored: the earlier one, redeemed and rotated just now.
    pub restored: GrantMetadata,
    /// The grant it replaced (kept by the store as the one to go back to).
    pub replaced: Option<GrantMetadata>,
}

impl TokenBroker {
    /// The grant a restore would put back, without changing anything (no token is redeemed).
    pub async fn previous_grant(
        &self,
        partner: &str,
    ) -> Result<Option<GrantMetadata>, BrokerError> {
        Ok(self.inner.store.previous(partner).await?.map(|g| g.meta))
    }

    /// Puts back the grant the store kept before the stored one
    /// ([`RefreshTokenStore::previous`](crate::store::RefreshTokenStore::previous)), after
    /// checking that it still redeems: one redemption for Partner Center at the partner's
    /// authority, whose rotated refresh token is what is stored. When the earlier grant no
    /// longer redeems, nothing changes. The write is read back; "restored" means the store
    /// holds it.
    ///
    /// Other running instances (partner-consent replicas, a watch) hold the replaced grant in
    /// memory and write it back on their next rotation: restart them after a restore.
    #[tracing::instrument(skip_all, fields(tenant.id = %partner))]
    pub async fn restore_previous(&self, partner: &str) -> Result<Restored, BrokerError> {
        let store = &self.inner.store;
        let previous =
            store
                .previous(partner)
                .await?
                .ok_or_else(|| BrokerError::NothingToRestore {
                    partner: partner.to_owned(),
                    location: store.location(),
                })?;
        let replaced = store.get(partner).await?.map(|g| g.meta);
        let s = &self.inner.settings;
        let target = TokenTarget::delegated(&s.cloud, s.version, Resource::PartnerCenter)
            .ok_or_else(|| {
                BrokerError::Config(format!("the {} cloud has no Partner Center", s.cloud.name))
            })?;
        let response = self
            .inner
            .client
            .redeem_refresh_token(partner, &previous.refresh_token, &target)
            .await
            .map_err(|source| BrokerError::RestoreRefused {
                partner: partner.to_owned(),
                consented_at: rfc3339(previous.meta.consented_at),
                source,
            })?;
        let mut meta = previous.meta.clone();
        meta.rotated_at = unix_now();
        let grant = StoredGrant {
            refresh_token: response
                .refresh_token
                .clone()
                .unwrap_or(previous.refresh_token),
            meta,
        };
        // The write holds the partner's writer lock and must finish even when the caller goes
        // away (Ctrl-C between the write and its read-back): it runs in a task of its own.
        let broker = self.clone();
        let partner_id = partner.to_owned();
        let written = tokio::spawn(async move { broker.write_restored(&partner_id, grant).await });
        let restored = match written.await {
            Ok(result) => result?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {
                return Err(BrokerError::Config(
                    "the restore was cancelled while writing; run `status` to see which grant is stored".into(),
                ));
            }
        };
        Ok(Restored { restored, replaced })
    }

    async fn write_restored(
        &self,
        partner: &str,
        grant: StoredGrant,
    ) -> Result<GrantMetadata, BrokerError> {
        let state = self.grant_state(partner);
        let writer = state.lock().await.writer.clone();
        let _writing = writer.lock().await;
        self.inner.store.restore(&grant).await?;
        self.check_recorded(partner, &grant.refresh_token).await?;
        let meta = grant.meta.clone();
        self.replace_current(partner, grant).await;
        Ok(meta)
    }
}
