//! Key Vault through production identities, end to end against the emulator: managed identity
//! (system- and user-assigned; `IDENTITY_ENDPOINT` / `IDENTITY_HEADER` are process-wide, so each
//! case runs in a child process with its own environment) and workload identity federation.
mod helpers;
mod managed_identity;
mod workload_identity;
