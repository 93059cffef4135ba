//! The one outgoing HTTP stack of a process: the client, the retry policy, and the transport every
//! REST client sends through.
//!
//! - this module: [`build_client`] makes the process-wide [`reqwest::Client`] (connect and request
//!   timeouts from configuration, redirects off — OAuth endpoints must never be followed blindly —,
//!   the platform's trust store plus an optional extra CA bundle, which is how the local emulator
//!   or a TLS-inspecting proxy is trusted, and RFC 6761 `localhost` resolution), and
//!   [`retry_after`] reads what a server asked;
//! - [`retry`]: the one [`RetryPolicy`] (attempts, back-off with jitter, `Retry-After`, caps),
//!   used by the Entra token client and by the transport;
//! - [`transport`]: where tokens come from ([`TokenSource`], a trait the clients receive;
//!   [`StaticToken`]), the send/retry loop the Partner Center and Graph clients share, and their
//!   counters ([`CallCounts`]).
//!
//! This layer knows nothing of tokens' origin: the token broker implements [`TokenSource`] above
//! it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;

use crate::config::HttpSettings;

pub mod retry;
pub mod transport;

pub use retry::{RetryPolicy, RetryableError};
pub use transport::{
    ApiClient, ApiOptions, CallCounts, SharedTokenSource, StaticToken, Tenant, TokenFuture,
    TokenSource, TokenSourceError,
};

/// The `User-Agent` every outgoing request carries.
pub const USER_AGENT: &str = concat!("secure-app-model-rs/", env!("CARGO_PKG_VERSION"));

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    /// The extra CA bundle could not be read.
    #[error("cannot read the CA bundle {path}: {source} (check `http.ca_bundle`)")]
    ReadCaBundle {
        /// The configured path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The extra CA bundle holds no usable PEM certificate.
    #[error(
        "the CA bundle {path} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\"): {reason}"
    )]
    BadCaBundle {
        /// The configured path.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// reqwest refused the builder's settings.
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// Builds the process-wide HTTP client from configuration.
pub fn build_client(settings: &HttpSettings) -> Result<reqwest::Client, HttpClientError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(LocalhostAwareResolver));
    if let Some(path) = &settings.ca_bundle {
        builder = builder.tls_certs_merge(read_ca_bundle(path)?);
    }
    Ok(builder.build()?)
}

/// Reads every certificate of a PEM bundle.
pub fn read_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, HttpClientError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| HttpClientError::ReadCaBundle {
        path: shown.clone(),
        source,
    })?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| HttpClientError::BadCaBundle {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(HttpClientError::BadCaBundle {
            path: shown,
            reason: "no certificates found".into(),
        });
    }
    Ok(certs)
}

/// A resolver that answers `localhost` and every `*.localhost` name with the loopback address,
/// as RFC 6761 §6.3 asks of name-resolution libraries, and asks the system for everything else.
///
/// Browsers, systemd-resolved and Go already do this; glibc without `nss-myhostname` does not.
/// The local emulator serves each Key Vault at `https://{vault}.vault.localhost:{port}` (Key Vault
/// clients require the vault to be a subdomain of the token resource), so this is what lets the
/// same client code reach the emulator on any machine without editing `/etc/hosts`.
#[derive(Debug, Clone, Copy)]
pub struct LocalhostAwareResolver;

impl Resolve for LocalhostAwareResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        if is_localhost_name(&host) {
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
            let addrs: Addrs = Box::new(std::iter::once(addr));
            return Box::pin(std::future::ready(Ok(addrs)));
        }
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addrs: Addrs = Box::new(addrs.collect::<Vec<_>>().into_iter());
            Ok(addrs)
        })
    }
}

/// Whether a host name is `localhost` or under `.localhost` (RFC 6761 §6.3).
pub fn is_localhost_name(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// The delay a server asked for with `Retry-After` (delta-seconds or HTTP-date, RFC 9110 §10.2.3),
/// or Azure's `retry-after-ms` / `x-ms-retry-after-ms`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = date - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    proptest::proptest! {
        /// Any `Retry-After` a server sends is read or ignored, never a panic; whole seconds
        /// round-trip.
        #[test]
        fn retry_after_reads_seconds_and_survives_anything(value in "\\PC{0,60}", secs in 0u64..1_000_000) {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(reqwest::header::RETRY_AFTER, v);
                let _ = retry_after(&headers);
            }
            headers.insert(reqwest::header::RETRY_AFTER, HeaderValue::from(secs));
            proptest::prop_assert_eq!(retry_after(&headers), Some(Duration::from_secs(secs)));
        }
    }

    #[test]
    fn localhost_names_follow_rfc_6761() {
        assert!(is_localhost_name("localhost"));
        assert!(is_localhost_name("kv-partner.vault.localhost"));
        assert!(!is_localhost_name("localhost.example.com"));
        assert!(!is_localhost_name("notlocalhost"));
    }

    #[tokio::test]
    async fn resolver_maps_localhost_subdomains_to_loopback() {
        let name: Name = "kv.vault.localhost".parse().unwrap();
        let addrs: Vec<_> = LocalhostAwareResolver
            .resolve(name)
            .await
            .unwrap()
            .collect();
        assert_eq!(
            addrs,
            vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)]
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retry_after_in_the_past_means_now() {
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn missing_ca_bundle_names_the_path_and_the_key() {
        let err = read_ca_bundle(Path::new("/nonexistent/ca.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        assert!(err.contains("http.ca_bundle"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let err = read_ca_bundle(&path).unwrap_err().to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }
}
