//! A collection read one page at a time by a caller that schedules its own waits.
//!
//! [`GraphClient::list_users`] sleeps on `Retry-After` inside the call, which is right for one
//! tenant but wrong for a fan-out over many: the sleeping tenant would hold a concurrency slot
//! another tenant could use. A [`Pager`] never sleeps. A throttled (429) or failing (5xx,
//! connection failure, timeout) page comes back as [`PageStep::RetryAfter`] with the wait Graph
//! asked for (or the policy's exponential back-off with jitter when it gave none); the caller uses
//! the slot for other work and calls [`Pager::next_page`] again once the wait is over.
//!
//! The client's [`crate::http::RetryPolicy`] still bounds each page exactly as it bounds a call
//! (retries and total wait), so a tenant throttled for good fails with
//! [`GraphError::GaveUp`] instead of looping. Throttling is per tenant ("Microsoft Graph
//! throttling guidance", concepts/throttling.md), and so is the wait: only this tenant's pager
//! waits.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use url::Url;

use super::{GraphClient, GraphError, Page, decode};
use crate::http::Tenant;
use crate::http::retry::Schedule;

/// What one call of [`Pager::next_page`] produced.
#[derive(Debug)]
pub enum PageStep<T> {
    /// The items of one page ([`Pager::is_done`] says whether another follows).
    Items(Vec<T>),
    /// The page was throttled or failed transiently: call [`Pager::next_page`] again after this
    /// long.
    RetryAfter(Duration),
}

/// Reads a Graph collection page by page without ever sleeping (see the module docs).
pub struct Pager<T> {
    client: GraphClient,
    tenant: Option<String>,
    next: Option<Url>,
    /// The retries and waits spent on the current page.
    schedule: Schedule,
    /// Attempts at the current page.
    attempts: usize,
    items: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Pager<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager")
            .field("tenant", &self.tenant)
            .field("next", &self.next.as_ref().map(Url::path))
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Pager<T> {
    pub(super) fn new(client: GraphClient, tenant: Option<String>, first: Url) -> Self {
        let schedule = client.inner.transport.retry_policy().schedule();
        Self {
            client,
            tenant,
            next: Some(first),
            schedule,
            attempts: 0,
            items: PhantomData,
        }
    }

    /// Whether every page has been read.
    pub fn is_done(&self) -> bool {
        self.next.is_none()
    }

    /// Fetches the next page (no items once done). A 429, 5xx or transport failure within the
    /// client's retry policy becomes [`PageStep::RetryAfter`]; past it, the error
    /// ([`GraphError::GaveUp`] counts every attempt at the page). Any other failure is returned
    /// at once.
    pub async fn next_page(&mut self) -> Result<PageStep<T>, GraphError> {
        let Some(url) = self.next.clone() else {
            return Ok(PageStep::Items(Vec::new()));
        };
        self.attempts += 1;
        let tenant = self
            .tenant
            .as_deref()
            .map_or(Tenant::Partner, Tenant::Customer);
        let error = match self.client.get_once(tenant, url).await {
            Ok(bytes) => return self.page(&bytes).map(PageStep::Items),
            Err(e) => e,
        };
        let retry_after = match &error {
            GraphError::GaveUp { retry_after, .. } => *retry_after,
            GraphError::Transport(e) if e.is_timeout() || e.is_connect() || e.is_request() => None,
            _ => return Err(error),
        };
        let Some(delay) = self.schedule.next_delay(retry_after) else {
            return Err(match error {
                GraphError::GaveUp {
                    status,
                    retry_after,
                    message,
                    ..
                } => GraphError::GaveUp {
                    status,
                    attempts: self.attempts,
                    retry_after,
                    message,
                },
                other => other,
            });
        };
        tracing::debug!(
            tenant.id = %tenant,
            attempt = self.attempts,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "page throttled or failing, handed back to wait: {error}"
        );
        self.client.inner.transport.record_retry(delay);
        Ok(PageStep::RetryAfter(delay))
    }

    fn page(&mut self, bytes: &[u8]) -> Result<Vec<T>, GraphError> {
        let page: Page<T> = decode(bytes, "a collection page")?;
        self.next = self.client.next_link(page.next_link)?;
        self.attempts = 0;
        self.schedule = self.client.inner.transport.retry_policy().schedule();
        Ok(page.value)
    }
}
