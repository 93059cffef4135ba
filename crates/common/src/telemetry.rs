//! Logging: one `tracing` subscriber per process.
//!
//! Messages are written for a human, with dotted fields for machines (`tenant.id`, `customer.id`,
//! `http.status`, `duration_ms`, `ms.correlation_id`). Secrets never appear: the types in
//! [`crate::secret`] redact themselves, and spans record chosen fields, never arguments.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber, writing to stderr. `RUST_LOG`, when set, wins over `filter`.
///
/// Calling it twice is harmless (the second call does nothing), so tests and binaries can both call it.
pub fn init(format: LogFormat, filter: &str) {
    init_with_writer(format, filter, std::io::stderr);
}

/// Like [`init`], with a chosen writer (tests capture logs this way).
pub fn init_with_writer<W>(format: LogFormat, filter: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = match format {
        LogFormat::Text => builder.with_target(true).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    // An already-installed subscriber (a test harness, a second call) is fine.
    drop(result);
}
