//! What every command of both CLIs runs on, opened once per run: the validated settings, the
//! process's one HTTP client (timeouts, extra CA, no redirects) and the token broker over the
//! configured refresh-token store. `csp-app`'s context and `cpv-app`'s (`admin::consent::App`)
//! are built on a [`Run`], so a start-up failure reads and exits the same in both.

use common::config::Settings;
use common::tokens::{BrokerError, TokenBroker};

use crate::Failure;

/// The settings, HTTP client and token broker of one run.
#[derive(Clone, Debug)]
pub struct Run {
    /// Validated configuration.
    pub settings: Settings,
    /// The process's HTTP client.
    pub http: reqwest::Client,
    /// The token broker.
    pub broker: TokenBroker,
}

impl Run {
    /// Builds the HTTP client and the broker. A failure is reported as `cannot start: …`; one
    /// of the configuration or of the store it names (unreadable key file, bad vault URL) exits
    /// 2, like any configuration error.
    pub async fn open(settings: Settings) -> Result<Self, Failure> {
        let http = common::http::build_client(&settings.http)
            .map_err(|e| Failure::config(format!("cannot start: {e}")))?;
        let broker = TokenBroker::from_settings(&settings, http.clone())
            .await
            .map_err(|e| start_failure(&e))?;
        Ok(Self {
            settings,
            http,
            broker,
        })
    }

    /// Waits until refresh tokens rotated during the run are stored: call it before the
    /// process exits.
    pub async fn flush(&self) {
        self.broker.flush().await;
    }
}

/// The failure of opening the broker.
pub fn start_failure(e: &BrokerError) -> Failure {
    let base = Failure::from(e);
    Failure {
        message: format!("cannot start: {}", base.message),
        is_config: matches!(e, BrokerError::Config(_) | BrokerError::Store(_)),
        ..base
    }
}
