//! The local refresh-token store: one AES-256-GCM encrypted file, for local use.
//!
//! File format (JSON): `{"version":1,"nonce":"<base64 12 bytes>","ciphertext":"<base64>"}`; the
//! plaintext is a JSON object mapping partner tenant IDs to `{refresh_token, meta}`. A fresh
//! random nonce is used for every write. The key is 32 bytes from `store.local.key` (base64, e.g.
//! `SAM_STORE__LOCAL__KEY`) or from `store.local.key_file`, created with mode 0600 when missing.
//!
//! Writes are atomic: a new private file (mode 0600, `create_new`, so no symlink is followed)
//! with a random name in the same directory is written, flushed to disk and renamed over the
//! old file, so a crash leaves either the old or the new file. The store refuses to start when
//! the token file or the key file is readable by group or others.
//!
//! Several processes may share the file (partner-consent and a keepalive job, for example):
//! every read-modify-write holds an exclusive OS file lock (`flock` on `{file}.lock`, opened
//! without following symlinks) and re-reads the file under it, so no process writes back a map
//! that misses another's update. Readers need no lock: a rename is atomic.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex, PoisonError};

use aes_gcm::aead::{Aead, AeadInPlace as _, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretSlice};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, oneshot};

use super::{GrantMetadata, RefreshTokenStore, StoreError, StoredGrant};
use crate::config::LocalStoreSettings;
use crate::secret::RefreshToken;

const AAD: &[u8] = b"secure-app-model-rs refresh-token store v1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The encrypted local file store.
pub struct LocalFileStore {
    files: Arc<Files>,
    lock: Arc<Mutex<()>>,
    /// Grants put and not yet written: whichever put holds the lock next writes every queued
    /// grant in one file write (one `fsync` for the rotations of many partners, as a watch
    /// redeeming hundreds of partners at once makes them).
    queued: Arc<StdMutex<Vec<Queued>>>,
}

/// A grant waiting for the next write, and who waits for its result.
type Queued = (String, Entry, oneshot::Sender<Result<(), StoreError>>);

/// The token file and its key. Its I/O blocks (an `fsync` per write), so the store's async
/// calls run it on the blocking pool: a fan-out rotating the refresh token at each customer
/// tenant would otherwise hold a runtime thread in `fsync` most of the time, and every task
/// queued behind it (Graph pages among them) waits.
struct Files {
    path: PathBuf,
    cipher: Aes256Gcm,
    /// The file's bytes as last read or written here, and their plaintext: a read of the same
    /// bytes (another process's write replaces them) needs no decryption.
    cache: StdMutex<Option<Cached>>,
    /// When this process last wrote the file: a write soon after another is part of a burst
    /// (a watch rotating many partners' tokens), and waits [`GATHER`] for more to share it.
    last_write: StdMutex<Option<std::time::Instant>>,
}

/// How long a write in a burst waits for more grants to write with it (group commit): the file
/// is rewritten whole, so ten rotations in one write cost about what one does.
const GATHER: std::time::Duration = std::time::Duration::from_millis(4);

/// Writes closer than this to the previous one are a burst.
const BURST: std::time::Duration = std::time::Duration::from_millis(50);

/// The bytes of the token file and their plaintext.
type Cached = (Vec<u8>, BTreeMap<String, Entry>);

impl std::fmt::Debug for LocalFileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFileStore")
            .field("path", &self.files.path)
            .field("key", &"[redacted]")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    version: u32,
    nonce: String,
    ciphertext: String,
}

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    refresh_token: String,
    meta: GrantMetadata,
    /// The grant this one replaced (one level), so a replaced token stays recoverable as Key
    /// Vault keeps earlier versions. Files written before it existed read as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<Box<PreviousEntry>>,
}

#[derive(Clone, Serialize, Deserialize)]
struct PreviousEntry {
    refresh_token: String,
    meta: GrantMetadata,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |e| StoreError::Io {
        action,
        path: path.display().to_string(),
        source: Arc::new(e),
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::metadata(path) {
        Ok(m) => {
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(StoreError::Permissions {
                    path: path.display().to_string(),
                    mode,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("cannot inspect", path)(e)),
    }
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Creates a file readable and writable by its owner only.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

impl LocalFileStore {
    /// Opens the store configured in `store.local`: reads or creates the key, and checks that
    /// neither file is readable by others.
    pub fn open(settings: &LocalStoreSettings) -> Result<Self, StoreError> {
        let key = match &settings.key {
            Some(k) => SecretSlice::from(k.expose_secret().to_vec()),
            None => load_or_create_key(&settings.key_file)?,
        };
        Self::with_key(&settings.path, &key)
    }

    /// Opens the store at `path` with a 32-byte key.
    pub fn with_key(path: &Path, key: &SecretSlice<u8>) -> Result<Self, StoreError> {
        if key.expose_secret().len() != 32 {
            return Err(StoreError::Setup(
                "the local store key must be 32 bytes (AES-256)".into(),
            ));
        }
        check_private(path)?;
        let cipher = Aes256Gcm::new_from_slice(key.expose_secret())
            .map_err(|e| StoreError::Setup(e.to_string()))?;
        let files = Files {
            path: path.to_owned(),
            cipher,
            cache: StdMutex::new(None),
            last_write: StdMutex::new(None),
        };
        // Fail at start, not at the first token use, when the key does not fit the file.
        files.with_all(|_| ())?;
        Ok(Self {
            files: Arc::new(files),
            lock: Arc::new(Mutex::new(())),
            queued: Arc::new(StdMutex::new(Vec::new())),
        })
    }

    /// Runs `io` on the file on the blocking pool. The call goes on to its end when the caller
    /// stops waiting, so a write begun is never cut short.
    async fn blocking<T: Send + 'static>(
        &self,
        run: impl FnOnce(&Files) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        on_blocking_pool(self.files.clone(), run).await
    }
}

async fn on_blocking_pool<T: Send + 'static>(
    files: Arc<Files>,
    run: impl FnOnce(&Files) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let path = files.path.clone();
    match tokio::task::spawn_blocking(move || run(&files)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(io("cannot finish with", &path)(std::io::Error::other(
            "the process is shutting down",
        ))),
    }
}

/// Writes every queued grant in one update, under the store's lock; each put learns the result.
/// Runs as its own task: a put whose caller stops waiting is still written.
async fn write_queued(files: Arc<Files>, lock: Arc<Mutex<()>>, queued: Arc<StdMutex<Vec<Queued>>>) {
    let _guard = lock.lock().await;
    let burst = files
        .last_write
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some_and(|t| t.elapsed() < BURST);
    if burst {
        tokio::time::sleep(GATHER).await;
    }
    let batch = std::mem::take(&mut *queued.lock().unwrap_or_else(PoisonError::into_inner));
    if batch.is_empty() {
        // An earlier writer took this put's grant with its own.
        return;
    }
    let (entries, waiting): (Vec<(String, Entry)>, Vec<_>) = batch
        .into_iter()
        .map(|(key, entry, tx)| ((key, entry), tx))
        .unzip();
    // The OS lock waits at most for another process's single write (milliseconds).
    let result = on_blocking_pool(files, move |files| {
        files.update(|all| {
            for (key, mut entry) in entries {
                if all.get(&key).is_some_and(|old| entry.meta.is_older_than(&old.meta)) {
                    tracing::info!(tenant.id = %key, "a newer grant is stored; the older one is not written over it");
                    continue;
                }
                if let Some(old) = all.remove(&key) {
                    entry.previous = kept_previous(&entry, old);
                }
                all.insert(key, entry);
            }
        })
    })
    .await;
    for tx in waiting {
        let _ = tx.send(result.clone());
    }
}

impl Files {
    /// Runs `look` on the file's entries without copying them: the plaintext is decrypted once
    /// per change of the file's bytes (a watch reading 1,000 partners' grants one by one would
    /// otherwise copy the whole map per read).
    fn with_all<T>(
        &self,
        look: impl FnOnce(&BTreeMap<String, Entry>) -> T,
    ) -> Result<T, StoreError> {
        let all = self.take_all()?;
        let result = look(&all.1);
        // No file (empty bytes) is not cached: an empty file is corrupt, not an empty store.
        if !all.0.is_empty() {
            *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(all);
        }
        Ok(result)
    }

    /// The file's bytes and entries, taken out of the cache (no copy) when the bytes are the
    /// ones cached; the caller puts them back (or a write does).
    fn take_all(&self) -> Result<Cached, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), BTreeMap::new()));
            }
            Err(e) => return Err(io("cannot read", &self.path)(e)),
        };
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match cached {
            Some((cached, all)) if cached == bytes => Ok((bytes, all)),
            _ => {
                let all = self.decrypt(&bytes)?;
                Ok((bytes, all))
            }
        }
    }

    fn decrypt(&self, bytes: &[u8]) -> Result<BTreeMap<String, Entry>, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            path: self.path.display().to_string(),
            reason,
        };
        let env: Envelope = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("not a store file ({e})")))?;
        if env.version != 1 {
            return Err(corrupt(format!("unknown version {}", env.version)));
        }
        let nonce = B64
            .decode(&env.nonce)
            .ok()
            .filter(|n| n.len() == 12)
            .ok_or_else(|| corrupt("bad nonce".into()))?;
        let ct = B64
            .decode(&env.ciphertext)
            .map_err(|_| corrupt("bad ciphertext encoding".into()))?;
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad: AAD })
            .map_err(|_| corrupt("authentication failed".into()))?;
        serde_json::from_slice(&plain).map_err(|_| corrupt("bad plaintext".into()))
    }

    /// `{file}.lock`, beside the token file: the file replaced by each write cannot carry the
    /// lock itself.
    fn lock_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(std::ffi::OsStr::to_os_string)
            .unwrap_or_else(|| "tokens".into());
        name.push(".lock");
        self.path.with_file_name(name)
    }

    /// Takes the cross-process lock (blocking), re-reads the file, applies `change`, writes.
    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, Entry>)) -> Result<(), StoreError> {
        let lock_path = self.lock_path();
        if let Some(dir) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
        }
        let lock = open_lock_file(&lock_path).map_err(io("cannot open", &lock_path))?;
        lock.lock().map_err(io("cannot lock", &lock_path))?;
        let result = self.take_all().and_then(|(_, mut all)| {
            change(&mut all);
            self.write_all(all)
        });
        // Closing the file releases the lock too; unlocking first is explicit.
        let _ = lock.unlock();
        result
    }

    /// Encrypts and writes `entries`, which become the cache (moved, not copied). The
    /// plaintext is encrypted in place, in the buffer it was serialized into.
    fn write_all(&self, entries: BTreeMap<String, Entry>) -> Result<(), StoreError> {
        let mut buffer =
            serde_json::to_vec(&entries).map_err(|e| StoreError::Setup(e.to_string()))?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        self.cipher
            .encrypt_in_place(Nonce::from_slice(&nonce), AAD, &mut buffer)
            .map_err(|e| StoreError::Setup(e.to_string()))?;
        let body = envelope(&nonce, &buffer);
        crate::files::write_private(&self.path, &body).map_err(io("cannot write", &self.path))?;
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some((body, entries));
        *self
            .last_write
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(std::time::Instant::now());
        Ok(())
    }
}

/// The file's JSON [`Envelope`], written directly: its values are base64, which JSON needs no
/// escaping for, so the ciphertext is encoded once, into the body, instead of into a string
/// that a serializer then scans and copies again (the file is hundreds of KB for a CPV's
/// thousand partners, and a watch rewrites it many times per cycle).
fn envelope(nonce: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let mut body = String::with_capacity(ciphertext.len().div_ceil(3) * 4 + 64);
    body.push_str(r#"{"version":1,"nonce":""#);
    B64.encode_string(nonce, &mut body);
    body.push_str(r#"","ciphertext":""#);
    B64.encode_string(ciphertext, &mut body);
    body.push_str(r#""}"#);
    body.into_bytes()
}

/// Opens (creating, mode 0600) the lock file without following a symlink.
fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

fn load_or_create_key(path: &Path) -> Result<SecretSlice<u8>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            check_private(path)?;
            let text = String::from_utf8_lossy(&bytes);
            let key = B64
                .decode(text.trim())
                .ok()
                .filter(|k| k.len() == 32)
                .or_else(|| (bytes.len() == 32).then(|| bytes.clone()))
                .ok_or_else(|| {
                    StoreError::Setup(format!(
                        "{} does not hold a 32-byte key (base64 or raw)",
                        path.display()
                    ))
                })?;
            Ok(SecretSlice::from(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
            }
            let mut key = vec![0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let mut f = create_private(path).map_err(io("cannot create", path))?;
            f.write_all(B64.encode(&key).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(io("cannot write", path))?;
            tracing::info!(path = %path.display(), "created a new local store key (mode 0600)");
            Ok(SecretSlice::from(key))
        }
        Err(e) => Err(io("cannot read", path)(e)),
    }
}

impl Files {
    /// The grant kept to restore ([`RefreshTokenStore::previous`]): the latest grant of the
    /// consent before the stored one, or the rotation before it while only one consent was
    /// stored (Key Vault keeps every version instead).
    fn previous_of(&self, tenant_id: &str) -> Result<Option<StoredGrant>, StoreError> {
        let key = tenant_id.to_ascii_lowercase();
        self.with_all(|all| {
            all.get(&key)
                .and_then(|e| e.previous.as_deref())
                .map(|p| StoredGrant {
                    refresh_token: RefreshToken::new(p.refresh_token.clone()),
                    meta: p.meta.clone(),
                })
        })
    }
}

/// What a write of `entry` over `old` keeps to restore: `old` itself when `entry` is a new
/// consent (or while `old` kept nothing), else what `old` kept (a rotation keeps the grant of
/// the consent before).
fn kept_previous(entry: &Entry, old: Entry) -> Option<Box<PreviousEntry>> {
    if old.refresh_token == entry.refresh_token {
        return old.previous;
    }
    let same_consent = old.meta.consented_at == entry.meta.consented_at;
    match old.previous {
        Some(kept) if same_consent => Some(kept),
        _ => Some(Box::new(PreviousEntry {
            refresh_token: old.refresh_token,
            meta: old.meta,
        })),
    }
}

#[async_trait::async_trait]
impl RefreshTokenStore for LocalFileStore {
    async fn get(&self, tenant_id: &str) -> Result<Option<StoredGrant>, StoreError> {
        let _guard = self.lock.lock().await;
        let key = tenant_id.to_ascii_lowercase();
        self.blocking(move |files| {
            files.with_all(|all| {
                all.get(&key).map(|e| StoredGrant {
                    refresh_token: RefreshToken::new(e.refresh_token.clone()),
                    meta: e.meta.clone(),
                })
            })
        })
        .await
    }

    async fn put(&self, grant: &StoredGrant) -> Result<(), StoreError> {
        let key = grant.meta.tenant_id.to_ascii_lowercase();
        let entry = Entry {
            refresh_token: grant.refresh_token.expose_secret().to_owned(),
            meta: grant.meta.clone(),
            previous: None,
        };
        let (tx, rx) = oneshot::channel();
        self.queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((key, entry, tx));
        tokio::spawn(write_queued(
            self.files.clone(),
            self.lock.clone(),
            self.queued.clone(),
        ));
        rx.await.unwrap_or_else(|_| {
            Err(io("cannot finish with", &self.files.path)(
                std::io::Error::other("the process is shutting down"),
            ))
        })
    }

    async fn previous(&self, tenant_id: &str) -> Result<Option<StoredGrant>, StoreError> {
        let _guard = self.lock.lock().await;
        let key = tenant_id.to_owned();
        self.blocking(move |files| files.previous_of(&key)).await
    }

    async fn restore(&self, grant: &StoredGrant) -> Result<(), StoreError> {
        let _guard = self.lock.lock().await;
        let key = grant.meta.tenant_id.to_ascii_lowercase();
        let mut entry = Entry {
            refresh_token: grant.refresh_token.expose_secret().to_owned(),
            meta: grant.meta.clone(),
            previous: None,
        };
        self.blocking(move |files| {
            files.update(|all| {
                // The grant restored over keeps its place as the one to go back to.
                if let Some(old) = all.remove(&key)
                    && old.refresh_token != entry.refresh_token
                {
                    entry.previous = Some(Box::new(PreviousEntry {
                        refresh_token: old.refresh_token,
                        meta: old.meta,
                    }));
                }
                all.insert(key, entry);
            })
        })
        .await
    }

    async fn list(&self) -> Result<Vec<GrantMetadata>, StoreError> {
        let _guard = self.lock.lock().await;
        self.blocking(|files| files.with_all(|all| all.values().map(|e| e.meta.clone()).collect()))
            .await
    }

    async fn list_grants(&self) -> Result<Option<Vec<StoredGrant>>, StoreError> {
        let _guard = self.lock.lock().await;
        self.blocking(|files| {
            files.with_all(|all| {
                Some(
                    all.values()
                        .map(|e| StoredGrant {
                            refresh_token: RefreshToken::new(e.refresh_token.clone()),
                            meta: e.meta.clone(),
                        })
                        .collect(),
                )
            })
        })
        .await
    }

    fn location(&self) -> String {
        format!("local file {}", self.files.path.display())
    }
}

#[cfg(test)]
mod tests;
