//! The managed-identity endpoint and workload identity federation, on the wire.
mod federation;
mod helpers;
mod managed_identity;
