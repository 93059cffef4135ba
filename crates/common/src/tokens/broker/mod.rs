//! The token broker: the one object the apps use to get tokens ([`TokenBroker`]).
//!
//! It reads one concern per file:
//!
//! - `error`: why it could not give a token, and what to do about it;
//! - `consent`: an admin agent's consent, checked (tenant rule, MFA, a Partner Center call)
//!   before it is stored;
//! - `sources`: access tokens (delegated through a partner's grant, or app-only), cached and
//!   single-flight, and the broker as the REST clients' token source ([`BrokerTokens`]);
//! - `rotation`: the partner's refresh token redeemed, its rotations stored one writer at a
//!   time, the keepalive, `flush` and the grant's status;
//! - `restore`: an operator's return to the grant before the stored one;
//! - `open`: a broker, its store and its app credential from validated configuration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};

use tokio::sync::Mutex;
use url::Url;

use super::cache::{AccessTokenCache, CachePolicy, Fetched};
use crate::cloud::CloudEndpoints;
use crate::config::EndpointVersion;
use crate::entra::{ClientCredential, EntraClient, IdTokenValidator, TokenResponse};
use crate::store::RefreshTokenStore;

mod consent;
mod error;
mod open;
mod restore;
mod rotation;
mod sources;

pub use consent::ConsentRecord;
pub use error::BrokerError;
pub use open::{OpenedStore, app_credential, open_store};
pub use restore::Restored;
pub use rotation::GrantStatus;
pub use sources::BrokerTokens;

use rotation::GrantState;

/// What the broker needs to know; [`BrokerSettings::from_settings`] fills it from configuration.
#[derive(Clone, Debug)]
pub struct BrokerSettings {
    /// The multitenant application (client) ID.
    pub app_id: String,
    /// Cloud endpoints.
    pub cloud: CloudEndpoints,
    /// v1 (`resource`) or v2 (`scope`).
    pub version: EndpointVersion,
    /// Tenant segment of the consent sign-in (`common`, `organizations` or the partner tenant).
    pub authority_tenant: String,
    /// Host of the authorize endpoint, when not the authority host (`entra.sign_in_host`).
    pub sign_in_host: Option<Url>,
    /// The redirect URL registered on the app.
    pub redirect_url: Url,
    /// The page where an admin agent starts the consent (named in re-consent errors).
    pub consent_page: Url,
    /// `prompt` sent with the consent sign-in.
    pub prompt: Option<String>,
    /// The partner tenant of a CSP app: the only one allowed to consent, and the partner whose
    /// grant [`TokenBroker::access_token`] uses for customer tenants.
    pub default_partner: Option<String>,
    /// CPV: the partner tenants allowed to consent; `*` allows any tenant, and an empty list
    /// allows none (CPV partner-consent refuses to start with it).
    pub allowed_partners: Vec<String>,
    /// Access-token cache policy.
    pub cache: CachePolicy,
    /// Attempts to store a rotated refresh token before reporting the failure.
    pub store_attempts: usize,
}

struct Inner {
    settings: BrokerSettings,
    http: reqwest::Client,
    client: EntraClient,
    validator: IdTokenValidator,
    store: Arc<dyn RefreshTokenStore>,
    cache: AccessTokenCache<BrokerError>,
    grants: StdMutex<HashMap<String, Arc<Mutex<GrantState>>>>,
}

/// Turns the partner's consented refresh token into access tokens for Partner Center, the
/// Partner API and Microsoft Graph; keeps the refresh token rotated in its store; caches access
/// tokens. Cheap to clone; make one per process.
///
/// ```no_run
/// # async fn example(broker: common::tokens::TokenBroker, code: String, partner: &str, customer: &str)
/// # -> Result<(), common::tokens::BrokerError> {
/// use common::cloud::Resource;
/// use common::entra::AuthorizeOptions;
/// use common::secret::AuthCode;
/// // partner-consent: start (redirect to pending.url, keep `pending` in the state cookie) ...
/// let pending = broker.consent_url(AuthorizeOptions::default());
/// // ... and finish at the callback.
/// let record = broker.store_consent(AuthCode::new(code), &pending).await?;
/// // csp-app: Partner Center as the partner, Graph in a customer tenant (GDAP).
/// let pc = broker.access_token(partner, Resource::PartnerCenter).await?;
/// let graph = broker.access_token(customer, Resource::Graph).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenBroker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBroker")
            .field("app_id", &self.inner.settings.app_id)
            .field("store", &self.inner.store.location())
            .finish_non_exhaustive()
    }
}

impl TokenBroker {
    /// A broker from its parts.
    pub fn new(
        settings: BrokerSettings,
        http: reqwest::Client,
        credential: ClientCredential,
        store: Arc<dyn RefreshTokenStore>,
    ) -> Self {
        let client = EntraClient::new(
            http.clone(),
            settings.cloud.authority_host.clone(),
            settings.app_id.clone(),
            credential,
            settings.version,
        )
        .with_sign_in_host(settings.sign_in_host.clone());
        let validator = IdTokenValidator::new(
            http.clone(),
            &settings.cloud.authority_host,
            &settings.authority_tenant,
            settings.version,
            settings.app_id.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                cache: AccessTokenCache::new(settings.cache),
                settings,
                http,
                client,
                validator,
                store,
                grants: StdMutex::new(HashMap::new()),
            }),
        }
    }

    /// The Entra client (for callers that need a grant the broker does not wrap).
    pub fn entra(&self) -> &EntraClient {
        &self.inner.client
    }
}

fn fetched(r: &TokenResponse) -> Fetched {
    Fetched {
        access_token: r.access_token.clone(),
        received_at: r.received_at,
        expires_in: r.expires_in,
        refresh_in: r.refresh_in,
    }
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds as RFC 3339, for messages (the number itself when out of range).
fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}
