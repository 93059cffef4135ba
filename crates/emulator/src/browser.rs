//! A scripted browser for the emulator's own sign-in pages, so tests and benchmarks of the
//! consent flow need not each re-implement it.
//!
//! It does what a person does in a browser: open the authorize URL, submit the sign-in form, the
//! MFA form when asked (with the user's code from the demo directory), then accept or cancel the consent
//! page, and stop at the redirect back to the app. Forms are found by their `action`, so the
//! walk follows whatever tenant segment and endpoint version the authorize URL used.

use url::Url;

use crate::EmulatorHandle;

/// What to answer on the consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentAnswer {
    /// Press "Accept", ticking "Consent on behalf of your organization" when the page offers it
    /// (to a Global Administrator): a tenant-wide grant.
    Accept,
    /// Press "Accept" leaving that box unchecked: a grant for the signed-in user only.
    AcceptForMe,
    /// Press "Cancel" (the app receives `error=access_denied`).
    Cancel,
}

/// Why a walk stopped before the redirect back to the app.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The user is not in the demo directory.
    #[error("no user {0} in the emulator's demo directory")]
    UnknownUser(String),
    /// A request failed.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// A page was not one of sign-in, MFA or consent (an error page, for instance).
    #[error("unexpected page (status {status}): {body}")]
    UnexpectedPage {
        /// HTTP status.
        status: u16,
        /// The page.
        body: String,
    },
}

impl EmulatorHandle {
    /// Signs `upn` in at `authorize_url` (password and MFA code from the demo directory), answers the
    /// consent page, and returns the URL Entra redirects the browser to (the app's redirect URI
    /// with `code` or `error`). `http` must trust the emulator's CA and must not follow redirects.
    pub async fn sign_in(
        &self,
        http: &reqwest::Client,
        authorize_url: &Url,
        upn: &str,
        answer: ConsentAnswer,
    ) -> Result<Url, WalkError> {
        let user = self
            .seed()
            .user_by_upn(upn)
            .ok_or_else(|| WalkError::UnknownUser(upn.to_owned()))?;
        let password = user.password.clone();
        let base = self.base_url();
        let mut response = http.get(authorize_url.clone()).send().await?;
        let mut submitted_login = false;
        for _ in 0..6 {
            if let Some(location) = response.headers().get(reqwest::header::LOCATION) {
                let location = location.to_str().unwrap_or_default();
                return base.join(location).map_err(|_| WalkError::UnexpectedPage {
                    status: response.status().as_u16(),
                    body: format!("unparsable Location {location}"),
                });
            }
            let status = response.status().as_u16();
            let html = response.text().await?;
            let (Some(action), Some(flow)) = (form_action(&html), field(&html, "flow")) else {
                return Err(WalkError::UnexpectedPage { status, body: html });
            };
            let target = base.join(&action).map_err(|_| WalkError::UnexpectedPage {
                status,
                body: html.clone(),
            })?;
            let form: Vec<(&str, String)> = if html.contains("name=\"passwd\"") && !submitted_login
            {
                submitted_login = true;
                vec![
                    ("flow", flow),
                    ("login", upn.to_owned()),
                    ("passwd", password.clone()),
                ]
            } else if html.contains("name=\"otc\"") {
                let code = self.mfa_code(upn).unwrap_or_default();
                vec![("flow", flow), ("otc", code)]
            } else if html.contains("id=\"accept\"") {
                let action = match answer {
                    ConsentAnswer::Accept | ConsentAnswer::AcceptForMe => "accept",
                    ConsentAnswer::Cancel => "cancel",
                };
                let mut form = vec![("flow", flow), ("action", action.to_owned())];
                if answer == ConsentAnswer::Accept && html.contains("id=\"for-org\"") {
                    form.push(("consent_for_org", "1".to_owned()));
                }
                form
            } else {
                return Err(WalkError::UnexpectedPage { status, body: html });
            };
            response = http.post(target).form(&form).send().await?;
        }
        Err(WalkError::UnexpectedPage {
            status: response.status().as_u16(),
            body: "no redirect back to the app after six pages".into(),
        })
    }
}

impl EmulatorHandle {
    /// [`Self::sign_in`] with consent accepted, returning the authorization code from the
    /// redirect (an error if the redirect carries none, e.g. `error=consent_required`).
    pub async fn authorization_code(
        &self,
        http: &reqwest::Client,
        authorize_url: &Url,
        upn: &str,
    ) -> Result<String, WalkError> {
        let location = self
            .sign_in(http, authorize_url, upn, ConsentAnswer::Accept)
            .await?;
        location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| WalkError::UnexpectedPage {
                status: 302,
                body: format!("redirect without a code: {location}"),
            })
    }
}

/// The value of the hidden input `name` (the first one).
fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    html[start..].split('"').next().map(html_unescape)
}

/// The `action` of the first form.
fn form_action(html: &str) -> Option<String> {
    let form = &html[html.find("<form")?..];
    let start = form.find("action=\"")? + "action=\"".len();
    form[start..].split('"').next().map(html_unescape)
}

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}
