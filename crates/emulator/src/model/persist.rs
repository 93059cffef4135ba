//! What the emulated cloud keeps across restarts when it has a state directory (`--state-dir`,
//! the local walk's `.sam-local/emulator`): refresh grants, delegated consents, revocations
//! (`tokensValidFrom`), Key Vault secrets, Partner Center and GDAP data, and the clock offset.
//! Without it a developer's stored refresh token dies with every Ctrl-C (AADSTS9002313).
//!
//! One JSON file, `state.json` (mode 0600, written through a fresh temporary file and a rename),
//! saved within a second of a change and when the emulator stops. It belongs to one demo
//! directory: a snapshot taken with another seed (another `--seed` file, generated customers,
//! app certificate) is set aside as `state.json.stale` instead of being mixed in. `--reset`
//! deletes it to start clean.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use sha2::Digest as _;

use crate::model::files::write_private;
use crate::model::seed::Seed;
use crate::model::sessions::RefreshGrant;
use crate::model::state::{ConsentGrant, State, lock};
use crate::model::vault::Vault;

/// The file in the state directory.
pub const FILE: &str = "state.json";

/// Format of [`Snapshot`]; a file of another format is set aside, not misread.
const FORMAT: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    format: u32,
    /// SHA-256 of the seed the state grew from.
    seed: String,
    clock_offset_ms: i64,
    refresh_tokens: HashMap<String, RefreshGrant>,
    consents: Vec<ConsentGrant>,
    tokens_valid_from: HashMap<String, i64>,
    vaults: BTreeMap<String, Vault>,
    /// `partner_data::Inner`, as JSON (taken under its lock, read back at load).
    partner: serde_json::Value,
}

/// The seed's fingerprint.
pub fn seed_fingerprint(seed: &Seed) -> String {
    let json = serde_json::to_vec(seed).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(json))
}

/// Deletes the saved state (`--reset`); no file is not an error.
pub fn reset(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(dir.join(FILE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot delete {}", dir.join(FILE).display())),
    }
}

/// The state as JSON.
fn snapshot(state: &State, seed: &str) -> anyhow::Result<Vec<u8>> {
    // One lock at a time (each guard is dropped at the end of its statement), so no lock
    // order is imposed on the request handlers.
    let refresh_tokens = lock(&state.refresh_tokens).clone();
    let consents = state.directory().consents.clone();
    let tokens_valid_from = lock(&state.tokens_valid_from).clone();
    let vaults = lock(&state.vaults).clone();
    let partner = serde_json::to_value(&*state.partner.lock())?;
    let snapshot = Snapshot {
        format: FORMAT,
        seed: seed.to_owned(),
        clock_offset_ms: state.clock_offset_ms.load(Ordering::Relaxed),
        refresh_tokens,
        consents,
        tokens_valid_from,
        vaults,
        partner,
    };
    Ok(serde_json::to_vec(&snapshot)?)
}

/// Loads the saved state of `dir` into `state`, when there is one for this seed. Returns what
/// happened, for the start-up log.
pub fn load(state: &State, dir: &Path, seed: &str) -> anyhow::Result<Option<String>> {
    let path = dir.join(FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // The whole snapshot is read (Partner Center data included) before anything is applied.
    let parsed = serde_json::from_slice::<Snapshot>(&bytes).and_then(|mut s| {
        let partner = std::mem::take(&mut s.partner);
        Ok((
            s,
            serde_json::from_value::<crate::model::partner_data::Inner>(partner)?,
        ))
    });
    let (snapshot, partner) = match parsed {
        Ok((s, partner)) if s.format == FORMAT && s.seed == seed => (s, partner),
        other => {
            let why = match other {
                Err(e) => format!("unreadable ({e})"),
                Ok((s, _)) if s.format != FORMAT => {
                    format!("format {} (this emulator writes {FORMAT})", s.format)
                }
                Ok(_) => "from another demo directory (another data file)".to_owned(),
            };
            let stale = path.with_extension("json.stale");
            std::fs::rename(&path, &stale)
                .with_context(|| format!("cannot move {} aside", path.display()))?;
            return Ok(Some(format!(
                "{} was {why}: moved to {} and started clean",
                path.display(),
                stale.display()
            )));
        }
    };
    state
        .clock_offset_ms
        .store(snapshot.clock_offset_ms, Ordering::Relaxed);
    let grants = snapshot.refresh_tokens.len();
    *lock(&state.refresh_tokens) = snapshot.refresh_tokens;
    state.directory_mut().consents = snapshot.consents;
    *lock(&state.tokens_valid_from) = snapshot.tokens_valid_from;
    *lock(&state.vaults) = snapshot.vaults;
    *state.partner.lock() = partner;
    Ok(Some(format!(
        "kept state from {} ({grants} refresh grants); --reset starts clean",
        path.display()
    )))
}

/// Saves `state` to `dir` when it changed since `last` (the bytes last written).
pub fn save_if_changed(
    state: &State,
    dir: &Path,
    seed: &str,
    last: &mut Option<Vec<u8>>,
) -> anyhow::Result<()> {
    let bytes = snapshot(state, seed)?;
    if last.as_deref() == Some(bytes.as_slice()) {
        return Ok(());
    }
    write_private(&dir.join(FILE), &bytes)?;
    *last = Some(bytes);
    Ok(())
}
