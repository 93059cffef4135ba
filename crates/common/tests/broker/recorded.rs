//! A consent is "recorded" only when the store holds it, and a grant dated in the future by a
//! fast clock does not make every later consent look older.

use std::sync::Arc;

use common::config::EndpointVersion;
use common::secret::RefreshToken;
use common::tokens::{BrokerError, GrantMetadata, RefreshTokenStore, StoreError, StoredGrant};
use emulator::seed::ids;

use crate::helpers::{ADMIN, Cred, spawn};

#[tokio::test]
async fn a_grant_dated_in_the_future_does_not_block_later_consents() {
    let env = spawn().await;
    let store = env.local_store();
    let broker = env.broker(EndpointVersion::V2, Cred::Secret, store.clone());
    env.consent(&broker, ADMIN).await;
    // A replica whose clock is a day ahead wrote the partner's grant.
    let mut ahead = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    ahead.meta.consented_at += 86_400;
    ahead.meta.rotated_at += 86_400;
    ahead.refresh_token = RefreshToken::new("written-by-a-fast-clock".to_owned());
    store.put(&ahead).await.unwrap();

    let record = env.consent(&broker, ADMIN).await;
    let stored = store.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_eq!(
        stored.meta, record.meta,
        "the new consent replaced the future-dated grant"
    );
    assert_ne!(stored.refresh_token, ahead.refresh_token);
}

/// Another instance stores a newer consent of the same partner while this one writes.
#[derive(Debug)]
struct RacingStore {
    inner: Arc<dyn RefreshTokenStore>,
}

#[async_trait::async_trait]
impl RefreshTokenStore for RacingStore {
    async fn get(&self, tenant_id: &str) -> Result<Option<StoredGrant>, StoreError> {
        self.inner.get(tenant_id).await
    }
    async fn put(&self, grant: &StoredGrant) -> Result<(), StoreError> {
        let other = StoredGrant {
            refresh_token: RefreshToken::new("the-other-instance's-consent".to_owned()),
            meta: GrantMetadata {
                user: Some("other-admin@contoso-partner.onmicrosoft.com".into()),
                consented_at: grant.meta.consented_at + 5,
                rotated_at: grant.meta.rotated_at + 5,
                ..grant.meta.clone()
            },
        };
        self.inner.put(&other).await?;
        self.inner.put(grant).await
    }
    async fn list(&self) -> Result<Vec<GrantMetadata>, StoreError> {
        self.inner.list().await
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

#[tokio::test]
async fn a_consent_the_store_does_not_hold_is_not_reported_recorded() {
    let env = spawn().await;
    let store = Arc::new(RacingStore {
        inner: env.local_store(),
    });
    let broker = env.broker(EndpointVersion::V2, Cred::Secret, store.clone());
    let err = env.try_consent(&broker, ADMIN).await.unwrap_err();
    assert!(matches!(err, BrokerError::NotRecorded { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("other-admin@contoso-partner.onmicrosoft.com"),
        "{text}"
    );
    assert!(
        !text.contains("the-other-instance"),
        "a token leaked: {text}"
    );
}
