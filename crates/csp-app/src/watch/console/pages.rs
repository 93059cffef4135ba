//! The console's pages (askama templates under `templates/console/`, HTML-escaped) and their
//! handlers, and the one action: "run a cycle now".
//!
//! Every page needs a live session ([`super::session`]); without one the page offers the
//! sign-in. The action (`POST /actions/run-cycle`) needs the write access, the session's CSRF
//! token in the form, and the console's own `Origin` (a cross-site POST is refused before
//! anything else; `SameSite=Lax` already keeps the session cookie off it).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::session::{Session, same, same_origin, unix_now};
use super::timeline;
use super::view::{self, CustomerQuery, Customers, Expiry, Overview};
use super::{Console, ConsoleData};
use crate::watch::snapshot::LastCycle;
use crate::watch::state::HistoryEntry;

/// Partners shown on the overview at most.
pub const MAX_PARTNERS: usize = 200;
/// History entries shown at most.
pub const MAX_HISTORY: usize = 200;

/// Renders `page` with `status`.
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page failed");
            HttpResponse::InternalServerError()
                .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body("Internal error")
        }
    }
}

/// What every signed-in page shows around its content.
#[derive(Debug)]
pub struct Chrome {
    /// Who is signed in.
    pub user: String,
    /// May run the action.
    pub can_write: bool,
    /// The CSRF token of the forms.
    pub csrf: String,
    /// The page (`overview`, `customers`, `expiries`, `history`), for the navigation.
    pub active: &'static str,
    /// When the last cycle completed, if one did.
    pub cycle: Option<String>,
}

impl Chrome {
    fn new(session: &Session, active: &'static str, last: &LastCycle) -> Self {
        Self {
            user: session.user.clone(),
            can_write: session.can_write,
            csrf: session.csrf.clone(),
            active,
            cycle: last.at.map(view::date_time),
        }
    }

    /// `aria-current="page"` for the active link.
    pub fn current(&self, page: &str) -> &'static str {
        if self.active == page { "page" } else { "false" }
    }
}

/// `/` when the console is off.
#[derive(Debug, Template)]
#[template(path = "console/off.html")]
pub struct Off;

/// A page asked for without a session.
#[derive(Debug, Template)]
#[template(path = "console/signin.html")]
pub struct SignIn;

/// A sign-in that failed.
#[derive(Debug, Template)]
#[template(path = "console/failed.html")]
pub struct Failed {
    /// Why, in a sentence (Entra's text escaped by the template).
    pub why: String,
}

/// 403: signed in, without the access.
#[derive(Debug, Template)]
#[template(path = "console/forbidden.html")]
pub struct Forbidden<'a> {
    /// Who signed in.
    pub user: String,
    /// The read access needed.
    pub read_access: &'a str,
    /// The write access (which includes reading).
    pub write_access: &'a str,
}

/// 403: a state-changing request from elsewhere, a bad CSRF token, or no write access.
#[derive(Debug, Template)]
#[template(path = "console/refused.html")]
pub struct Refused {
    /// Why.
    pub why: &'static str,
}

/// The overview page.
#[derive(Debug, Template)]
#[template(path = "console/overview.html")]
pub struct OverviewPage<'a> {
    /// Header and navigation.
    pub chrome: Chrome,
    /// The content.
    pub view: Overview<'a>,
    /// A cycle was just requested.
    pub requested: bool,
}

/// The customers page.
#[derive(Debug, Template)]
#[template(path = "console/customers.html")]
pub struct CustomersPage {
    /// Header and navigation.
    pub chrome: Chrome,
    /// The query.
    pub query: CustomerQuery,
    /// The content.
    pub view: Customers,
}

impl CustomersPage {
    /// Whether the status filter is `status`.
    pub fn status_is(&self, status: &str) -> bool {
        self.query.status == status
    }

    /// The access check's causes, for the filter.
    pub fn causes(&self) -> Vec<&'static str> {
        crate::access::Cause::ALL
            .iter()
            .map(|c| c.as_str())
            .collect()
    }

    /// Whether the access filter is `cause`.
    pub fn access_is(&self, cause: &str) -> bool {
        self.query.access == cause
    }

    /// The query string of page `page` with the same filters.
    pub fn page_link(&self, page: &usize) -> String {
        let q = &self.query;
        serde_urlencoded::to_string([
            ("q", q.q.as_str()),
            ("status", q.status.as_str()),
            ("access", q.access.as_str()),
            ("attention", q.attention.as_str()),
            ("page", &page.to_string()),
        ])
        .unwrap_or_default()
    }
}

/// The upcoming-expiries page.
#[derive(Debug, Template)]
#[template(path = "console/expiries.html")]
pub struct ExpiriesPage {
    /// Header and navigation.
    pub chrome: Chrome,
    /// The SVG (escaped by [`timeline::svg`]).
    pub svg: String,
    /// The table's rows, soonest first.
    pub rows: Vec<Expiry>,
    /// How many expire in all.
    pub total: usize,
}

impl ExpiriesPage {
    /// `YYYY-MM-DD`.
    pub fn when(&self, t: &i64) -> String {
        view::date(*t)
    }
}

/// The history page.
#[derive(Debug, Template)]
#[template(path = "console/history.html")]
pub struct HistoryPage<'a> {
    /// Header and navigation.
    pub chrome: Chrome,
    /// Newest first.
    pub rows: Vec<&'a HistoryEntry>,
    /// How many the state file keeps.
    pub total: usize,
}

impl HistoryPage<'_> {
    /// `YYYY-MM-DD HH:MM UTC`.
    pub fn when(&self, t: &i64) -> String {
        view::date_time(*t)
    }
}

/// The refusal of a cross-site POST.
pub fn refused_cross_site() -> HttpResponse {
    tracing::warn!("console: a cross-site POST was refused");
    html(
        StatusCode::FORBIDDEN,
        &Refused {
            why: "This request did not come from the console's own page (a cross-site request): nothing was done.",
        },
    )
}

/// The console and the session of `req`, or the page to answer instead (off, sign-in).
fn gate(req: &HttpRequest, data: &ConsoleData) -> Result<(Arc<Console>, Session), HttpResponse> {
    let Some(console) = data.console.clone() else {
        return Err(html(StatusCode::OK, &Off));
    };
    match console.sessions.get(req, unix_now()) {
        Some(session) => Ok((console, session)),
        None => Err(html(StatusCode::OK, &SignIn)),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OverviewQuery {
    requested: String,
}

/// `GET /`
pub async fn overview(req: HttpRequest, data: web::Data<ConsoleData>) -> HttpResponse {
    let (_, session) = match gate(&req, &data) {
        Ok(g) => g,
        Err(page) => return page,
    };
    let query: OverviewQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let last = data.shared.last();
    let page = OverviewPage {
        chrome: Chrome::new(&session, "overview", &last),
        view: view::overview(&last, MAX_PARTNERS),
        requested: query.requested == "1",
    };
    html(StatusCode::OK, &page)
}

/// `GET /customers?q=&status=&access=&attention=1&page=`
pub async fn customers(req: HttpRequest, data: web::Data<ConsoleData>) -> HttpResponse {
    let (_, session) = match gate(&req, &data) {
        Ok(g) => g,
        Err(page) => return page,
    };
    let query: CustomerQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let last = data.shared.last();
    let view = view::customers(&last, &query);
    let page = CustomersPage {
        chrome: Chrome::new(&session, "customers", &last),
        query,
        view,
    };
    html(StatusCode::OK, &page)
}

/// `GET /expiries`
pub async fn expiries(req: HttpRequest, data: web::Data<ConsoleData>) -> HttpResponse {
    let (_, session) = match gate(&req, &data) {
        Ok(g) => g,
        Err(page) => return page,
    };
    let last = data.shared.last();
    let mut rows = view::expiries(&last);
    let total = rows.len();
    let svg = timeline::svg(&rows, view::MAX_EXPIRY_ROWS);
    rows.truncate(view::MAX_EXPIRY_ROWS);
    let page = ExpiriesPage {
        chrome: Chrome::new(&session, "expiries", &last),
        svg,
        rows,
        total,
    };
    html(StatusCode::OK, &page)
}

/// `GET /history`
pub async fn history(req: HttpRequest, data: web::Data<ConsoleData>) -> HttpResponse {
    let (_, session) = match gate(&req, &data) {
        Ok(g) => g,
        Err(page) => return page,
    };
    let last = data.shared.last();
    let page = HistoryPage {
        chrome: Chrome::new(&session, "history", &last),
        rows: last.history.iter().rev().take(MAX_HISTORY).collect(),
        total: last.history.len(),
    };
    html(StatusCode::OK, &page)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActionForm {
    csrf: String,
}

/// `POST /actions/run-cycle`: asks the loop for a cycle now; back to the overview.
pub async fn run_cycle(
    req: HttpRequest,
    body: web::Bytes,
    data: web::Data<ConsoleData>,
) -> HttpResponse {
    let Some(console) = &data.console else {
        return html(StatusCode::NOT_FOUND, &Off);
    };
    if !same_origin(&req, &console.origin) {
        return refused_cross_site();
    }
    let Some(session) = console.sessions.get(&req, unix_now()) else {
        return html(StatusCode::FORBIDDEN, &SignIn);
    };
    let form: ActionForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !same(&form.csrf, &session.csrf) {
        return html(
            StatusCode::FORBIDDEN,
            &Refused {
                why: "The form's token does not match this session (an old page, or a forged request): nothing was done. Reload the page and try again.",
            },
        );
    }
    if !session.can_write {
        return html(
            StatusCode::FORBIDDEN,
            &Refused {
                why: "Running a cycle needs the console's write access, which your account does not have.",
            },
        );
    }
    tracing::info!("console: a cycle was requested");
    data.shared.request_cycle();
    HttpResponse::SeeOther()
        .insert_header((LOCATION, "/?requested=1"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
}
