//! Single-flight against the emulator's request counters.

use std::sync::Arc;

use common::cloud::Resource;
use common::config::EndpointVersion;
use common::entra::{EntraClient, TokenTarget};
use common::secret::ExposeSecret as _;
use common::tokens::{
    AccessTokenCache, CachePolicy, Fetched, Identity, KeyRef, RefreshTokenStore as _,
};
use emulator::seed::ids;

use crate::helpers::{ADMIN, Cred, GatedStore, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_for_one_cold_key_send_one_token_request() {
    let env = spawn().await;
    let broker = env.broker(EndpointVersion::V1, Cred::Ps256, env.local_store());
    env.consent(&broker, ADMIN).await;
    let before = env.emu.counter("entra.token");
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let broker = broker.clone();
            tokio::spawn(async move {
                broker
                    .access_token(ids::CUSTOMER_FABRIKAM, Resource::Graph)
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(env.emu.counter("entra.token") - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_over_a_hundred_keys_send_a_hundred_token_requests() {
    let env = spawn().await;
    let client = Arc::new(EntraClient::new(
        env.http.clone(),
        env.cloud.authority_host.clone(),
        ids::CSP_APP,
        env.credential(Cred::Secret),
        EndpointVersion::V2,
    ));
    let target = TokenTarget::app_only(&env.cloud, EndpointVersion::V2, Resource::Graph).unwrap();
    let cache = Arc::new(AccessTokenCache::<String>::new(CachePolicy::default()));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let (cache, client, target) = (cache.clone(), client.clone(), target.clone());
            tokio::spawn(async move {
                // 100 distinct keys (the cache key is the caller's; every fetch asks Entra).
                let tenant = format!("tenant-{}", i % 100);
                let key = KeyRef {
                    tenant: &tenant,
                    resource: Resource::Graph,
                    identity: Identity::App,
                };
                cache
                    .get_or_fetch(key, move || async move {
                        let r = client
                            .client_credentials(ids::PARTNER_TENANT, &target)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(Fetched {
                            access_token: r.access_token,
                            received_at: r.received_at,
                            expires_in: r.expires_in,
                            refresh_in: r.refresh_in,
                        })
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(env.emu.counter("entra.token.client_credentials"), 100);
    assert_eq!(cache.len(), 100);
}

/// Concurrent redemptions at several tenants each rotate the refresh token; the broker writes
/// the rotations one at a time (coalescing those that finish during a write) and ends with the
/// newest stored: a fresh broker on the same store keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_are_coalesced_and_the_newest_token_ends_up_stored() {
    let env = spawn().await;
    let store = env.local_store();
    let broker = env.broker(EndpointVersion::V1, Cred::Ps256, store.clone());
    env.consent(&broker, ADMIN).await;
    let keys = [
        (ids::PARTNER_TENANT, Resource::Graph),
        (ids::PARTNER_TENANT, Resource::PartnerCenter),
        (ids::CUSTOMER_FABRIKAM, Resource::Graph),
        (ids::CUSTOMER_NORTHWIND, Resource::Graph),
    ];
    let before = env.emu.counter("entra.token");
    let tasks: Vec<_> = keys
        .iter()
        .map(|&(tenant, resource)| {
            let broker = broker.clone();
            tokio::spawn(async move { broker.access_token(tenant, resource).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(env.emu.counter("entra.token") - before, 4);
    let status = broker.status(ids::PARTNER_TENANT).await;
    assert!(
        status.persisted,
        "the newest rotated token is stored: {status:?}"
    );
    assert!((1..=4).contains(&status.rotations_stored), "{status:?}");

    let fresh = env.broker(EndpointVersion::V1, Cred::Ps256, store);
    fresh
        .access_token(ids::PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .expect("the stored token still redeems");
}

/// With a slow store (Key Vault: ~100 ms a write), a redemption that writes its rotated token
/// returns once that write is done, not after the writes of tokens other redemptions rotated
/// meanwhile: those are stored in the background, and `flush` waits for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_waits_for_its_own_write_only_and_flush_stores_the_newest() {
    let env = spawn().await;
    let local = env.local_store();
    let setup = env.broker(EndpointVersion::V1, Cred::Ps256, local.clone());
    env.consent(&setup, ADMIN).await;
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let go = Arc::new(tokio::sync::Semaphore::new(0));
    let store = Arc::new(GatedStore {
        inner: local.clone(),
        started: started_tx,
        go: go.clone(),
    });
    let broker = env.broker(EndpointVersion::V1, Cred::Ps256, store);
    let deadline = std::time::Duration::from_secs(20);

    // The first redemption writes its rotated token; the write waits at the gate.
    let first = tokio::spawn({
        let broker = broker.clone();
        async move {
            broker
                .access_token(ids::CUSTOMER_FABRIKAM, Resource::Graph)
                .await
        }
    });
    tokio::time::timeout(deadline, started.recv())
        .await
        .expect("the first write starts");
    // Another redemption rotates the token meanwhile; it leaves its token to the writer.
    tokio::time::timeout(
        deadline,
        broker.access_token(ids::CUSTOMER_NORTHWIND, Resource::Graph),
    )
    .await
    .expect("a redemption during a write does not wait for it")
    .expect("token");
    assert!(!first.is_finished(), "the first write is still at the gate");

    // Its own write done, the first redemption returns while the newer token's write waits.
    go.add_permits(1);
    tokio::time::timeout(deadline, first)
        .await
        .expect("the first redemption returns after its own write only")
        .unwrap()
        .expect("token");
    tokio::time::timeout(deadline, started.recv())
        .await
        .expect("the newer token's write starts in the background");
    let before_flush = local.get(ids::PARTNER_TENANT).await.unwrap().unwrap();

    let mut flush = tokio::spawn({
        let broker = broker.clone();
        async move { broker.flush().await }
    });
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), &mut flush)
            .await
            .is_err(),
        "flush waits for the write in flight"
    );
    go.add_permits(1);
    tokio::time::timeout(deadline, flush)
        .await
        .expect("flush returns once the newest token is stored")
        .unwrap();
    let status = broker.status(ids::PARTNER_TENANT).await;
    assert!(status.persisted, "{status:?}");
    assert_eq!(status.rotations_stored, 2, "{status:?}");
    let stored = local.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_ne!(
        stored.refresh_token.expose_secret(),
        before_flush.refresh_token.expose_secret(),
        "the newest rotated token replaced the first one"
    );
    // It is the token the broker redeems with: a fresh broker on the store works.
    env.broker(EndpointVersion::V1, Cred::Ps256, local)
        .access_token(ids::PARTNER_TENANT, Resource::PartnerCenter)
        .await
        .expect("the stored token redeems");
}
