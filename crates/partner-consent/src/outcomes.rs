//! The callback's work runs once per sign-in, to its end, whatever the browser does.
//!
//! An authorization code works once. Were the redemption, the Partner Center check and the
//! store write run inside the request, a browser that drops the connection meanwhile (a proxy's
//! timeout, a closed laptop, a double click) would cancel them half-way: the code spent, the
//! consent perhaps not stored, and the reload answered "this sign-in has already been used".
//! Here the work runs in a task of its own, and its page is kept for the pending consent's
//! lifetime under the sign-in's `state` (random, checked against the cookie before any of this):
//! a reload or a second request of the same callback waits for that task and gets the same page.
//! A reload reaching another replica finds nothing kept there and gets the "already used" page,
//! which tells the admin to start again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use tokio::sync::watch;

/// Most callbacks remembered at once (a page is a few KB): beyond it the oldest are forgotten.
const MAX_KEPT: usize = 10_000;

/// A rendered page, kept to be served again.
#[derive(Debug)]
struct Page {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Page {
    async fn of(resp: HttpResponse) -> Self {
        let status = resp.status();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let body = actix_web::body::to_bytes(resp.into_body())
            .await
            .unwrap_or_default();
        Self {
            status,
            headers,
            body,
        }
    }

    fn response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            resp.append_header((name.clone(), value.clone()));
        }
        resp.body(self.body.clone())
    }
}

type Slot = (Instant, watch::Receiver<Option<Arc<Page>>>);

/// Callbacks in progress or recently finished, by `state`.
#[derive(Debug)]
pub struct Outcomes {
    lifetime: Duration,
    slots: Mutex<HashMap<String, Slot>>,
}

impl Outcomes {
    /// Pages are kept for `lifetime` (the pending consent's).
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The page of the callback of `state`: `work` runs (in a task of its own, to its end) the
    /// first time; later calls for the same `state` wait for that run and get its page.
    pub async fn once<F, Fut>(&self, state: &str, work: F) -> HttpResponse
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = HttpResponse> + 'static,
    {
        let mut page = self.slot(state, work);
        let done = page
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|p| p.clone());
        match done {
            Some(page) => page.response(),
            // The task ended without a page: it panicked (logged by the runtime).
            None => HttpResponse::InternalServerError().finish(),
        }
    }

    fn slot<F, Fut>(&self, state: &str, work: F) -> watch::Receiver<Option<Arc<Page>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = HttpResponse> + 'static,
    {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        slots.retain(|_, (started, _)| now.duration_since(*started) < self.lifetime);
        if let Some((_, page)) = slots.get(state) {
            return page.clone();
        }
        if slots.len() >= MAX_KEPT
            && let Some(oldest) = slots
                .iter()
                .min_by_key(|(_, (started, _))| *started)
                .map(|(k, _)| k.clone())
        {
            slots.remove(&oldest);
        }
        let (tx, rx) = watch::channel(None);
        slots.insert(state.to_owned(), (now, rx.clone()));
        let running = work();
        actix_web::rt::spawn(async move {
            let page = Page::of(running.await).await;
            let _ = tx.send(Some(Arc::new(page)));
        });
        rx
    }
}
