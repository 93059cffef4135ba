//! Whether an authorize request's `redirect_uri` is one the app registered: exactly, or, for a
//! public client's loopback URI (`http://localhost`, `http://127.0.0.1`), on any port, as Entra
//! ignores the port of a loopback redirect URI when matching
//! (docs/microsoft-behaviour.md §0b, "Loopback redirect URIs").

use url::Url;

use crate::model::state::App;

/// `requested` matches one of the app's registered redirect URIs.
pub(crate) fn registered(app: &App, requested: &str) -> bool {
    let exact = app.seed.redirect_uris.iter().any(|r| r == requested);
    exact || (app.seed.public_client && loopback_match(&app.seed.redirect_uris, requested))
}

fn loopback_match(registered: &[String], requested: &str) -> bool {
    let Some(asked) = loopback(requested) else {
        return false;
    };
    registered
        .iter()
        .filter_map(|r| loopback(r))
        .any(|r| r == asked)
}

/// Scheme, host and path (an empty path is `/`) of an `http` loopback URI without its port.
fn loopback(uri: &str) -> Option<(String, String, String)> {
    let url = Url::parse(uri).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let is_loopback = url.scheme() == "http" && (host == "localhost" || host == "127.0.0.1");
    (is_loopback && url.query().is_none())
        .then(|| (url.scheme().to_owned(), host, url.path().to_owned()))
}
