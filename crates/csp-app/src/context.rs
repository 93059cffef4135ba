//! What every API command needs, built once per run on the [`Run`] both CLIs open (the
//! process's HTTP client and the token broker reading the consented refresh token from the
//! configured store): the partner, and the Partner Center and Graph clients sharing both.

use std::sync::Arc;

use cli_kit::{Failure, Run};
use common::cloud::Resource;
use common::config::Settings;
use common::graph::{GraphClient, GraphOptions};
use common::partner_center::{PartnerCenterClient, PartnerCenterOptions};
use common::tokens::BrokerTokens;
use common::tokens::TokenBroker;
use uuid::Uuid;

/// Clients and tokens of one run.
#[derive(Debug)]
pub struct Context {
    /// Validated configuration.
    pub settings: Settings,
    /// The process's HTTP client (timeouts, extra CA, no redirects).
    pub http: reqwest::Client,
    /// The token broker.
    pub broker: TokenBroker,
    /// The partner tenant whose grant is used.
    pub partner: String,
    /// Tokens through the partner's grant.
    pub tokens: Arc<BrokerTokens>,
    /// Partner Center.
    pub partner_center: PartnerCenterClient,
    /// Microsoft Graph.
    pub graph: GraphClient,
    /// `MS-CorrelationId` of every Partner Center call of this run (logged, for support).
    pub correlation_id: Uuid,
}

/// The one partner tenant csp-app acts for (`partner.tenant_id`).
pub fn partner_of(settings: &Settings) -> Result<String, Failure> {
    settings.partner.tenant_id.clone().ok_or_else(|| {
        Failure::config("partner.tenant_id is not set: csp-app acts for one partner tenant (set partner.tenant_id or SAM_PARTNER__TENANT_ID)")
    })
}

impl Context {
    /// Opens the run ([`Run::open`]) and builds the clients from configuration.
    pub async fn build(settings: &Settings) -> Result<Self, Failure> {
        Self::open(Run::open(settings.clone()).await?)
    }

    /// The clients over an opened run.
    pub fn open(run: Run) -> Result<Self, Failure> {
        let Run {
            settings,
            http,
            broker,
        } = run;
        let settings = &settings;
        let partner = partner_of(settings)?;
        let tokens = Arc::new(BrokerTokens::new(broker.clone(), partner.clone()));
        let correlation_id = Uuid::new_v4();
        tracing::debug!(ms.correlation_id = %correlation_id, tenant.id = %partner, "csp-app run");
        let base = |resource: Resource| {
            settings.cloud.base_url(resource).cloned().ok_or_else(|| {
                Failure::config(format!(
                    "the {} cloud has no {resource} endpoint",
                    settings.cloud.name
                ))
            })
        };
        let partner_center = PartnerCenterClient::new(
            base(Resource::PartnerCenter)?,
            http.clone(),
            tokens.clone(),
            PartnerCenterOptions {
                correlation_id: Some(correlation_id),
                ..PartnerCenterOptions::default()
            },
        );
        let graph = GraphClient::new(
            base(Resource::Graph)?,
            http.clone(),
            tokens.clone(),
            GraphOptions::default(),
        );
        Ok(Self {
            settings: settings.clone(),
            http,
            broker,
            partner,
            tokens,
            partner_center,
            graph,
            correlation_id,
        })
    }
}
