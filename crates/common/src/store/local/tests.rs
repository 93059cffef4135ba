//! Tests of the local store.

use super::*;

fn grant(tenant: &str, token: &str) -> StoredGrant {
    StoredGrant {
        refresh_token: RefreshToken::new(token),
        meta: GrantMetadata {
            tenant_id: tenant.into(),
            user: Some("admin@contoso.onmicrosoft.com".into()),
            consented_at: 1_700_000_000,
            rotated_at: 1_700_000_000,
            app_id: "app".into(),
            cloud: "global".into(),
            mfa: true,
        },
    }
}

fn settings(dir: &Path) -> LocalStoreSettings {
    LocalStoreSettings {
        path: dir.join("state/tokens.enc"),
        key_file: dir.join("state/store.key"),
        key: None,
    }
}

#[tokio::test]
async fn tokens_round_trip_encrypted_with_a_key_file_created_0600() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let store = LocalFileStore::open(&s).unwrap();
    assert!(store.get("t1").await.unwrap().is_none());
    store.put(&grant("t1", "RT-ONE-SECRET")).await.unwrap();
    store.put(&grant("t2", "RT-TWO-SECRET")).await.unwrap();
    let got = store.get("T1").await.unwrap().unwrap();
    assert_eq!(got.refresh_token.expose_secret(), "RT-ONE-SECRET");
    assert_eq!(got.meta, grant("t1", "x").meta);
    let raw = std::fs::read_to_string(&s.path).unwrap();
    assert!(
        !raw.contains("RT-ONE-SECRET") && !raw.contains("admin@"),
        "{raw}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for p in [&s.path, &s.key_file] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
    }
    // A second process start reads the same key and tokens.
    let again = LocalFileStore::open(&s).unwrap();
    let got = again.get("t2").await.unwrap().unwrap();
    assert_eq!(got.refresh_token.expose_secret(), "RT-TWO-SECRET");
}

#[test]
fn the_envelope_is_the_json_serde_writes() {
    let (nonce, ciphertext) = ([7u8; 12], vec![0u8, 255, 62, 63, 1, 2, 3]);
    let ours: serde_json::Value = serde_json::from_slice(&envelope(&nonce, &ciphertext)).unwrap();
    let serde = serde_json::to_value(Envelope {
        version: 1,
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(&ciphertext),
    })
    .unwrap();
    assert_eq!(ours, serde);
}

#[tokio::test]
async fn a_put_replaces_the_token_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let store = LocalFileStore::open(&s).unwrap();
    store.put(&grant("t1", "old")).await.unwrap();
    store.put(&grant("t1", "new")).await.unwrap();
    let got = store.get("t1").await.unwrap().unwrap();
    assert_eq!(got.refresh_token.expose_secret(), "new");
    // The replaced token stays recoverable.
    let previous = store.previous("t1").await.unwrap().unwrap();
    assert_eq!(previous.refresh_token.expose_secret(), "old");
    let names: Vec<_> = std::fs::read_dir(s.path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // The store, its key and its lock file.
    assert_eq!(names.len(), 3, "{names:?}");
}

#[tokio::test]
async fn the_grant_kept_to_restore_is_the_latest_of_the_consent_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalFileStore::open(&settings(dir.path())).unwrap();
    let at = |token: &str, consented_at: i64, rotated_at: i64| {
        let mut g = grant("t1", token);
        g.meta.consented_at = consented_at;
        g.meta.rotated_at = rotated_at;
        g
    };
    async fn kept(store: &LocalFileStore) -> Option<String> {
        store
            .previous("t1")
            .await
            .unwrap()
            .map(|g| g.refresh_token.expose_secret().to_owned())
    }
    store.put(&at("c1", 100, 100)).await.unwrap();
    assert_eq!(kept(&store).await, None, "one grant: nothing earlier");
    store.put(&at("c1-r1", 100, 200)).await.unwrap();
    assert_eq!(kept(&store).await.as_deref(), Some("c1"));
    store.put(&at("c2", 300, 300)).await.unwrap();
    assert_eq!(kept(&store).await.as_deref(), Some("c1-r1"));
    // Rotations of the second consent keep the first consent's latest grant.
    store.put(&at("c2-r1", 300, 400)).await.unwrap();
    store.put(&at("c2-r2", 300, 500)).await.unwrap();
    assert_eq!(kept(&store).await.as_deref(), Some("c1-r1"));
    // A restore writes over a newer consent, and keeps what it replaced.
    store.restore(&at("c1-r9", 100, 600)).await.unwrap();
    let got = store.get("t1").await.unwrap().unwrap();
    assert_eq!(got.refresh_token.expose_secret(), "c1-r9");
    assert_eq!(kept(&store).await.as_deref(), Some("c2-r2"));
}

#[cfg(unix)]
#[tokio::test]
async fn refuses_to_start_when_the_file_is_readable_by_others() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    LocalFileStore::open(&s)
        .unwrap()
        .put(&grant("t1", "x"))
        .await
        .unwrap();
    std::fs::set_permissions(&s.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = LocalFileStore::open(&s).unwrap_err().to_string();
    assert!(err.contains("readable by other users"), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
}

#[tokio::test]
async fn a_wrong_key_is_reported_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.key = Some(SecretSlice::from(vec![1u8; 32]));
    LocalFileStore::open(&s)
        .unwrap()
        .put(&grant("t1", "x"))
        .await
        .unwrap();
    s.key = Some(SecretSlice::from(vec![2u8; 32]));
    let err = LocalFileStore::open(&s).unwrap_err().to_string();
    assert!(err.contains("cannot be decrypted"), "{err}");
}

const WORKER_ENV: &str = "SAM_LOCAL_STORE_WORKER";
const ROTATIONS: usize = 500;

/// Not a test on its own: the child-process role of
/// [`two_processes_rotating_concurrently_lose_nothing`], selected by an environment variable
/// (`{role} {path}`); without it, it returns at once.
#[tokio::test]
async fn cross_process_worker() {
    let Ok(spec) = std::env::var(WORKER_ENV) else {
        return;
    };
    let (role, path) = spec.split_once(' ').unwrap();
    let store =
        LocalFileStore::with_key(Path::new(path), &SecretSlice::from(vec![9u8; 32])).unwrap();
    for i in 0..ROTATIONS {
        // Each rotation is one read-modify-write: rotate the role's own partner and bump a
        // counter both processes share, which a lost update would leave short.
        store
            .files
            .update(|all| {
                let count = all
                    .get("shared-counter")
                    .map_or(0, |e| e.refresh_token.parse::<usize>().unwrap_or_default());
                for (key, token) in [
                    ("shared-counter".to_owned(), (count + 1).to_string()),
                    (format!("partner-{role}"), format!("rt-{role}-{i}")),
                ] {
                    let meta = grant(&key, "").meta;
                    all.insert(
                        key,
                        Entry {
                            refresh_token: token,
                            meta,
                            previous: None,
                        },
                    );
                }
            })
            .unwrap();
    }
}

#[tokio::test]
async fn two_processes_rotating_concurrently_lose_nothing() {
    if std::env::var_os(WORKER_ENV).is_some() {
        return;
    }
    // tmpfs where there is one: the test is about locking, and 1,000 fsyncs on a busy
    // disk take minutes.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    let path = dir.path().join("shared/tokens.enc");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|role| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "store::local::tests::cross_process_worker",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(WORKER_ENV, format!("{role} {}", path.display()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a worker failed");
    }
    let store = LocalFileStore::with_key(&path, &SecretSlice::from(vec![9u8; 32])).unwrap();
    let (counter, entries) = store
        .files
        .with_all(|all| (all["shared-counter"].refresh_token.clone(), all.len()))
        .unwrap();
    assert_eq!(
        counter,
        (2 * ROTATIONS).to_string(),
        "every rotation of both processes counted"
    );
    for role in ["a", "b"] {
        let last = store
            .get(&format!("partner-{role}"))
            .await
            .unwrap()
            .unwrap();
        let newest = format!("rt-{role}-{}", ROTATIONS - 1);
        assert_eq!(last.refresh_token.expose_secret(), newest);
    }
    assert_eq!(entries, 3);
    // Only the store, its lock and (none left behind) temporary files.
    let mut names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["tokens.enc", "tokens.enc.lock"]);
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_lock_file_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.enc");
    let target = dir.path().join("elsewhere");
    std::os::unix::fs::symlink(&target, dir.path().join("tokens.enc.lock")).unwrap();
    let store = LocalFileStore::with_key(&path, &SecretSlice::from(vec![3u8; 32])).unwrap();
    let err = store.put(&grant("t1", "x")).await.unwrap_err().to_string();
    assert!(err.contains("cannot open"), "{err}");
    assert!(!target.exists());
}

#[tokio::test]
async fn an_older_grant_is_not_written_over_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        LocalFileStore::with_key(&dir.path().join("t.enc"), &SecretSlice::from(vec![3u8; 32]))
            .unwrap();
    let mut newer = grant("t1", "rt-newer-consent");
    newer.meta.consented_at += 10;
    store.put(&newer).await.unwrap();
    let mut late = grant("t1", "rt-rotation-of-the-old-consent");
    late.meta.rotated_at += 100;
    store.put(&late).await.unwrap();
    let got = store.get("t1").await.unwrap().unwrap();
    assert_eq!(got.refresh_token.expose_secret(), "rt-newer-consent");
}

#[tokio::test]
async fn list_returns_the_metadata_of_every_grant() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        LocalFileStore::with_key(&dir.path().join("t.enc"), &SecretSlice::from(vec![3u8; 32]))
            .unwrap();
    assert!(store.list().await.unwrap().is_empty());
    store.put(&grant("b-tenant", "rt-b")).await.unwrap();
    store.put(&grant("a-tenant", "rt-a")).await.unwrap();
    let mut tenants: Vec<_> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.tenant_id)
        .collect();
    tenants.sort();
    assert_eq!(tenants, ["a-tenant", "b-tenant"]);
}
