//! Injected faults, the data: added latency, an HTTP status (with optional `Retry-After`),
//! failing the next N requests, or dropping the connection; per service, route and tenant. The
//! middleware that applies them is `crate::faults`.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;

/// An emulated service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Entra ID (login endpoints at the root).
    Entra,
    /// Key Vault (`{vault}.vault.localhost`).
    KeyVault,
    /// Microsoft Graph (`/graph/`).
    Graph,
    /// Partner Center (`/partnercenter/`).
    PartnerCenter,
    /// Partner API (`/partnerapi/`).
    PartnerApi,
    /// Every service.
    Any,
}

impl Service {
    /// Which service a request is for.
    pub fn of(host: &str, path: &str) -> Option<Service> {
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        if host.ends_with(".vault.localhost") {
            Some(Service::KeyVault)
        } else if path.starts_with("/_admin") {
            None
        } else if path.starts_with("/graph/") {
            Some(Service::Graph)
        } else if path.starts_with("/partnercenter/") {
            Some(Service::PartnerCenter)
        } else if path.starts_with("/partnerapi/") {
            Some(Service::PartnerApi)
        } else {
            Some(Service::Entra)
        }
    }
}

/// A fault to inject.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Service affected.
    pub service: Service,
    /// Only requests whose path contains this text (e.g. `/oauth2/v2.0/token`, `/secrets/`).
    #[serde(default)]
    pub route: Option<String>,
    /// Only requests for this tenant: the tenant in an Entra path (`/{tenant}/oauth2/…`, as the
    /// client wrote it) or the `tid` of the bearer token (Graph, Partner Center, Key Vault). Graph
    /// throttles per app per tenant, so a test can throttle one customer and not the others.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Latency added before the request is handled (milliseconds): the request waits, as at
    /// a congested front door, and the handler's own work comes on top.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// The answer leaves no sooner than this after the request arrived (milliseconds): the
    /// request is handled at once and its answer held back, so the emulator's own work (an RSA
    /// signature, a page's serialization) counts within the time, as a service's processing
    /// counts within its response time. What a benchmark's "each request takes N ms" means.
    /// With `status` or `drop_connection` it is a latency (no handler runs).
    #[serde(default)]
    pub response_time_ms: Option<u64>,
    /// Answer with this HTTP status instead of handling the request.
    #[serde(default)]
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with `status`.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Close the connection without a complete response.
    #[serde(default)]
    pub drop_connection: bool,
    /// Apply to the next N matching requests only (absent: until cleared).
    #[serde(default)]
    pub times: Option<u32>,
    /// With an Entra `status`: answer as Entra does for this AADSTS code (the tenant's policy
    /// decides these, so a test injects them): 53003 Conditional Access block, 70043 / 70044
    /// sign-in frequency, 700084 single-page-app refresh-token lifetime, 50079 MFA registration
    /// required, 50177 external challenge for a passthrough (partner) user.
    #[serde(default)]
    pub entra_error: Option<u32>,
}

impl Fault {
    /// A fault answering `status` for a service.
    pub fn status(service: Service, status: u16) -> Self {
        Fault {
            service,
            route: None,
            tenant: None,
            latency_ms: None,
            response_time_ms: None,
            status: Some(status),
            retry_after: None,
            drop_connection: false,
            times: None,
            entra_error: None,
        }
    }
    /// An Entra token-endpoint answer for AADSTS `code` (HTTP 400, `invalid_grant`), as a
    /// tenant's policy would give it; see [`Fault::entra_error`].
    pub fn entra_error(code: u32) -> Self {
        Fault {
            entra_error: Some(code),
            ..Fault::status(Service::Entra, 400)
        }
    }
    /// Restrict to paths containing `route`.
    pub fn on_route(mut self, route: impl Into<String>) -> Self {
        self.route = Some(route.into());
        self
    }
    /// Restrict to requests for `tenant` (see [`Fault::tenant`]).
    pub fn for_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
    /// Apply only to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
    /// Send `Retry-After`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    /// Latency only.
    pub fn latency(service: Service, by: Duration) -> Self {
        Fault {
            service,
            route: None,
            tenant: None,
            latency_ms: Some(u64::try_from(by.as_millis()).unwrap_or(u64::MAX)),
            response_time_ms: None,
            status: None,
            retry_after: None,
            drop_connection: false,
            times: None,
            entra_error: None,
        }
    }
    /// Every answer of `service` held back until `by` after its request arrived (see
    /// [`Fault::response_time_ms`]).
    pub fn response_time(service: Service, by: Duration) -> Self {
        Fault {
            latency_ms: None,
            response_time_ms: Some(u64::try_from(by.as_millis()).unwrap_or(u64::MAX)),
            ..Fault::latency(service, Duration::ZERO)
        }
    }
    /// Drop the connection.
    pub fn drop_connection(service: Service) -> Self {
        Fault {
            service,
            route: None,
            tenant: None,
            latency_ms: None,
            response_time_ms: None,
            status: None,
            retry_after: None,
            drop_connection: true,
            times: None,
            entra_error: None,
        }
    }
}

/// The active faults.
#[derive(Debug, Default)]
pub struct FaultSet {
    faults: Mutex<Vec<Fault>>,
}

impl FaultSet {
    /// Add a fault.
    pub fn inject(&self, fault: Fault) {
        self.lock().push(fault);
    }
    /// Remove all faults.
    pub fn clear(&self) {
        self.lock().clear();
    }
    /// Active faults.
    pub fn list(&self) -> Vec<Fault> {
        self.lock().clone()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    /// The fault for a request, consuming one of its `times`. `tenant` is asked (once) only
    /// when a fault names a tenant.
    pub(crate) fn take(
        &self,
        service: Service,
        path: &str,
        tenant: impl FnOnce() -> Option<String>,
    ) -> Option<Fault> {
        let mut faults = self.lock();
        if faults.is_empty() {
            return None;
        }
        let mut tenant = Some(tenant);
        let mut found: Option<Option<String>> = None;
        let idx = faults.iter().position(|f| {
            (f.service == service || f.service == Service::Any)
                && f.route.as_deref().is_none_or(|r| path.contains(r))
                && f.tenant.as_deref().is_none_or(|wanted| {
                    let actual = found.get_or_insert_with(|| tenant.take().and_then(|t| t()));
                    actual
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(wanted))
                })
        })?;
        let fault = faults[idx].clone();
        if let Some(n) = faults[idx].times.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                faults.remove(idx);
            }
        }
        Some(fault)
    }
}
