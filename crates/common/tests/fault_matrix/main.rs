//! The fault matrix: the partner's grant survives every failure this suite can inject.
//!
//! Each case starts its own emulator, stores a consent (local file or Key Vault), injects faults
//! through the emulator's fault API (Entra ID and Key Vault: 5xx, 429 with `Retry-After`,
//! timeouts, dropped connections, refusals) or the file system, shifts the clock, and runs a
//! rotation (`keepalive`) or a customer-tenant redemption. After every case the faults are
//! cleared and a **new** broker on the same store (a fresh process) must redeem the stored
//! token: that is "not lost". A failure of the faulted call must name what to do (a remedy, or
//! advice in its text). Each case runs in its own task, so a panic is counted, not fatal.
//!
//! No harness: `main` runs every case and prints the table (cases, tokens lost, panics), then
//! fails when a token was lost or something panicked. Not covered here: `kill -9` of a process
//! mid-rotation (the store's atomic writes are tested in `tokens::local` and the two-process
//! test), and a read-only store file (root, which CI runs as, writes through file modes).

#[path = "../broker/helpers.rs"]
#[expect(
    dead_code,
    reason = "shared with the broker suite; this target uses part of it"
)]
mod helpers;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use common::cloud::Resource;
use common::config::{EndpointVersion, HttpSettings, KeyVaultIdentity, KeyVaultSettings};
use common::keyvault::KeyVaultStore;
use common::remedy::Remedy;
use common::secret::ClientSecret;
use common::tokens::{RefreshTokenStore, TokenBroker};
use emulator::seed::ids;
use emulator::{Fault, Service};
use helpers::{ADMIN, Cred, Env};
use url::Url;

/// The client's request timeout in this suite: a fault's latency beyond it is a timeout.
const TIMEOUT: Duration = Duration::from_millis(700);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Store {
    Local,
    KeyVault,
}

#[derive(Clone, Copy, Debug)]
enum Operation {
    /// Redeem and rotate the partner's token (`keepalive`).
    Rotate,
    /// A delegated token at a customer's authority (GDAP), which also rotates.
    Customer,
}

#[derive(Clone, Debug)]
enum Injury {
    /// Faults through the emulator's API.
    Faults(Vec<Fault>),
    /// The emulator's clock moved by this many seconds (positive: ahead of ours).
    ClockAhead(u64),
    /// The local store's lock file replaced by a directory: every write fails.
    BrokenStoreWrite,
}

#[derive(Clone, Debug)]
struct Case {
    name: String,
    store: Store,
    operation: Operation,
    injury: Injury,
}

#[derive(Debug)]
struct Outcome {
    /// The faulted call: `None` succeeded, `Some(text)` failed with this text.
    failure: Option<String>,
    /// The failure named what to do.
    named_fix: bool,
    /// After the faults, a fresh broker on the same store redeemed the stored token.
    token_kept: bool,
}

fn fault(service: Service, route: &str, status: u16) -> Fault {
    Fault::status(service, status).on_route(route)
}

fn latency(service: Service, route: &str) -> Fault {
    Fault::latency(service, TIMEOUT * 2).on_route(route)
}

fn drop_connection(service: Service, route: &str) -> Fault {
    Fault::drop_connection(service).on_route(route)
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    // Entra ID during redemption: once (retried) and until cleared (reported), for both stores
    // and both operations.
    let entra = |times: Option<u32>| -> Vec<(&'static str, Fault)> {
        let t = |f: Fault| match times {
            Some(n) => f.times(n),
            None => f,
        };
        vec![
            ("500", t(fault(Service::Entra, "/token", 500))),
            ("503", t(fault(Service::Entra, "/token", 503))),
            (
                "429 Retry-After 1",
                t(fault(Service::Entra, "/token", 429).retry_after(1)),
            ),
            ("timeout", t(latency(Service::Entra, "/token"))),
            (
                "dropped connection",
                t(drop_connection(Service::Entra, "/token")),
            ),
        ]
    };
    for store in [Store::Local, Store::KeyVault] {
        for (times, label) in [(Some(1), "once"), (None, "until cleared")] {
            for (what, f) in entra(times) {
                for operation in [Operation::Rotate, Operation::Customer] {
                    if times.is_none() && matches!(operation, Operation::Customer) {
                        continue; // persistent faults: the rotation path is enough
                    }
                    out.push(Case {
                        name: format!("Entra {what} {label}"),
                        store,
                        operation,
                        injury: Injury::Faults(vec![f.clone()]),
                    });
                }
            }
        }
    }
    // Key Vault during rotation: at the first, second and third vault request (the read of the
    // grant, the read before the write, the write), and until cleared.
    let vault = [
        ("500", fault(Service::KeyVault, "/secrets/", 500)),
        ("503", fault(Service::KeyVault, "/secrets/", 503)),
        (
            "429 Retry-After 1",
            fault(Service::KeyVault, "/secrets/", 429).retry_after(1),
        ),
        ("403", fault(Service::KeyVault, "/secrets/", 403)),
        ("timeout", latency(Service::KeyVault, "/secrets/")),
        (
            "dropped connection",
            drop_connection(Service::KeyVault, "/secrets/"),
        ),
    ];
    for (what, f) in vault {
        for (times, label) in [
            (Some(1), "on 1 request"),
            (Some(3), "on 3 requests"),
            (None, "until cleared"),
        ] {
            let f = match times {
                Some(n) => f.clone().times(n),
                None => f.clone(),
            };
            out.push(Case {
                name: format!("Key Vault {what} {label}"),
                store: Store::KeyVault,
                operation: Operation::Rotate,
                injury: Injury::Faults(vec![f]),
            });
        }
    }
    for store in [Store::Local, Store::KeyVault] {
        out.push(Case {
            name: "clock 5 minutes ahead".into(),
            store,
            operation: Operation::Rotate,
            injury: Injury::ClockAhead(300),
        });
    }
    out.push(Case {
        name: "store write fails (no lock file)".into(),
        store: Store::Local,
        operation: Operation::Rotate,
        injury: Injury::BrokenStoreWrite,
    });
    out
}

fn vault_store(env: &Env, http: reqwest::Client) -> Arc<KeyVaultStore> {
    let secret = env
        .emu
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::KEYVAULT_APP)
        .expect("the vault's access app")
        .secrets[0]
        .clone();
    let settings = KeyVaultSettings {
        vault_url: Url::parse(&env.emu.vault_url(ids::VAULT)).expect("vault URL"),
        secret_prefix: "sam-rt".into(),
        identity: KeyVaultIdentity::ClientSecret {
            tenant_id: ids::PARTNER_TENANT.into(),
            client_id: ids::KEYVAULT_APP.into(),
            secret: ClientSecret::new(secret),
        },
        api_version: "7.5".into(),
    };
    Arc::new(KeyVaultStore::new(&settings, &env.cloud, http).expect("vault store"))
}

fn named_fix(remedy: Remedy, text: &str) -> bool {
    remedy != Remedy::None
        || ["try again", "retry", "check", "consent", "fix"]
            .iter()
            .any(|w| text.to_ascii_lowercase().contains(w))
}

async fn run(case: Case) -> Outcome {
    let env = helpers::spawn().await;
    let http = common::http::build_client(&HttpSettings {
        ca_bundle: Some(env.dir.path().join("ca.pem")),
        request_timeout: TIMEOUT,
        ..HttpSettings::default()
    })
    .expect("HTTP client");
    let store: Arc<dyn RefreshTokenStore> = match case.store {
        Store::Local => env.local_store(),
        Store::KeyVault => vault_store(&env, http.clone()),
    };
    let broker = |store: Arc<dyn RefreshTokenStore>| {
        TokenBroker::new(
            env.settings(EndpointVersion::V1),
            http.clone(),
            env.credential(Cred::Secret),
            store,
        )
    };
    let first = broker(store.clone());
    env.consent(&first, ADMIN).await;
    let lock = env.dir.path().join("tokens.enc.lock");
    match &case.injury {
        Injury::Faults(faults) => faults.iter().cloned().for_each(|f| env.emu.inject_fault(f)),
        Injury::ClockAhead(secs) => env.emu.advance_clock(Duration::from_secs(*secs)),
        Injury::BrokenStoreWrite => {
            let _ = std::fs::remove_file(&lock);
            std::fs::create_dir_all(&lock).expect("a directory where the lock file goes");
        }
    }
    let result = match case.operation {
        Operation::Rotate => first.keepalive(ids::PARTNER_TENANT).await.map(|status| {
            status
                .last_store_error
                .map(|e| format!("rotated, but the new token was not stored: {e}"))
        }),
        Operation::Customer => first
            .access_token(ids::CUSTOMER_FABRIKAM, Resource::Graph)
            .await
            .map(|_| None),
    };
    let (failure, named) = match result {
        Ok(None) => (None, true),
        Ok(Some(store_error)) => {
            let named = named_fix(Remedy::None, &store_error);
            (Some(store_error), named)
        }
        Err(e) => {
            let text = e.to_string();
            (Some(text.clone()), named_fix(e.remedy(), &text))
        }
    };
    env.emu.clear_faults();
    if matches!(case.injury, Injury::BrokenStoreWrite) {
        let _ = std::fs::remove_dir(&lock);
    }
    // A fresh process: a new broker on the same store, nothing in memory.
    let fresh = broker(store);
    let token_kept = fresh.keepalive(ids::PARTNER_TENANT).await.is_ok();
    Outcome {
        failure,
        named_fix: named,
        token_kept,
    }
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cases = cases();
    let (mut lost, mut panics, mut unnamed) = (0, 0, 0);
    let header = ["#", "fault", "store", "op", "faulted call"];
    println!(
        "{:<4} {:<44} {:<9} {:<8} {:<26} token",
        header[0], header[1], header[2], header[3], header[4]
    );
    for (i, case) in cases.iter().enumerate() {
        let joined = runtime.block_on(runtime.spawn(run(case.clone())));
        let (call, token) = match joined {
            Err(e) if e.is_panic() => {
                panics += 1;
                ("PANICKED".to_owned(), "?".to_owned())
            }
            Err(e) => {
                panics += 1;
                (format!("aborted: {e}"), "?".to_owned())
            }
            Ok(o) => {
                if !o.token_kept {
                    lost += 1;
                }
                if !o.named_fix {
                    unnamed += 1;
                }
                let call = match &o.failure {
                    None => "ok".to_owned(),
                    Some(_) if o.named_fix => "failed, fix named".to_owned(),
                    Some(text) => format!(
                        "failed, NO FIX: {}",
                        text.chars().take(60).collect::<String>()
                    ),
                };
                (call, if o.token_kept { "kept" } else { "LOST" }.to_owned())
            }
        };
        println!(
            "{:<4} {:<44} {:<9} {:<8} {:<26} {token}",
            i + 1,
            case.name,
            format!("{:?}", case.store),
            format!("{:?}", case.operation),
            call
        );
    }
    println!(
        "\nfault matrix: {} cases, {lost} tokens lost, {panics} panics, {unnamed} failures without a named fix",
        cases.len()
    );
    if lost == 0 && panics == 0 && unnamed == 0 && cases.len() >= 40 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
