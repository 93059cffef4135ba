//! A redemption whose caller goes away still ends: its rotated token is written and the
//! partner's writer lock released, so `flush` (every CLI's last step) returns. Issue 25 §6: the
//! customer discovery aborted the GDAP list while its token's rotation was being written, and
//! `csp-app users list --all-customers` hung in `flush` at exit.

use std::sync::Arc;
use std::time::Duration;

use common::cloud::Resource;
use common::config::EndpointVersion;
use common::secret::ExposeSecret as _;
use common::tokens::RefreshTokenStore as _;
use emulator::seed::ids;

use crate::helpers::{ADMIN, Cred, GatedStore, spawn};

const DEADLINE: Duration = Duration::from_secs(20);

/// The caller of a redemption is aborted while the rotated token's write waits at a gate: the
/// redemption goes on without it, the write completes once the gate opens, `flush` returns, and
/// the token it fetched is cached (asking again sends no request to Entra).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_caller_leaves_its_redemption_to_finish_and_flush_returns() {
    let env = spawn().await;
    let local = env.local_store();
    let setup = env.broker(EndpointVersion::V1, Cred::Ps256, local.clone());
    env.consent(&setup, ADMIN).await;
    let consented = local.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let go = Arc::new(tokio::sync::Semaphore::new(0));
    let store = Arc::new(GatedStore {
        inner: local.clone(),
        started: started_tx,
        go: go.clone(),
    });
    let broker = env.broker(EndpointVersion::V1, Cred::Ps256, store);

    // The caller redeems; the rotated token's write (holding the writer lock) waits at the gate.
    let caller = tokio::spawn({
        let broker = broker.clone();
        async move {
            broker
                .access_token(ids::PARTNER_TENANT, Resource::Graph)
                .await
        }
    });
    tokio::time::timeout(DEADLINE, started.recv())
        .await
        .expect("the rotated token's write starts")
        .expect("the store reports the write");
    let redemptions = env.emu.counter("entra.token");

    // The caller goes away mid-write, like the GDAP list when Partner Center refuses the
    // customer list; then the store answers.
    caller.abort();
    assert!(
        caller.await.unwrap_err().is_cancelled(),
        "the caller was aborted mid-redemption"
    );
    go.add_permits(16);

    tokio::time::timeout(Duration::from_secs(10), broker.flush())
        .await
        .expect("flush returns: the abandoned redemption finished and released the writer lock");
    let status = broker.status(ids::PARTNER_TENANT).await;
    assert!(status.persisted, "{status:?}");
    assert_eq!(status.rotations_stored, 1, "{status:?}");
    let stored = local.get(ids::PARTNER_TENANT).await.unwrap().unwrap();
    assert_ne!(
        stored.refresh_token.expose_secret(),
        consented.refresh_token.expose_secret(),
        "the rotated token replaced the consented one"
    );
    // The abandoned redemption's token was cached for the next caller.
    tokio::time::timeout(
        DEADLINE,
        broker.access_token(ids::PARTNER_TENANT, Resource::Graph),
    )
    .await
    .expect("a cached token comes at once")
    .expect("token");
    assert_eq!(
        env.emu.counter("entra.token"),
        redemptions,
        "no new redemption"
    );
}

/// A fetch that panics leaves no request in flight behind it: the next caller of the key starts
/// a new one instead of waiting forever (or panicking) on the dead one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_that_panics_leaves_the_key_to_the_next_caller() {
    use common::secret::AccessToken;
    use common::tokens::{AccessTokenCache, CachePolicy, Fetched, Identity, KeyRef};
    let cache = Arc::new(AccessTokenCache::<String>::new(CachePolicy::default()));
    let key = KeyRef {
        tenant: "t",
        resource: Resource::Graph,
        identity: Identity::App,
    };
    let first = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get_or_fetch(key, || async { panic!("the fetch fails hard") })
                .await
        }
    });
    assert!(
        first.await.unwrap_err().is_panic(),
        "the panic reaches the caller"
    );
    let token = tokio::time::timeout(
        DEADLINE,
        cache.get_or_fetch(key, || async {
            Ok(Fetched {
                access_token: AccessToken::new("AT"),
                received_at: std::time::Instant::now(),
                expires_in: Duration::from_secs(3600),
                refresh_in: None,
            })
        }),
    )
    .await
    .expect("the next caller does not wait on the dead request")
    .expect("token");
    assert_eq!(token.expose_secret(), "AT");
}
