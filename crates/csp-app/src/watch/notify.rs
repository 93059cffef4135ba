//! What the watch remembers between cycles (the state file) and the webhook it tells about
//! changes.
//!
//! A notification goes out once per change of state of a `(check, subject)`, including the
//! recovery to `ok`, never for a subject first seen `ok`. `unknown` (the check could not run)
//! is not a state: an outage says nothing about the subject, so the last known state is kept
//! and nothing is sent. When delivery still fails after its retries the state is not advanced,
//! so the next cycle tries again. The body carries the finding's own text only: no token, no
//! secret (the webhook URL itself is one: Teams and Slack URLs carry their credential).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use common::secret::ExposeSecret as _;
use secrecy::SecretString;
use serde_json::{Value, json};

pub use super::state::WatchState;
use super::{Finding, State};

/// How long to wait before the retries of one delivery.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(1_000),
    Duration::from_millis(4_000),
];

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
        match url.scheme() {
            "https" => Ok(url),
            "http" if is_loopback(&url) => Ok(url),
            "http" => Err("the webhook URL must use https: it carries its credential, and http is accepted only to a loopback address (127.0.0.0/8, [::1], localhost)".into()),
            _ => Err("the webhook URL must be https".into()),
        }
    }
}

/// Whether the URL's host is this machine (where plain http crosses no network).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
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

/// Text for a Slack message: control characters shown escaped (a name cannot start a line of
/// its own), `&`, `<` and `>` as the entities Slack's formatting reference asks for (so a name
/// cannot be `<!channel>`, `<!here>`, `<@U…>` or a `<https://…|link>`), and a bare `@channel`,
/// `@here` or `@everyone` broken by a word joiner after the `@`.
pub fn slack_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in cli_kit::output::printable(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    for mention in ["@channel", "@here", "@everyone"] {
        out = out.replace(mention, &format!("@\u{2060}{}", &mention[1..]));
    }
    out
}

/// Text for the `text` of a Teams MessageCard, which renders Markdown and some HTML
/// (docs/microsoft-behaviour.md §11): control characters shown escaped, `&`, `<` and `>` as HTML
/// entities (no tag, no `<https://…>` link), and the Markdown characters that make links,
/// emphasis, code or headings (`\` `` ` `` `*` `_` `[` `]` `~` `#`) escaped with a backslash.
pub fn teams_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in cli_kit::output::printable(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The body of a notification in `format`. A finding's message carries names chosen outside
/// the partner (a customer's company name, a GDAP relationship's display name): in Teams and
/// Slack bodies they are text, never a mention, a link or markup ([`teams_text`],
/// [`slack_text`]); the generic body is JSON, left to its consumer.
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
        WebhookFormat::Teams => {
            // The summary and title are shown as plain text (no Markdown).
            let plain = cli_kit::output::printable(&title);
            json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": plain,
                "themeColor": match f.state {
                    State::Ok => "2EB886",
                    State::Warning => "FFA500",
                    State::Critical => "D00000",
                    State::Unknown | State::Skipped => "808080",
                },
                "title": plain,
                "text": teams_text(&f.message),
            })
        }
        WebhookFormat::Slack => json!({
            "text": format!("*{}*\n{}", slack_text(&title), slack_text(&f.message)),
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
    fn http_webhooks_are_refused_except_on_loopback() {
        for ok in [
            "https://hooks.example/s3cr3t",
            "http://127.0.0.1:8080/hook",
            "http://127.8.9.1/hook",
            "http://[::1]:9/hook",
            "http://LOCALHOST:9/hook",
        ] {
            assert!(WebhookUrl::new(ok).parse().is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example/s3cr3t",
            "http://10.0.0.1/s3cr3t",
            "http://localhost.evil.example/s3cr3t",
            "ftp://hooks.example/s3cr3t",
        ] {
            let e = WebhookUrl::new(bad).parse().unwrap_err();
            assert!(e.contains("https"), "{e}");
            assert!(!e.contains("s3cr3t") && !e.contains("hooks.example"), "{e}");
        }
        let e = Webhook::new(
            &WebhookUrl::new("http://hooks.example/x"),
            WebhookFormat::Teams,
            reqwest::Client::new(),
        )
        .unwrap_err();
        assert!(e.contains("loopback"), "{e}");
    }

    /// A message naming a hostile relationship and customer.
    fn hostile() -> Finding {
        Finding {
            check: "gdap",
            subject: "rel\u{1b}[2J-1".into(),
            state: State::Warning,
            message: "GDAP relationship \"<!channel> [click](https://evil.example) *x*\" with <https://evil.example|Fabrikam> & @here\u{1b}[31m\nfake line expires in 5.0 days".into(),
            seconds_left: Some(5 * 86_400),
        }
    }

    #[test]
    fn slack_bodies_cannot_mention_link_or_break_lines_from_names() {
        let finding = hostile();
        let change = Change {
            finding: &finding,
            previous: None,
            at: 0,
        };
        let text = body(WebhookFormat::Slack, &change)["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(
            text.contains("&lt;https://evil.example|Fabrikam&gt; &amp; "),
            "{text}"
        );
        assert!(!text.contains("@here"), "{text}");
        assert!(text.contains("@\u{2060}here"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert_eq!(
            text.lines().count(),
            2,
            "only the title's line break: {text}"
        );
        assert!(
            text.starts_with("*SAM watch: gdap rel\\u{1b}[2J-1 is warning*\n"),
            "{text}"
        );
    }

    #[test]
    fn teams_bodies_render_names_as_text() {
        let finding = hostile();
        let change = Change {
            finding: &finding,
            previous: Some(State::Ok),
            at: 0,
        };
        let card = body(WebhookFormat::Teams, &change);
        let text = card["text"].as_str().unwrap();
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(
            text.contains("\\[click\\](https://evil.example) \\*x\\*"),
            "{text}"
        );
        assert!(
            text.contains("&lt;!channel&gt;") && text.contains(" &amp; "),
            "{text}"
        );
        assert!(!text.contains('\u{1b}') && !text.contains('\n'), "{text}");
        for field in ["title", "summary"] {
            let plain = card[field].as_str().unwrap();
            assert_eq!(plain, "SAM watch: gdap rel\\u{1b}[2J-1 is warning");
        }
        // The generic body keeps the text as it is: JSON, for its consumer to escape.
        let generic = body(WebhookFormat::Generic, &change);
        assert_eq!(generic["message"], finding.message.as_str());
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
