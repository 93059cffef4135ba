//! Single-flight against the emulator's request counters.

use std::sync::Arc;

use common::cloud::Resource;
use common::config::EndpointVersion;
use common::entra::{EntraClient, TokenTarget};
use common::tokens::{AccessTokenCache, CachePolicy, Fetched, Identity, KeyRef};
use emulator::seed::ids;

use crate::helpers::{ADMIN, Cred, spawn};

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
