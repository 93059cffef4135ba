//! Key Vault through workload identity federation, end to end against the emulator. Managed
//! identity has its own target (`tests/managed_identity`): it needs process-wide variables, so each
//! case runs in a child process.
mod helpers;
mod workload_identity;
