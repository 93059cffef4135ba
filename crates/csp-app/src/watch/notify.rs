//! What the watch remembers between cycles (the state file) and the webhook it tells about
//! changes.
//!
//! A notification goes out once per change of state of a `(check, subject)`, including the
//! recovery to `ok`, never for a subject first seen `ok`. `unknown` (the check could not run)
//! is not a state: an outage says nothing about the subject, so the last known state is kept
//! and nothing is sent. When delivery still fails after its retries the state is not advanced,
//! so the next cycle tries again. The body carries the finding's own text only: no token, no
//! secret (the webhook URL itself is one: Teams and Slack URLs carry their credential).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use common::secret::ExposeSecret as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Finding, State};

/// How long to wait before the retries of one delivery.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(1_000),
    Duration::from_millis(4_000),
];

/// The persisted memory of the watch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchState {
    /// Last notified (or first seen) state per `check|subject`.
    #[serde(default)]
    pub states: BTreeMap<String, State>,
    /// When the watch's own keepalive last succeeded, per partner (the watch's clock, Unix
    /// seconds).
    #[serde(default)]
    pub last_keepalive: BTreeMap<String, i64>,
}

impl WatchState {
    /// Reads the state file; a missing file is an empty state, an unreadable one is logged and
    /// treated as empty (the watch never stops over its own memory).
    pub fn load(path: &Path) -> Self {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "the watch state file is not valid JSON; starting afresh");
                Self::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the watch state file; starting afresh");
                Self::default()
            }
        }
    }

    /// Writes the state file (owner-only, atomically).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        common::files::write_private(path, &bytes)
    }
}

/// The key of a `(check, subject)` in [`WatchState::states`].
pub fn key(finding: &Finding) -> String {
    format!("{}|{}", finding.check, finding.subject)
}

/// The webhook's body format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum WebhookFormat {
    /// `{source, check, subject, state, previousState, message, secondsLeft, at}`.
    #[default]
    Generic,
    /// A Microsoft Teams incoming-webhook MessageCard.
    Teams,
    /// A Slack incoming-webhook message (`{"text": ...}`).
    Slack,
}

/// A webhook URL: a secret (never logged, printed or put in an error).
#[derive(Clone)]
pub struct WebhookUrl(Arc<SecretString>);

impl WebhookUrl {
    /// Wraps the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(Arc::new(SecretString::from(url.into())))
    }

    /// Parses it; the error never repeats the value.
    pub fn parse(&self) -> Result<url::Url, String> {
        let url = url::Url::parse(self.0.expose_secret())
            .map_err(|e| format!("the webhook URL is not a URL ({e})"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err("the webhook URL must be http(s)".into());
        }
        Ok(url)
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl([redacted])")
    }
}

/// Where and how notifications are sent.
pub struct Webhook {
    url: url::Url,
    format: WebhookFormat,
    http: reqwest::Client,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &"[redacted]")
            .field("format", &self.format)
            .finish()
    }
}

/// One change to tell about.
#[derive(Clone, Debug)]
pub struct Change<'a> {
    /// The finding now.
    pub finding: &'a Finding,
    /// The state before (`None`: first seen).
    pub previous: Option<State>,
    /// When (the watch's clock, Unix seconds).
    pub at: i64,
}

fn rfc3339(unix: i64) -> Value {
    cli_kit::output::rfc3339(unix).map_or(Value::Null, Value::String)
}

/// The body of a notification in `format`.
pub fn body(format: WebhookFormat, change: &Change<'_>) -> Value {
    let f = change.finding;
    let state = f.state.as_str();
    let title = format!("SAM watch: {} {} is {state}", f.check, f.subject);
    match format {
        WebhookFormat::Generic => json!({
            "source": "sam-watch",
            "check": f.check,
            "subject": f.subject,
            "state": state,
            "previousState": change.previous.map(State::as_str),
            "message": f.message,
            "secondsLeft": f.seconds_left,
            "at": rfc3339(change.at),
        }),
        WebhookFormat::Teams => json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "themeColor": match f.state {
                State::Ok => "2EB886",
                State::Warning => "FFA500",
                State::Critical => "D00000",
                State::Unknown | State::Skipped => "808080",
            },
            "title": title,
            "text": f.message,
        }),
        WebhookFormat::Slack => json!({
            "text": format!("*{title}*\n{}", f.message),
        }),
    }
}

impl Webhook {
    /// A webhook sending `format` bodies to `url` through `http`.
    pub fn new(
        url: &WebhookUrl,
        format: WebhookFormat,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        Ok(Self {
            url: url.parse()?,
            format,
            http,
        })
    }

    /// Posts one change, retrying with backoff; the error names no URL.
    pub async fn send(&self, change: &Change<'_>) -> Result<(), String> {
        let body = body(self.format, change);
        let mut last = String::new();
        for delay in std::iter::once(None).chain(RETRY_DELAYS.map(Some)) {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            match self.http.post(self.url.clone()).json(&body).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("the webhook answered HTTP {}", r.status().as_u16()),
                Err(e) => last = format!("the webhook could not be reached: {}", e.without_url()),
            }
        }
        Err(last)
    }
}

/// The changes of this cycle, and what to remember when they are delivered.
pub fn changes<'a>(
    state: &WatchState,
    findings: &'a [Finding],
) -> Vec<(&'a Finding, Option<State>)> {
    findings
        .iter()
        .filter(|f| !matches!(f.state, State::Unknown | State::Skipped))
        .filter_map(|f| {
            let previous = state.states.get(&key(f)).copied();
            match previous {
                Some(p) if p == f.state => None,
                None if f.state == State::Ok => Some((f, None)),
                p => Some((f, p)),
            }
        })
        .collect()
}

/// Path of the default state file.
pub fn default_state_file(settings: &common::config::Settings) -> PathBuf {
    match &settings.store {
        common::config::StoreSettings::Local(local) => {
            local.path.with_file_name("watch-state.json")
        }
        common::config::StoreSettings::KeyVault(_) => PathBuf::from("sam-watch-state.json"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_url_is_never_shown() {
        let url = WebhookUrl::new("https://hooks.example/services/T0/B0/s3cr3t-token");
        assert_eq!(format!("{url:?}"), "WebhookUrl([redacted])");
        let webhook = Webhook::new(&url, WebhookFormat::Slack, reqwest::Client::new()).unwrap();
        assert!(!format!("{webhook:?}").contains("s3cr3t"));
        let bad = WebhookUrl::new("not a url s3cr3t");
        assert!(!bad.parse().unwrap_err().contains("s3cr3t"));
    }

    #[test]
    fn a_first_ok_is_remembered_and_unknown_is_no_change() {
        let finding = |state| Finding {
            check: "gdap",
            subject: "r1".into(),
            state,
            message: String::new(),
            seconds_left: None,
        };
        let mut state = WatchState::default();
        let ok = [finding(State::Ok)];
        assert_eq!(changes(&state, &ok), vec![(&ok[0], None)]);
        state.states.insert(key(&ok[0]), State::Ok);
        assert!(changes(&state, &ok).is_empty());
        assert!(changes(&state, &[finding(State::Unknown)]).is_empty());
        let warn = [finding(State::Warning)];
        assert_eq!(changes(&state, &warn), vec![(&warn[0], Some(State::Ok))]);
    }
}
