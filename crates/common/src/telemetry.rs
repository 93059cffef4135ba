//! Logging: one `tracing` subscriber per process.
//!
//! Messages are written for a human, with dotted fields for machines (`tenant.id`, `customer.id`,
//! `http.status`, `duration_ms`, `ms.correlation_id`). Secrets never appear: the types in
//! [`crate::secret`] redact themselves, and spans record chosen fields, never arguments.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber, writing to stderr. `RUST_LOG`, when set, wins over `filter`.
/// Text is coloured only when stderr is a terminal and `NO_COLOR` is not set
/// (<https://no-color.org>): a file or a container's log gets no escape codes.
///
/// Calling it twice is harmless (the second call does nothing), so tests and binaries can both call it.
pub fn init(format: LogFormat, filter: &str) {
    use std::io::IsTerminal as _;
    let ansi = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    install(format, filter, std::io::stderr, ansi);
}

/// Like [`init`], with a chosen writer (tests capture logs this way); never coloured.
pub fn init_with_writer<W>(format: LogFormat, filter: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    install(format, filter, writer, false);
}

/// Whether to colour text logs: on a terminal, unless `NO_COLOR` holds a non-empty value.
pub fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

fn install<W>(format: LogFormat, filter: &str, writer: W, ansi: bool)
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
        .with_writer(writer)
        .with_ansi(ansi);
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

#[cfg(test)]
mod tests {
    use super::colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
        assert!(!colour(false, Some(OsStr::new("1"))));
    }
}
