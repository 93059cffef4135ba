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
//! Processes killed mid-rotation: `main` starts this same binary again as a child that runs one
//! `keepalive` against the parent's emulator and store (`SAM_FAULT_CHILD` carries the case);
//! a long latency fault holds the child at a chosen point — in the token request, after Entra
//! answered (the store's read before its write), in the store write — and the parent kills it
//! (SIGKILL) there. Two children rotating while the parent stores a new consent run too.
//!
//! No harness: `main` runs every case and prints the table (cases, tokens lost, panics), then
//! fails when a token was lost, something panicked or a failure named no fix.

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

/// What a child process needs to rotate the parent's grant.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Child {
    authority_host: String,
    graph: String,
    partner_center: String,
    key_vault_dns_suffix: String,
    ca: std::path::PathBuf,
    app_secret: String,
    /// `Some(vault URL, access app secret)`: the Key Vault store; `None`: the local file.
    vault: Option<(String, String)>,
    local_path: std::path::PathBuf,
}

const CHILD_VAR: &str = "SAM_FAULT_CHILD";

/// The child's side: one keepalive, exit 0 or 1.
async fn child(case: &str) -> ExitCode {
    let c: Child = serde_json::from_str(case).expect("the parent passes a valid case");
    let url = |s: &str| Url::parse(s).expect("URL");
    let cloud = common::cloud::CloudEndpoints::custom(
        url(&c.authority_host),
        url(&c.graph),
        url(&c.partner_center),
        c.key_vault_dns_suffix.clone(),
    );
    let http = common::http::build_client(&HttpSettings {
        ca_bundle: Some(c.ca.clone()),
        ..HttpSettings::default()
    })
    .expect("HTTP client");
    let store: Arc<dyn RefreshTokenStore> = match &c.vault {
        Some((vault_url, secret)) => Arc::new(
            KeyVaultStore::new(&vault_settings(vault_url, secret), &cloud, http.clone())
                .expect("vault store"),
        ),
        None => Arc::new(
            common::tokens::LocalFileStore::with_key(&c.local_path, &local_key())
                .expect("local store"),
        ),
    };
    let settings = common::tokens::BrokerSettings {
        app_id: ids::CSP_APP.into(),
        cloud,
        version: EndpointVersion::V1,
        authority_tenant: "common".into(),
        sign_in_host: None,
        redirect_url: url(helpers::REDIRECT),
        consent_page: url(helpers::CONSENT_PAGE),
        prompt: None,
        default_partner: Some(ids::PARTNER_TENANT.into()),
        allowed_partners: vec![],
        cache: common::tokens::CachePolicy::default(),
        store_attempts: 2,
    };
    let broker = TokenBroker::new(
        settings,
        http,
        common::entra::ClientCredential::Secret(ClientSecret::new(c.app_secret)),
        store,
    );
    match broker.keepalive(ids::PARTNER_TENANT).await {
        Ok(status) => match status.last_store_error {
            None => ExitCode::SUCCESS,
            Some(e) => {
                eprintln!("rotated, but the new token was not stored: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The local store's key in this suite (the broker helpers' test key).
fn local_key() -> secrecy::SecretSlice<u8> {
    secrecy::SecretSlice::from(vec![7u8; 32])
}

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
    /// The emulator's clock behind ours by this many seconds.
    ClockBehind(u64),
    /// The local store's lock file replaced by a directory: every write fails.
    BrokenStoreWrite,
    /// A keepalive process killed (SIGKILL) at this point of its rotation.
    Killed(KillPoint),
    /// Two keepalive processes rotating while this process stores a new consent.
    Concurrent,
    /// The store file read-only in a read-only directory, for the keepalive process (run as
    /// `nobody` when this suite runs as root, who would write through the modes).
    ReadOnlyStore,
}

#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// While its token request is at Entra.
    InTokenRequest,
    /// After Entra answered with a rotated token, in the store's read before its write.
    AfterEntraAnswered,
    /// In the store's write of the rotated token.
    InStoreWrite,
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
        out.push(Case {
            name: "clock 5 minutes behind".into(),
            store,
            operation: Operation::Rotate,
            injury: Injury::ClockBehind(300),
        });
    }
    let killed = [
        (Store::Local, KillPoint::InTokenRequest),
        (Store::KeyVault, KillPoint::InTokenRequest),
        (Store::KeyVault, KillPoint::AfterEntraAnswered),
        (Store::KeyVault, KillPoint::InStoreWrite),
    ];
    for (store, point) in killed {
        out.push(Case {
            name: format!("kill -9 {point:?}"),
            store,
            operation: Operation::Rotate,
            injury: Injury::Killed(point),
        });
    }
    for store in [Store::Local, Store::KeyVault] {
        out.push(Case {
            name: "2 keepalive processes + a new consent".into(),
            store,
            operation: Operation::Rotate,
            injury: Injury::Concurrent,
        });
    }
    out.push(Case {
        name: "store file and directory read-only".into(),
        store: Store::Local,
        operation: Operation::Rotate,
        injury: Injury::ReadOnlyStore,
    });
    out.push(Case {
        name: "store write fails (no lock file)".into(),
        store: Store::Local,
        operation: Operation::Rotate,
        injury: Injury::BrokenStoreWrite,
    });
    out
}

fn vault_secret(env: &Env) -> String {
    env.emu
        .seed()
        .apps
        .iter()
        .find(|a| a.app_id == ids::KEYVAULT_APP)
        .expect("the vault's access app")
        .secrets[0]
        .clone()
}

fn vault_settings(vault_url: &str, secret: &str) -> KeyVaultSettings {
    KeyVaultSettings {
        vault_url: Url::parse(vault_url).expect("vault URL"),
        secret_prefix: "sam-rt".into(),
        identity: KeyVaultIdentity::ClientSecret {
            tenant_id: ids::PARTNER_TENANT.into(),
            client_id: ids::KEYVAULT_APP.into(),
            secret: ClientSecret::new(secret.to_owned()),
        },
        api_version: "7.5".into(),
    }
}

fn vault_store(env: &Env, http: reqwest::Client) -> Arc<KeyVaultStore> {
    let settings = vault_settings(&env.emu.vault_url(ids::VAULT), &vault_secret(env));
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
    if matches!(
        case.injury,
        Injury::Killed(_) | Injury::Concurrent | Injury::ReadOnlyStore
    ) {
        let (failure, named) = processes(&env, &case, &first).await;
        let token_kept = broker(store).keepalive(ids::PARTNER_TENANT).await.is_ok();
        return Outcome {
            failure,
            named_fix: named,
            token_kept,
        };
    }
    let lock = env.dir.path().join("tokens.enc.lock");
    match &case.injury {
        Injury::Faults(faults) => faults.iter().cloned().for_each(|f| env.emu.inject_fault(f)),
        Injury::ClockAhead(secs) => env.emu.advance_clock(Duration::from_secs(*secs)),
        Injury::ClockBehind(secs) => env.emu.rewind_clock(Duration::from_secs(*secs)),
        Injury::BrokenStoreWrite => {
            let _ = std::fs::remove_file(&lock);
            std::fs::create_dir_all(&lock).expect("a directory where the lock file goes");
        }
        Injury::Killed(_) | Injury::Concurrent | Injury::ReadOnlyStore => {}
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

/// The child processes of a `Killed`, `Concurrent` or `ReadOnlyStore` case: what failed (other
/// than the kill itself), and whether that failure named its fix.
async fn processes(env: &Env, case: &Case, parent: &TokenBroker) -> (Option<String>, bool) {
    let secret_of = |app: &str| {
        env.emu
            .seed()
            .apps
            .iter()
            .find(|a| a.app_id == app)
            .expect("a seeded app")
            .secrets[0]
            .clone()
    };
    let description = Child {
        authority_host: env.cloud.authority_host.to_string(),
        graph: env.cloud.graph.to_string(),
        partner_center: env.cloud.partner_center.to_string(),
        key_vault_dns_suffix: env.cloud.key_vault_dns_suffix.clone(),
        ca: env.dir.path().join("ca.pem"),
        app_secret: secret_of(ids::CSP_APP),
        vault: (case.store == Store::KeyVault)
            .then(|| (env.emu.vault_url(ids::VAULT), vault_secret(env))),
        local_path: env.dir.path().join("tokens.enc"),
    };
    let this = std::env::current_exe().expect("this binary");
    let command = |exe: &std::path::Path| {
        let mut command = tokio::process::Command::new(exe);
        command
            .env(
                CHILD_VAR,
                serde_json::to_string(&description).expect("serialises"),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        command
    };
    let spawn_child = || command(&this).spawn().expect("a child process");
    match case.injury {
        Injury::Killed(point) => {
            let hold = Fault::latency(
                if matches!(point, KillPoint::InTokenRequest) {
                    Service::Entra
                } else {
                    Service::KeyVault
                },
                Duration::from_secs(60),
            )
            .times(1);
            // Requests to let through before the one that is held: the store's read of the
            // grant, then (for the write) the read before the write.
            let (route, pass) = match point {
                KillPoint::InTokenRequest => ("/token", 0),
                KillPoint::AfterEntraAnswered => ("/secrets/", 1),
                KillPoint::InStoreWrite => ("/secrets/", 2),
            };
            if pass > 0 {
                env.emu.inject_fault(
                    Fault::latency(Service::KeyVault, Duration::ZERO)
                        .on_route(route)
                        .times(pass),
                );
            }
            env.emu.inject_fault(hold.on_route(route));
            let mut child = spawn_child();
            // The held request has arrived when its fault is used up.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !env.emu.pending_faults().is_empty() {
                if std::time::Instant::now() > deadline {
                    return (Some(format!("the child never reached {point:?}")), false);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            child.kill().await.expect("SIGKILL");
            env.emu.clear_faults();
            (None, true)
        }
        Injury::ReadOnlyStore => {
            // Run as `nobody` under root, the child needs a copy of this binary it may execute
            // (the build directory may be private).
            let exe_dir = tempfile::tempdir().expect("a directory for the binary");
            let exe = exe_dir.path().join("fault_matrix");
            std::fs::copy(&this, &exe).expect("a copy of this binary");
            {
                use std::os::unix::fs::PermissionsExt as _;
                for (p, m) in [(exe_dir.path(), 0o755), (exe.as_path(), 0o755)] {
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
                }
            }
            read_only_store(env, command(&exe)).await
        }
        Injury::Concurrent => {
            let (a, b) = (spawn_child(), spawn_child());
            env.consent(parent, ADMIN).await;
            let mut failures = Vec::new();
            for child in [a, b] {
                let out = child.wait_with_output().await.expect("the child ends");
                if !out.status.success() {
                    failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
                }
            }
            (
                (!failures.is_empty()).then(|| failures.join("; ")),
                failures.is_empty(),
            )
        }
        _ => (None, true),
    }
}

/// The keepalive process finds the store file and its directory read-only: it must report the
/// failed write with its fix, and leave the stored token in place.
async fn read_only_store(
    env: &Env,
    mut command: tokio::process::Command,
) -> (Option<String>, bool) {
    use std::os::unix::fs::PermissionsExt as _;
    const NOBODY: u32 = 65_534;
    let dir = env.dir.path().to_path_buf();
    let files = [dir.join("tokens.enc"), dir.join("tokens.enc.lock")];
    // The directory this process just created is owned by whoever runs it.
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&dir).expect("stat")) == 0;
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
    };
    let owner = |p: &std::path::Path, uid: u32| {
        std::os::unix::fs::chown(p, Some(uid), Some(uid)).expect("chown")
    };
    if root {
        for p in files.iter().chain([&dir]) {
            owner(p, NOBODY);
        }
        command.uid(NOBODY).gid(NOBODY);
    }
    mode(&files[0], 0o400);
    mode(&files[1], 0o600);
    mode(&dir, 0o500);
    let out = match command.spawn() {
        Ok(child) => child.wait_with_output().await,
        Err(e) => Err(e),
    };
    mode(&dir, 0o700);
    mode(&files[0], 0o600);
    if root {
        for p in files.iter().chain([&dir]) {
            owner(p, 0);
        }
    }
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            return (
                Some(format!("the keepalive process did not run: {e}")),
                false,
            );
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        (
            Some("the keepalive process wrote to a read-only store".into()),
            false,
        )
    } else {
        let named = stderr.contains("fix:");
        (Some(stderr), named)
    }
}

fn main() -> ExitCode {
    // Test runners list a binary's tests first (`--list --format terse`, as libtest answers):
    // this harness is one test, so `cargo nextest` runs it (and times it out) like any other.
    if std::env::args().any(|a| a == "--list") {
        if !std::env::args().any(|a| a == "--ignored") {
            println!("fault_matrix: test");
        }
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(case) = std::env::var(CHILD_VAR) {
        return runtime.block_on(child(&case));
    }
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
