//! `/assets/style.css` and `/assets/autopost.js`: compiled into the binary, so the app works
//! offline and the CSP can stay `'self'`.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};

const STYLE: &str = include_str!("../../assets/style.css");
const AUTOPOST: &str = include_str!("../../assets/autopost.js");

/// `GET /assets/style.css`
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /assets/autopost.js`
pub async fn autopost() -> HttpResponse {
    asset("text/javascript; charset=utf-8", AUTOPOST)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}
