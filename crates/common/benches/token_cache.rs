//! Access-token cache hit latency and multi-threaded hit throughput.
//!
//! Targets (issue #9): median hit under 200 ns; at least 4,000,000 hits/s across 2 threads.
//! Run: `cargo bench -p common --bench token_cache`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cloud::Resource;
use common::secret::AccessToken;
use common::tokens::{AccessTokenCache, CachePolicy, Fetched, Identity, KeyRef};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::FutureExt as _;

const TENANT: &str = "20000000-0000-4000-8000-000000000001";
const PARTNER: &str = "10000000-0000-4000-8000-000000000001";

fn key() -> KeyRef<'static> {
    KeyRef {
        tenant: TENANT,
        resource: Resource::Graph,
        identity: Identity::Delegated { partner: PARTNER },
    }
}

/// A cache holding 1,000 keys, one of them the benchmarked one; tokens are JWT-sized (1.5 KB).
fn warm_cache() -> Arc<AccessTokenCache<String>> {
    let cache = Arc::new(AccessTokenCache::<String>::new(CachePolicy::default()));
    // A miss runs its fetch in a task of its own: filling the cache needs a runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let token = "e".repeat(1500);
    let tenants: Vec<String> = (0..999).map(|i| format!("tenant-{i}")).collect();
    for t in tenants.iter().map(String::as_str).chain([TENANT]) {
        let k = KeyRef { tenant: t, ..key() };
        let token = token.clone();
        runtime
            .block_on(cache.get_or_fetch(k, move || async move {
                Ok(Fetched {
                    access_token: AccessToken::new(token),
                    received_at: Instant::now(),
                    expires_in: Duration::from_secs(3600),
                    refresh_in: None,
                })
            }))
            .expect("fetch succeeds");
    }
    cache
}

fn hit_latency(c: &mut Criterion) {
    let cache = warm_cache();
    let mut group = c.benchmark_group("cache_hit");
    group.bench_function("get_shared", |b| {
        b.iter(|| black_box(cache.get_shared(black_box(key()))))
    });
    group.bench_function("get", |b| b.iter(|| black_box(cache.get(black_box(key())))));
    group.bench_function("get_or_fetch_shared", |b| {
        b.iter(|| {
            black_box(
                cache
                    .get_or_fetch_shared(black_box(key()), || async {
                        Err::<Fetched, _>("miss".to_owned())
                    })
                    .now_or_never(),
            )
        })
    });
    group.bench_function("get_or_fetch", |b| {
        b.iter(|| {
            black_box(
                cache
                    .get_or_fetch(black_box(key()), || async {
                        Err::<Fetched, _>("miss".to_owned())
                    })
                    .now_or_never(),
            )
        })
    });
    group.finish();
}

fn hit_throughput(c: &mut Criterion) {
    let cache = warm_cache();
    let mut group = c.benchmark_group("cache_hit_2_threads");
    // One iteration = one hit on each of the two threads.
    group.throughput(Throughput::Elements(2));
    for (name, shared) in [("get_shared", true), ("get", false)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let barrier = Arc::new(std::sync::Barrier::new(3));
                let threads: Vec<_> = (0..2)
                    .map(|_| {
                        let (cache, barrier) = (cache.clone(), barrier.clone());
                        std::thread::spawn(move || {
                            barrier.wait();
                            for _ in 0..iters {
                                if shared {
                                    black_box(cache.get_shared(black_box(key())));
                                } else {
                                    black_box(cache.get(black_box(key())));
                                }
                            }
                        })
                    })
                    .collect();
                barrier.wait();
                let start = Instant::now();
                for t in threads {
                    t.join().expect("bench thread");
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hit_latency, hit_throughput);
criterion_main!(benches);
