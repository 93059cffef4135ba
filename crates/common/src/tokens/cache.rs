//! The access-token cache: per (tenant, resource, identity), with expiry skew, refresh ahead of
//! expiry and single-flight (concurrent callers for one key share one token request).
//!
//! A hit takes one uncontended-in-the-common-case read lock, one hash of the key (borrowed, no
//! allocation) and one clock read, then clones the token. A miss joins the request in flight
//! for the key, or starts it. Once a token is within `refresh_ahead` of its expiry, callers still
//! get it while one background request fetches the next.
//!
//! Every request runs in a tokio task of its own, never in the task of the caller that started
//! it: a fetch may hold locks and write the refresh-token store (the broker's rotation), and it
//! must run to its end whatever happens to its callers. A caller that is dropped or aborted
//! (a fan-out stopping at its first failure) only stops waiting; the request finishes, caches its
//! token and releases what it holds. A fetch that panics leaves no request in flight behind it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use tracing::Instrument as _;

use crate::cloud::Resource;
use crate::secret::AccessToken;

/// Whose token: a partner's delegated (app + user) grant, or the application itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Identity<'a> {
    /// App + user, through the refresh token of this partner tenant.
    Delegated {
        /// The partner tenant whose refresh token is redeemed.
        partner: &'a str,
    },
    /// App-only (client credentials).
    App,
}

/// A cache key, borrowed: what callers pass to look a token up without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef<'a> {
    /// The tenant the token is for (partner or customer).
    pub tenant: &'a str,
    /// The API.
    pub resource: Resource,
    /// Whose token.
    pub identity: Identity<'a>,
}

/// A cache key, owned.
#[derive(Clone, Debug)]
struct CacheKey {
    tenant: Box<str>,
    resource: Resource,
    partner: Option<Box<str>>,
}

trait KeyView {
    fn parts(&self) -> (&str, Resource, Option<&str>);
}

impl KeyView for CacheKey {
    fn parts(&self) -> (&str, Resource, Option<&str>) {
        (&self.tenant, self.resource, self.partner.as_deref())
    }
}

impl KeyView for KeyRef<'_> {
    fn parts(&self) -> (&str, Resource, Option<&str>) {
        let partner = match self.identity {
            Identity::Delegated { partner } => Some(partner),
            Identity::App => None,
        };
        (self.tenant, self.resource, partner)
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyView + '_ {}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn KeyView).hash(state);
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for CacheKey {}

impl<'a> Borrow<dyn KeyView + 'a> for CacheKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl KeyRef<'_> {
    fn to_owned_key(self) -> CacheKey {
        let (tenant, resource, partner) = self.parts();
        CacheKey {
            tenant: tenant.into(),
            resource,
            partner: partner.map(Into::into),
        }
    }
}

/// A freshly fetched token, as the fetch function returns it.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The token.
    pub access_token: AccessToken,
    /// When it was received.
    pub received_at: Instant,
    /// Its lifetime from `received_at`.
    pub expires_in: Duration,
    /// Entra's proactive-refresh hint, if any.
    pub refresh_in: Option<Duration>,
}

/// When cached tokens are refreshed and dropped.
#[derive(Clone, Copy, Debug)]
pub struct CachePolicy {
    /// A token is not handed out within this margin of its expiry (clock skew, request time).
    pub expiry_skew: Duration,
    /// A token is refreshed in the background from this long before its expiry (at most half
    /// its lifetime).
    pub refresh_ahead: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            expiry_skew: Duration::from_secs(60),
            refresh_ahead: Duration::from_secs(300),
        }
    }
}

#[derive(Clone)]
struct CachedToken {
    access_token: Arc<AccessToken>,
    fresh_until: Instant,
    usable_until: Instant,
}

impl CachedToken {
    fn new(f: Fetched, policy: CachePolicy) -> Self {
        let life = f.expires_in;
        let mut fresh = life.saturating_sub(policy.refresh_ahead.min(life / 2));
        if let Some(r) = f.refresh_in {
            fresh = fresh.min(r);
        }
        let usable = life
            .saturating_sub(policy.expiry_skew.min(life / 4))
            .max(fresh);
        Self {
            access_token: Arc::new(f.access_token),
            fresh_until: f.received_at + fresh,
            usable_until: f.received_at + usable,
        }
    }
}

type Flight<E> = Shared<BoxFuture<'static, Result<Arc<AccessToken>, E>>>;

struct Entry<E> {
    token: Option<CachedToken>,
    inflight: Option<Flight<E>>,
}

// foldhash instead of SipHash: a hit hashes ~80 bytes of key (two tenant GUIDs), and SipHash
// alone was a third of the hit's cost. Keys are tenant IDs from configuration and Partner
// Center, not attacker-chosen strings, and foldhash's per-process random seed still spreads them.
type Map<E> = HashMap<CacheKey, Entry<E>, foldhash::fast::RandomState>;

/// The access-token cache. `E` is the fetch error, shared by every caller of a failed flight.
pub struct AccessTokenCache<E> {
    map: Arc<RwLock<Map<E>>>,
    policy: CachePolicy,
}

impl<E> fmt::Debug for AccessTokenCache<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenCache")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<E: Clone + Send + Sync + 'static> AccessTokenCache<E> {
    /// An empty cache.
    pub fn new(policy: CachePolicy) -> Self {
        Self {
            map: Arc::new(RwLock::new(HashMap::default())),
            policy,
        }
    }

    /// A fresh cached token, without fetching (a copy of the secret; see [`Self::get_shared`]).
    pub fn get(&self, key: KeyRef<'_>) -> Option<AccessToken> {
        // Clone the token itself (one reference-count increment: secrets are `Arc`-backed)
        // while the read lock is held, rather than the shared `Arc` and then the token.
        let now = Instant::now();
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let t = map.get(&key as &dyn KeyView)?.token.as_ref()?;
        (now < t.fresh_until).then(|| AccessToken::clone(&t.access_token))
    }

    /// A fresh cached token, shared: no copy of the secret is made (and none zeroised on drop).
    pub fn get_shared(&self, key: KeyRef<'_>) -> Option<Arc<AccessToken>> {
        let now = Instant::now();
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get(&key as &dyn KeyView)?;
        let t = entry.token.as_ref()?;
        (now < t.fresh_until).then(|| Arc::clone(&t.access_token))
    }

    /// The cached token for `key`, or the result of `fetch`, called at most once for all
    /// concurrent callers of the same key. A token near its expiry is still returned while
    /// `fetch` runs in the background.
    pub async fn get_or_fetch<F, Fut>(&self, key: KeyRef<'_>, fetch: F) -> Result<AccessToken, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, E>> + Send + 'static,
    {
        self.get_or_fetch_shared(key, fetch)
            .await
            .map(|t| AccessToken::clone(&t))
    }

    /// [`Self::get_or_fetch`], returning the shared token (no copy of the secret).
    pub async fn get_or_fetch_shared<F, Fut>(
        &self,
        key: KeyRef<'_>,
        fetch: F,
    ) -> Result<Arc<AccessToken>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, E>> + Send + 'static,
    {
        if let Some(t) = self.get_shared(key) {
            return Ok(t);
        }
        let (flight, stale) = {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if !map.contains_key(&key as &dyn KeyView) {
                map.insert(
                    key.to_owned_key(),
                    Entry {
                        token: None,
                        inflight: None,
                    },
                );
            }
            let entry = map
                .get_mut(&key as &dyn KeyView)
                .expect("the entry was just inserted");
            let stale = match &entry.token {
                Some(t) if now < t.fresh_until => return Ok(Arc::clone(&t.access_token)),
                Some(t) if now < t.usable_until => Some(Arc::clone(&t.access_token)),
                _ => None,
            };
            let flight = match &entry.inflight {
                Some(f) => f.clone(),
                None => {
                    let f = self.flight(key.to_owned_key(), fetch());
                    entry.inflight = Some(f.clone());
                    f
                }
            };
            (flight, stale)
        };
        if let Some(token) = stale {
            // The refresh runs in its own task (see `flight`); nobody needs to wait for it.
            return Ok(token);
        }
        flight.await
    }

    /// Starts the request for `key` in a task of its own and returns the shared handle its
    /// callers wait on. The task ends on its own: it needs no poller, so a caller dropped or
    /// aborted mid-request (the only one, or all of them) leaves it running to its end — a
    /// fetch that holds the partner's writer lock and writes the store always releases them.
    /// It runs in the span of the caller that started it. Called with the map's write lock
    /// held, so the task's own update of the entry comes after the caller's.
    fn flight<Fut>(&self, key: CacheKey, fetch: Fut) -> Flight<E>
    where
        Fut: Future<Output = Result<Fetched, E>> + Send + 'static,
    {
        let landing = Landing {
            map: Arc::clone(&self.map),
            key: Some(key),
            policy: self.policy,
        };
        let task = tokio::spawn(
            async move {
                let result = fetch.await;
                landing.land(result)
            }
            .instrument(tracing::Span::current()),
        );
        async move {
            match task.await {
                Ok(result) => result,
                // The fetch's panic is its callers' (the entry was cleared by `Landing`'s drop).
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: only when the runtime shuts down, taking every caller with it.
                Err(_) => panic!("the token request was cancelled: the runtime is shutting down"),
            }
        }
        .boxed()
        .shared()
    }

    /// Forgets the token of `key` (e.g. after an API answered 401 for it).
    pub fn invalidate(&self, key: KeyRef<'_>) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = map.get_mut(&key as &dyn KeyView) {
            e.token = None;
        }
    }

    /// Forgets every token obtained through `partner`'s grant (after a new consent).
    pub fn invalidate_partner(&self, partner: &str) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        for (k, e) in map.iter_mut() {
            if k.partner.as_deref() == Some(partner) {
                e.token = None;
            }
        }
    }

    /// Drops entries whose token has expired and that have no request in flight.
    pub fn purge_expired(&self) {
        let now = Instant::now();
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, e| {
            e.inflight.is_some() || e.token.as_ref().is_some_and(|t| now < t.usable_until)
        });
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the cache holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a request's result lands: the entry of its key. Dropped without landing (the fetch
/// panicked, or the runtime shut down), it clears the entry's request in flight, so that the
/// next caller starts a new one instead of waiting on one that will never end.
struct Landing<E> {
    map: Arc<RwLock<Map<E>>>,
    key: Option<CacheKey>,
    policy: CachePolicy,
}

impl<E> Landing<E> {
    /// Caches a fetched token and ends the request in flight; gives the result to its callers.
    fn land(mut self, result: Result<Fetched, E>) -> Result<Arc<AccessToken>, E> {
        let key = self.key.take().expect("a request lands once");
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get_mut(&key as &dyn KeyView);
        match (result, entry) {
            (Ok(fetched), Some(entry)) => {
                let cached = CachedToken::new(fetched, self.policy);
                let token = Arc::clone(&cached.access_token);
                entry.token = Some(cached);
                entry.inflight = None;
                Ok(token)
            }
            (Ok(fetched), None) => Ok(Arc::new(fetched.access_token)),
            (Err(e), entry) => {
                if let Some(entry) = entry {
                    entry.inflight = None;
                }
                Err(e)
            }
        }
    }
}

impl<E> Drop for Landing<E> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = map.get_mut(&key as &dyn KeyView) {
                entry.inflight = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ExposeSecret as _;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(tenant: &str) -> KeyRef<'_> {
        KeyRef {
            tenant,
            resource: Resource::Graph,
            identity: Identity::App,
        }
    }

    fn fetched(value: &str, life: u64) -> Fetched {
        Fetched {
            access_token: AccessToken::new(value),
            received_at: Instant::now(),
            expires_in: Duration::from_secs(life),
            refresh_in: None,
        }
    }

    /// `callers` tasks asking for key `t` at once, each offering a fetch that counts itself in
    /// `calls`, takes 20 ms and gives `answer`.
    fn spawn_callers(
        cache: &Arc<AccessTokenCache<String>>,
        calls: &Arc<AtomicUsize>,
        callers: usize,
        answer: fn() -> Result<Fetched, String>,
    ) -> Vec<tokio::task::JoinHandle<Result<AccessToken, String>>> {
        (0..callers)
            .map(|_| {
                let cache = cache.clone();
                let calls = calls.clone();
                tokio::spawn(async move {
                    cache
                        .get_or_fetch(key("t"), move || async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            answer()
                        })
                        .await
                })
            })
            .collect()
    }

    #[tokio::test]
    async fn concurrent_callers_of_one_cold_key_share_one_fetch() {
        let cache = Arc::new(AccessTokenCache::<String>::new(CachePolicy::default()));
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks = spawn_callers(&cache, &calls, 1000, || Ok(fetched("AT", 3600)));
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().expose_secret(), "AT");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get(key("t")).unwrap().expose_secret(), "AT");
    }

    #[tokio::test]
    async fn a_failed_fetch_is_shared_by_its_waiters_and_not_cached() {
        let cache = Arc::new(AccessTokenCache::<String>::new(CachePolicy::default()));
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks = spawn_callers(&cache, &calls, 50, || Err("invalid_grant".to_owned()));
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err(), "invalid_grant");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(cache.get(key("t")).is_none());
        let ok = cache
            .get_or_fetch(key("t"), || async { Ok(fetched("AT2", 3600)) })
            .await
            .unwrap();
        assert_eq!(ok.expose_secret(), "AT2");
    }

    #[tokio::test]
    async fn a_token_near_expiry_is_served_while_one_background_fetch_refreshes_it() {
        let cache = AccessTokenCache::<String>::new(CachePolicy {
            expiry_skew: Duration::from_secs(1),
            refresh_ahead: Duration::from_secs(300),
        });
        // Lifetime 10 s: fresh for 5 s (half), usable for 9 s.
        let mut first = fetched("OLD", 10);
        first.received_at -= Duration::from_secs(6);
        cache
            .get_or_fetch(key("t"), || async { Ok(first) })
            .await
            .unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let calls = calls.clone();
            let got = cache
                .get_or_fetch(key("t"), move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(fetched("NEW", 3600))
                })
                .await
                .unwrap();
            assert_eq!(got.expose_secret(), "OLD");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get(key("t")).unwrap().expose_secret(), "NEW");
    }

    #[tokio::test]
    async fn an_expired_token_is_never_returned() {
        let cache = AccessTokenCache::<String>::new(CachePolicy::default());
        let mut old = fetched("OLD", 100);
        old.received_at -= Duration::from_secs(99);
        cache
            .get_or_fetch(key("t"), || async { Ok(old) })
            .await
            .unwrap();
        assert!(cache.get(key("t")).is_none());
        let got = cache
            .get_or_fetch(key("t"), || async { Ok(fetched("NEW", 3600)) })
            .await
            .unwrap();
        assert_eq!(got.expose_secret(), "NEW");
    }

    #[tokio::test]
    async fn keys_differ_by_tenant_resource_and_identity() {
        let cache = AccessTokenCache::<String>::new(CachePolicy::default());
        let keys = [
            key("a"),
            key("b"),
            KeyRef {
                resource: Resource::PartnerCenter,
                ..key("a")
            },
            KeyRef {
                identity: Identity::Delegated { partner: "p" },
                ..key("a")
            },
        ];
        for (i, k) in keys.iter().enumerate() {
            let v = format!("AT{i}");
            cache
                .get_or_fetch(*k, || async move { Ok(fetched(&v, 3600)) })
                .await
                .unwrap();
        }
        assert_eq!(cache.len(), 4);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(cache.get(*k).unwrap().expose_secret(), format!("AT{i}"));
        }
        cache.invalidate_partner("p");
        assert!(cache.get(keys[3]).is_none());
        assert!(cache.get(keys[0]).is_some());
    }
}
