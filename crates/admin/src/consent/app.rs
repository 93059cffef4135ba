//! What every command shares: the token broker, the Partner Center and Graph clients, the
//! application-consent rate limiter, and the translation of failures into remedies.
//!
//! Two kinds of tokens are used. Partner Center calls, and the Graph calls that add application
//! permissions in a customer tenant, carry an App + User token redeemed from the *partner's*
//! stored refresh token (one grant per partner: a CPV serves many partners) — at the customer's
//! authority for the latter, which works only once the application is consented there. Graph
//! reads with application permissions carry the application's *own* app-only token (client
//! credentials with its certificate), whose `roles` are the app-role assignments in that tenant.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cli_kit::{Failure, Run};
use common::cloud::Resource;
use common::config::{AppMode, Settings};
use common::graph::{GraphClient, GraphError, GraphOptions};
use common::http::{CallCounts, RetryPolicy, Tenant, TokenFuture, TokenSource, TokenSourceError};
use common::partner_center::{PartnerCenterClient, PartnerCenterError, PartnerCenterOptions};
use common::remedy::Remedy;
use common::secret::ExposeSecret as _;
use common::tokens::BrokerTokens;
use common::tokens::{BrokerError, BrokerSettings, TokenBroker};
use url::Url;

use super::limiter::RateLimiter;

/// The remedy of a token failure, refined for what cpv-app does: the application's own
/// (app-only) tokens in customer tenants, and configuration it cannot work without.
fn remedy_of(e: &BrokerError) -> Remedy {
    match e {
        // AADSTS700016: the application has no service principal in that tenant.
        BrokerError::Token(t) if t.entra().is_some_and(|x| x.has_code(700_016)) => {
            Remedy::CustomerConsent
        }
        BrokerError::Config(_) if e.remedy() == Remedy::None => Remedy::FixConfiguration,
        _ => e.remedy(),
    }
}

/// The application's own app-only tokens in customer tenants.
struct AppTokens {
    broker: TokenBroker,
}

impl TokenSource for AppTokens {
    fn token<'a>(&'a self, tenant: Tenant<'a>, resource: Resource) -> TokenFuture<'a> {
        Box::pin(async move {
            let Tenant::Customer(tenant) = tenant else {
                return Err(TokenSourceError::unavailable(
                    "cpv-app calls Graph only in customer tenants",
                ));
            };
            self.broker
                .app_only_token(tenant, resource)
                .await
                .map_err(|e| TokenSourceError {
                    remedy: remedy_of(&e),
                    ..TokenSourceError::from(&e)
                })
        })
    }
}

/// Attempts of one application-consent call (429, 5xx and transport failures are retried).
const CONSENT_ATTEMPTS: u32 = 8;

/// The state of a command run.
pub struct App {
    settings: Settings,
    broker: TokenBroker,
    http: reqwest::Client,
    consent_page: Url,
    limiter: RateLimiter,
    run_id: uuid::Uuid,
    graph: GraphClient,
    graph_base: Url,
    delegated_graph: Mutex<HashMap<String, GraphClient>>,
    unretried_graph: Mutex<HashMap<String, GraphClient>>,
    tool: &'static str,
    clients: Mutex<HashMap<String, (PartnerCenterClient, PartnerCenterClient)>>,
    throttled: AtomicU64,
    waited_ms: AtomicU64,
    customer_names: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("broker", &self.broker)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// Options of a run.
#[derive(Clone, Copy, Debug)]
pub struct AppOptions {
    /// Application-consent requests per second (all partners together).
    pub consent_rate: u32,
    /// The command line tool, named in remedies (`csp-app`, `cpv-app`).
    pub tool: &'static str,
}

impl App {
    /// The clients of a run over `run`'s HTTP client and broker (opened by
    /// [`cli_kit::Run::open`], as `csp-app`'s context is).
    pub fn new(run: Run, options: AppOptions) -> Result<Self, Failure> {
        let Run {
            settings,
            http,
            broker,
        } = run;
        let consent_page = BrokerSettings::from_settings(&settings).consent_page;
        let graph_base = settings
            .cloud
            .base_url(Resource::Graph)
            .cloned()
            .ok_or_else(|| {
                Failure::config(format!(
                    "cannot start: the {} cloud has no Microsoft Graph endpoint",
                    settings.cloud.name
                ))
            })?;
        let graph = GraphClient::new(
            graph_base.clone(),
            http.clone(),
            Arc::new(AppTokens {
                broker: broker.clone(),
            }),
            GraphOptions::default(),
        );
        Ok(Self {
            settings,
            broker,
            http,
            consent_page,
            limiter: RateLimiter::per_second(options.consent_rate),
            run_id: uuid::Uuid::new_v4(),
            graph,
            graph_base,
            delegated_graph: Mutex::new(HashMap::new()),
            unretried_graph: Mutex::new(HashMap::new()),
            tool: options.tool,
            clients: Mutex::new(HashMap::new()),
            throttled: AtomicU64::new(0),
            waited_ms: AtomicU64::new(0),
            customer_names: Mutex::new(HashMap::new()),
        })
    }

    /// The application (client) ID.
    pub fn app_id(&self) -> &str {
        &self.settings.app.client_id
    }

    /// The application's display name (sent with consents).
    pub fn display_name(&self) -> &str {
        &self.settings.app.display_name
    }

    /// The customers every fan-out leaves out unless told otherwise (`[customers] exclude`).
    pub fn customer_settings(&self) -> &common::config::CustomerSettings {
        &self.settings.customers
    }

    /// The permissions the application is expected to hold in customer tenants
    /// (`[customers] delegated_permissions`, `application_permissions`).
    pub fn customer_permissions(&self) -> &common::config::CustomerPermissions {
        &self.settings.customer_permissions
    }

    /// Where a partner's admin agent consents (the partner-consent app).
    pub fn consent_page(&self) -> &Url {
        &self.consent_page
    }

    /// The broker.
    pub fn broker(&self) -> &TokenBroker {
        &self.broker
    }

    /// The partners to act for: those named with `--partner`, else the configured ones
    /// (`partner.allowed_tenants`, and `partner.tenant_id` in CSP mode) together with every
    /// partner whose consent is stored. When the store refuses to list (Key Vault without the
    /// `list` permission), the configured partners alone, with a warning.
    pub async fn partners(&self, named: &[String]) -> Vec<String> {
        let mut partners: Vec<String> = if named.is_empty() {
            let p = &self.settings.partner;
            let own = match self.settings.mode {
                AppMode::Csp => p.tenant_id.clone(),
                AppMode::Cpv => None,
            };
            let stored = match self.broker.stored_partners().await {
                Ok(grants) => grants.into_iter().map(|g| g.tenant_id).collect(),
                Err(e) => {
                    tracing::warn!(
                        "cannot list the stored partners ({e}); using the configured ones: grant the store identity `list` on secrets, or name partners in partner.allowed_tenants"
                    );
                    Vec::new()
                }
            };
            let allowed = |t: &String| {
                p.allowed_tenants.is_empty()
                    || p.allowed_tenants.iter().any(|a| a.eq_ignore_ascii_case(t))
            };
            p.allowed_tenants
                .iter()
                .cloned()
                .chain(own)
                .chain(stored.into_iter().filter(allowed))
                .collect()
        } else {
            named.to_vec()
        };
        for p in &mut partners {
            p.make_ascii_lowercase();
        }
        let mut seen = std::collections::HashSet::new();
        partners.retain(|p| seen.insert(p.clone()));
        partners
    }

    fn clients(&self, partner: &str) -> (PartnerCenterClient, PartnerCenterClient) {
        let mut map = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(partner.to_owned())
            .or_insert_with(|| {
                let base = self.settings.cloud.partner_center.clone();
                let tokens = Arc::new(BrokerTokens::new(self.broker.clone(), partner));
                let options = PartnerCenterOptions {
                    correlation_id: Some(self.run_id),
                    application_name: Some("cpv-app".into()),
                    ..PartnerCenterOptions::default()
                };
                let reads = PartnerCenterClient::new(
                    base.clone(),
                    self.http.clone(),
                    tokens.clone(),
                    options.clone(),
                );
                // Application consents are throttled by our own limiter, which must see every
                // 429 to hold all workers: the client itself does not retry.
                let consents = PartnerCenterClient::new(
                    base,
                    self.http.clone(),
                    tokens,
                    PartnerCenterOptions {
                        retry: RetryPolicy::none(),
                        ..options
                    },
                );
                (reads, consents)
            })
            .clone()
    }

    /// Partner Center as `partner` (reads; retries and throttling handled by the client).
    pub fn partner_center(&self, partner: &str) -> PartnerCenterClient {
        self.clients(partner).0
    }

    /// Graph with the application's app-only tokens.
    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    /// Graph with `partner`'s delegated tokens (in a customer tenant: redeemed at its authority).
    pub fn graph_as(&self, partner: &str) -> GraphClient {
        let mut map = self
            .delegated_graph
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(partner.to_owned())
            .or_insert_with(|| {
                GraphClient::new(
                    self.graph_base.clone(),
                    self.http.clone(),
                    Arc::new(BrokerTokens::new(self.broker.clone(), partner)),
                    GraphOptions::default(),
                )
            })
            .clone()
    }

    /// Remember a customer's company name (from Partner Center's customer list) for messages.
    pub fn note_customer_name(&self, tenant: &str, name: &str) {
        if !name.is_empty() {
            self.customer_names
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(tenant.to_ascii_lowercase(), name.to_owned());
        }
    }

    /// A customer as messages name it: its company name when known, its tenant ID otherwise.
    pub fn customer_label(&self, tenant: &str) -> String {
        self.customer_names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tenant.to_ascii_lowercase())
            .map_or_else(|| tenant.to_owned(), |n| format!("{n} ({tenant})"))
    }

    /// Graph with `partner`'s delegated tokens that does not retry by itself: a 429's
    /// `Retry-After` comes back to the caller (`GraphError::GaveUp`), which waits for it without
    /// holding a slot of the fan-out ([`super::replication::Waits::call`]).
    pub fn graph_as_unretried(&self, partner: &str) -> GraphClient {
        let mut map = self
            .unretried_graph
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(partner.to_owned())
            .or_insert_with(|| {
                GraphClient::new(
                    self.graph_base.clone(),
                    self.http.clone(),
                    Arc::new(BrokerTokens::new(self.broker.clone(), partner)),
                    GraphOptions {
                        retry: RetryPolicy::none(),
                    },
                )
            })
            .clone()
    }

    /// The command line tool, for remedies (`csp-app`, `cpv-app`).
    pub fn tool(&self) -> &'static str {
        self.tool
    }

    /// Calls counted so far: Partner Center (all partners) and Graph.
    pub fn call_counts(&self) -> (CallCounts, CallCounts) {
        let map = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let mut pc = CallCounts::default();
        for (reads, consents) in map.values() {
            for s in [reads.stats(), consents.stats()] {
                pc.requests += s.requests;
                pc.retries += s.retries;
                pc.throttled += s.throttled;
                pc.waited_ms += s.waited_ms;
            }
        }
        pc.waited_ms += self.waited_ms.load(Ordering::Relaxed);
        let mut graph = self.graph.stats();
        let delegated: Vec<GraphClient> = [&self.delegated_graph, &self.unretried_graph]
            .iter()
            .flat_map(|m| {
                m.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        for client in &delegated {
            let s = client.stats();
            graph.requests += s.requests;
            graph.retries += s.retries;
            graph.throttled += s.throttled;
            graph.waited_ms += s.waited_ms;
        }
        (pc, graph)
    }

    /// 429 answers to application-consent calls that were waited out.
    pub fn throttled_honoured(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// An application-consent call as `partner`, paced by the rate limiter; 429 holds every
    /// worker for `Retry-After`, 5xx and transport failures back off, up to
    /// [`CONSENT_ATTEMPTS`] attempts.
    pub async fn consent_call<T, F, Fut>(
        &self,
        partner: &str,
        call: F,
    ) -> Result<T, PartnerCenterError>
    where
        F: Fn(PartnerCenterClient) -> Fut,
        Fut: Future<Output = Result<T, PartnerCenterError>>,
    {
        let client = self.clients(partner).1;
        let mut attempt = 1;
        loop {
            self.limiter.acquire().await;
            let result = call(client.clone()).await;
            let retry = match &result {
                Err(PartnerCenterError::GaveUp {
                    status: 429,
                    retry_after,
                    ..
                }) => {
                    let wait = retry_after.unwrap_or(Duration::from_secs(1));
                    self.limiter.hold(Instant::now(), wait);
                    self.throttled.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        tenant.id = %partner,
                        wait_ms = wait.as_millis() as u64,
                        "Partner Center throttled an application consent; holding every worker"
                    );
                    Some(Duration::ZERO)
                }
                Err(PartnerCenterError::GaveUp { .. } | PartnerCenterError::Transport(_)) => {
                    Some(Duration::from_millis(250) * 2u32.pow(attempt.min(6)))
                }
                _ => None,
            };
            match retry {
                Some(wait) if attempt < CONSENT_ATTEMPTS => {
                    attempt += 1;
                    self.waited_ms.fetch_add(
                        u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        Ordering::Relaxed,
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => return result,
            }
        }
    }

    /// Checks that `partner`'s grant gives a Partner Center token (one redemption, cached).
    pub async fn check_partner(&self, partner: &str) -> Result<(), Failure> {
        self.broker
            .delegated_token(partner, partner, Resource::PartnerCenter)
            .await
            .map(drop)
            .map_err(|e| self.from_broker(partner, &e))
    }

    /// The application roles (`roles`) the application's app-only Graph token carries in a
    /// customer tenant: its app-role assignments on Microsoft Graph there.
    pub async fn graph_roles(&self, customer: &str) -> Result<Vec<String>, Failure> {
        let token = self
            .broker
            .app_only_token(customer, Resource::Graph)
            .await
            .map_err(|e| self.app_token_failure(customer, &e))?;
        Ok(jwt_list(token.expose_secret(), "roles"))
    }

    /// The delegated Graph permissions (`scp`) the application holds for `partner`'s user in a
    /// customer tenant: the tenant-wide grant Partner Center's application consent made there.
    /// `fresh` forgets a cached token first (after the consent changed).
    pub async fn delegated_graph_scopes(
        &self,
        partner: &str,
        customer: &str,
        fresh: bool,
    ) -> Result<Vec<String>, Failure> {
        if fresh {
            self.broker
                .forget_delegated_token(partner, customer, Resource::Graph);
        }
        let token = self
            .broker
            .delegated_token(partner, customer, Resource::Graph)
            .await
            .map_err(|e| self.customer_token_failure(partner, customer, &e))?;
        Ok(jwt_list(token.expose_secret(), "scp"))
    }

    /// A failure of `partner`'s delegated token at a customer's authority.
    pub fn customer_token_failure(
        &self,
        partner: &str,
        customer: &str,
        e: &BrokerError,
    ) -> Failure {
        match e.remedy() {
            Remedy::CustomerConsent => Failure::with_remedy(
                format!(
                    "the application is not consented in customer tenant {customer} ({e}): grant it with `{} consent grant --customer {customer} --delegated …`",
                    self.tool
                ),
                Remedy::CustomerConsent,
            ),
            _ => self.from_broker(partner, e),
        }
    }

    /// A partner-side token failure.
    pub fn from_broker(&self, partner: &str, e: &BrokerError) -> Failure {
        let remedy = remedy_of(e);
        let consent_url = e.consent_page().map(ToString::to_string).or_else(|| {
            remedy
                .needs_consent()
                .then(|| self.consent_page.to_string())
        });
        Failure {
            consent_url,
            ..Failure::with_remedy(format!("partner {partner}: {e}"), remedy)
        }
    }

    /// An app-only token failure in a customer tenant.
    pub fn app_token_failure(&self, customer: &str, e: &BrokerError) -> Failure {
        let remedy = remedy_of(e);
        if remedy == Remedy::CustomerConsent {
            return Failure::with_remedy(
                format!(
                    "the application is not consented in customer tenant {customer} ({e}): grant it with `{} consent grant --customer {customer} --delegated …`",
                    self.tool
                ),
                remedy,
            );
        }
        Failure::with_remedy(
            format!("no app-only token in customer tenant {customer}: {e}"),
            remedy,
        )
    }

    /// A Partner Center failure for `partner` (and `customer`, when the call was about one).
    pub fn from_partner_center(
        &self,
        partner: &str,
        customer: Option<&str>,
        e: &PartnerCenterError,
    ) -> Failure {
        match e {
            PartnerCenterError::Token(t) => Failure {
                consent_url: t.consent_url.clone().or_else(|| {
                    t.remedy
                        .needs_consent()
                        .then(|| self.consent_page.to_string())
                }),
                ..Failure::with_remedy(format!("partner {partner}: {t}"), t.remedy)
            },
            PartnerCenterError::Api { status, fault, .. }
                if customer.is_some()
                    && (fault.code_text() == "20002"
                        || (*status == 404 && fault.code_text() == "1000")) =>
            {
                let customer = customer.unwrap_or_default();
                Failure::with_remedy(
                    format!(
                        "customer {customer} is not a customer of partner {partner} ({e}): check the customer ID, or name the partner it belongs to with --partner"
                    ),
                    Remedy::None,
                )
            }
            e => {
                let remedy = e.remedy();
                let mut failure = Failure::with_remedy(format!("partner {partner}: {e}"), remedy);
                match remedy {
                    Remedy::Mfa => {
                        failure.message.push_str(&format!(
                            "; an admin agent of partner {partner} must consent again, signing in with multi-factor authentication, at {}",
                            self.consent_page
                        ));
                        failure.consent_url = Some(self.consent_page.to_string());
                    }
                    r if r.ends_grant() => {
                        failure.message.push_str(&format!(
                            "; an admin agent of partner {partner} must consent again at {}",
                            self.consent_page
                        ));
                        failure.consent_url = Some(self.consent_page.to_string());
                    }
                    Remedy::RetryLater => failure.message.push_str("; try again later"),
                    _ => {}
                }
                failure
            }
        }
    }

    /// A Graph failure in a customer tenant, with the application's app-only token.
    pub fn from_graph(&self, customer: &str, e: &GraphError) -> Failure {
        match e {
            GraphError::Token(t) if t.remedy == Remedy::CustomerConsent => Failure::with_remedy(
                format!(
                    "the application is not consented in customer tenant {customer} ({t}): grant it with `{} consent grant --customer {customer} --delegated …`",
                    self.tool
                ),
                Remedy::CustomerConsent,
            ),
            GraphError::Token(t) => Failure::with_remedy(
                format!("no app-only token in customer tenant {customer}: {t}"),
                t.remedy,
            ),
            GraphError::Api {
                status: 401 | 403, ..
            } => Failure::with_remedy(
                format!(
                    "the application's consent in customer tenant {customer} does not allow this call ({e}): grant the permission with `{} consent grant --customer {customer} --application graph:…` (app-only) or `--reset --delegated graph:…`",
                    self.tool
                ),
                Remedy::CustomerConsent,
            ),
            e => Failure::with_remedy(format!("customer {customer}: {e}"), e.remedy()),
        }
    }
}

/// The `roles` (a JSON array) or `scp` (a space-separated string) claim of a JWT, read without
/// verification: the token came straight from the token endpoint over TLS, and is only
/// inspected to compare grants.
fn jwt_list(jwt: &str, claim: &str) -> Vec<String> {
    let Ok(claims) = common::entra::decode_unverified::<serde_json::Value>(jwt) else {
        return Vec::new();
    };
    match claims.get(claim) {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn roles_are_read_from_an_app_only_token() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.sig",
            b64("{}"),
            b64(r#"{"roles":["User.Read.All","Directory.Read.All"]}"#)
        );
        assert_eq!(
            jwt_list(&jwt, "roles"),
            ["User.Read.All", "Directory.Read.All"]
        );
        assert!(jwt_list("opaque", "roles").is_empty());
        let jwt = format!(
            "{}.{}.sig",
            b64("{}"),
            b64(r#"{"scp":"User.Read.All  AppRoleAssignment.ReadWrite.All"}"#)
        );
        assert_eq!(
            jwt_list(&jwt, "scp"),
            ["User.Read.All", "AppRoleAssignment.ReadWrite.All"]
        );
    }
}
