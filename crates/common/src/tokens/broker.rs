//! The token broker: the one object the apps use to get tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use futures::future::Either;
use tokio::sync::{Mutex, OwnedMutexGuard};
use tracing::Instrument as _;
use url::Url;

use super::cache::{AccessTokenCache, CachePolicy, Fetched, Identity, KeyRef};
use super::local::LocalFileStore;
use super::store::{GrantMetadata, RefreshTokenStore, StoreError, StoredGrant};
use crate::cloud::{CloudEndpoints, Resource};
use crate::config::{AppCredential, AppMode, EndpointVersion, Settings, StoreSettings};
use crate::entra::{
    AuthorizeOptions, CertificateError, CertificateSigner, ClientCredential, EntraClient,
    ExpectedIdToken, IdTokenError, IdTokenValidator, PendingAuthorization, SignedInUser,
    TokenError, TokenResponse, TokenTarget,
};
use crate::remedy::Remedy;
use crate::secret::{AccessToken, AuthCode, ExposeSecret as _, RefreshToken};

/// Why the broker could not give a token.
#[derive(Clone, Debug, thiserror::Error)]
pub enum BrokerError {
    /// No refresh token is stored for the partner tenant.
    #[error(
        "no consent is stored for partner tenant {partner}: an admin agent must consent at {consent_page}"
    )]
    NotConsented {
        /// The partner tenant.
        partner: String,
        /// Where to consent.
        consent_page: Url,
    },
    /// The stored refresh token is expired, revoked or invalid.
    #[error(
        "re-consent needed for partner tenant {partner}: {source}. An admin agent must consent again at {consent_page}"
    )]
    ReconsentRequired {
        /// The partner tenant.
        partner: String,
        /// Where to consent.
        consent_page: Url,
        /// What Entra said.
        source: TokenError,
    },
    /// The grant has no MFA, or the consent sign-in did not use MFA.
    #[error(
        "multi-factor authentication required for partner tenant {partner}: {source}. Consent again with MFA at {consent_page}"
    )]
    MfaRequired {
        /// The partner tenant.
        partner: String,
        /// Where to consent.
        consent_page: Url,
        /// What Entra said.
        source: TokenError,
    },
    /// The app is not consented in the customer tenant (AADSTS65001).
    #[error("the application is not consented in customer tenant {customer}: {source}")]
    CustomerConsentMissing {
        /// The customer tenant.
        customer: String,
        /// What Entra said.
        source: TokenError,
    },
    /// No delegated (GDAP) access to the customer tenant.
    #[error(
        "partner tenant {partner} has no delegated admin (GDAP) access to customer tenant {customer}: {source}"
    )]
    NoDelegatedAccess {
        /// The partner tenant.
        partner: String,
        /// The customer tenant.
        customer: String,
        /// What Entra said.
        source: TokenError,
    },
    /// A tenant that may not consent tried to (CSP: not the partner tenant; CPV: not allowed).
    #[error("tenant {tenant} is not allowed to consent to this application ({why})")]
    TenantNotAllowed {
        /// The tenant.
        tenant: String,
        /// Which rule refused it.
        why: String,
    },
    /// The consent sign-in did not use multi-factor authentication (`amr` without `mfa`):
    /// nothing was stored.
    #[error(
        "the consent for partner tenant {partner} was signed in without multi-factor authentication, so it was not stored (any grant stored before stays in use). Sign in again with MFA at {consent_page}: Partner Center refuses tokens without it"
    )]
    ConsentWithoutMfa {
        /// The partner tenant.
        partner: String,
        /// Where to consent.
        consent_page: Url,
    },
    /// Partner Center refused, or could not answer, a call made with the new consent's token:
    /// nothing was stored, and a grant stored before stays in use.
    #[error(
        "the consent for partner tenant {partner} was not stored (any grant stored before stays in use): a Partner Center call with its token failed: {message}. {advice}"
    )]
    ConsentNotVerified {
        /// The partner tenant.
        partner: String,
        /// HTTP status Partner Center answered, if it answered.
        status: Option<u16>,
        /// What Partner Center said.
        message: String,
        /// What to do.
        advice: &'static str,
        /// Whether trying again later may work (Partner Center unreachable or throttling).
        transient: bool,
    },
    /// The consent callback's ID token is invalid.
    #[error("the sign-in response is invalid: {0}")]
    IdToken(#[from] IdTokenError),
    /// The consent sign-in gave no refresh token or ID token.
    #[error("the sign-in response lacks a {0}")]
    Incomplete(&'static str),
    /// Any other token failure.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The refresh-token store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Configuration the broker cannot use.
    #[error("{0}")]
    Config(String),
}

impl BrokerError {
    /// The remedy, for display.
    pub fn remedy(&self) -> Remedy {
        match self {
            Self::ReconsentRequired { source, .. }
                if source.remedy() == Remedy::SignInFrequency =>
            {
                Remedy::SignInFrequency
            }
            Self::NotConsented { .. } | Self::ReconsentRequired { .. } => Remedy::Reconsent,
            Self::MfaRequired { .. } | Self::ConsentWithoutMfa { .. } => Remedy::Mfa,
            Self::ConsentNotVerified {
                transient: true, ..
            } => Remedy::RetryLater,
            Self::CustomerConsentMissing { .. } => Remedy::CustomerConsent,
            Self::NoDelegatedAccess { .. } => Remedy::GdapAccess,
            Self::Token(t) => t.remedy(),
            _ => Remedy::None,
        }
    }

    /// Where an admin agent should go to consent again, when that is the remedy.
    pub fn consent_page(&self) -> Option<&Url> {
        match self {
            Self::NotConsented { consent_page, .. }
            | Self::ReconsentRequired { consent_page, .. }
            | Self::MfaRequired { consent_page, .. }
            | Self::ConsentWithoutMfa { consent_page, .. } => Some(consent_page),
            _ => None,
        }
    }
}

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

impl BrokerSettings {
    /// From validated configuration. The consent page is the redirect URL's origin.
    pub fn from_settings(settings: &Settings) -> Self {
        let mut consent_page = settings.consent.redirect_url.clone();
        consent_page.set_path("/");
        consent_page.set_query(None);
        Self {
            app_id: settings.app.client_id.clone(),
            cloud: settings.cloud.clone(),
            version: settings.entra.endpoint_version,
            authority_tenant: settings.entra.authority_tenant.clone(),
            sign_in_host: settings.entra.sign_in_host.clone(),
            redirect_url: settings.consent.redirect_url.clone(),
            consent_page,
            prompt: settings.consent.prompt.clone(),
            default_partner: match settings.mode {
                AppMode::Csp => settings.partner.tenant_id.clone(),
                AppMode::Cpv => None,
            },
            allowed_partners: settings.partner.allowed_tenants.clone(),
            cache: CachePolicy::default(),
            store_attempts: 3,
        }
    }
}

/// A consent stored by [`TokenBroker::store_consent`].
#[derive(Clone, Debug)]
pub struct ConsentRecord {
    /// Who consented.
    pub user: SignedInUser,
    /// The metadata stored with the token.
    pub meta: GrantMetadata,
}

/// The state of a partner's grant, for health pages and the CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantStatus {
    /// The partner tenant.
    pub tenant_id: String,
    /// The stored grant's metadata; `None` when no consent is stored.
    pub meta: Option<GrantMetadata>,
    /// `false` when the latest rotated token could not be written to the store (the stored one
    /// is older but still valid; the broker retries at the next redemption).
    pub persisted: bool,
    /// The last store failure, if the latest write failed.
    pub last_store_error: Option<String>,
    /// Where the tokens are kept.
    pub location: String,
    /// How many rotated refresh tokens this process has written to the store so far.
    pub rotations_stored: u64,
}

#[derive(Debug, Default)]
struct GrantState {
    /// The newest refresh token known (possibly newer than the stored one).
    current: Option<StoredGrant>,
    persisted: bool,
    last_store_error: Option<String>,
    /// Bumped on every rotation, so a writer knows whether what it stored is still the newest.
    generation: u64,
    /// Held while a rotated token is being written: one writer per partner at a time.
    writer: Arc<Mutex<()>>,
    /// Rotated tokens written so far (reported by `status`).
    rotations_stored: u64,
}

/// What a write of the newest rotated token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// The newest token is stored (or nothing was left to store).
    Newest,
    /// A token was stored, and a newer one arrived meanwhile.
    Superseded,
    /// The write failed (reported; the previous token stays stored).
    Failed,
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

    /// A broker from validated configuration: the app credential (certificate or secret) and
    /// the configured store (local file or Key Vault).
    pub async fn from_settings(
        settings: &Settings,
        http: reqwest::Client,
    ) -> Result<Self, BrokerError> {
        let (store, vault) = open_store(settings, &http)?;
        let credential = app_credential(&settings.app.credential, vault.as_ref())
            .await
            .map_err(|e| BrokerError::Config(e.to_string()))?;
        Ok(Self::new(
            BrokerSettings::from_settings(settings),
            http,
            credential,
            store,
        ))
    }

    /// The Entra client (for callers that need a grant the broker does not wrap).
    pub fn entra(&self) -> &EntraClient {
        &self.inner.client
    }

    /// Starts a consent: the Entra authorize URL (state, nonce, PKCE S256) to redirect the
    /// admin agent to. Keep the returned value (in the encrypted state cookie) until the
    /// callback, then pass it to [`Self::store_consent`].
    ///
    /// `GET {authority}/{tenant}/oauth2[/v2.0]/authorize`
    /// (<https://learn.microsoft.com/partner-center/developer/enable-secure-app-model#get-authorization-code>).
    pub fn consent_url(&self, mut options: AuthorizeOptions) -> PendingAuthorization {
        let s = &self.inner.settings;
        if options.prompt.is_none() {
            options.prompt.clone_from(&s.prompt);
        }
        let target = self.delegated_target(Resource::PartnerCenter);
        self.inner
            .client
            .authorize_url(&s.authority_tenant, &s.redirect_url, &target, &options)
    }

    /// Finishes a consent: redeems the code (with the PKCE verifier, exactly once: a code is
    /// single-use), validates the ID token (signature, issuer, audience, expiry, nonce), and
    /// stores the refresh token under the partner tenant with its metadata — only when the
    /// grant rules hold, checked in this order, before anything is written:
    ///
    /// 1. the tenant rule (CSP: the partner tenant only; CPV: `partner.allowed_tenants`, where
    ///    `*` allows any tenant and an empty list none);
    /// 2. the sign-in used multi-factor authentication (`amr` contains `mfa`);
    /// 3. a real Partner Center call with the new access token succeeds
    ///    (`GET /v1/customers?size=1`), which proves the user holds a Partner Center role (Admin
    ///    Agent) and the token carries what Partner Center demands.
    ///
    /// A consent that fails any rule stores nothing, so a working grant stored before is never
    /// replaced by a weaker one; the error says why and what to do.
    ///
    /// `POST {authority}/{tenant}/oauth2[/v2.0]/token` with `grant_type=authorization_code`
    /// (<https://learn.microsoft.com/partner-center/developer/enable-secure-app-model#get-refresh-token>).
    #[tracing::instrument(skip_all)]
    pub async fn store_consent(
        &self,
        code: AuthCode,
        pending: &PendingAuthorization,
    ) -> Result<ConsentRecord, BrokerError> {
        let inner = &self.inner;
        let response = inner.client.redeem_code(&code, pending).await?;
        let id_token = response.id_token.as_ref().ok_or(BrokerError::Incomplete(
            "ID token (was `openid` requested?)",
        ))?;
        let user = inner
            .validator
            .validate(
                id_token,
                ExpectedIdToken {
                    nonce: &pending.nonce,
                    tenant: None,
                },
            )
            .await?;
        let tid = user.tenant_id.to_ascii_lowercase();
        self.check_tenant_may_consent(&tid)?;
        let refresh_token = response
            .refresh_token
            .clone()
            .ok_or(BrokerError::Incomplete("refresh token"))?;
        let mfa = user
            .mfa
            .or_else(|| jwt_amr_has_mfa(response.access_token.expose_secret()))
            .unwrap_or(false);
        if !mfa {
            tracing::warn!(tenant.id = %tid, "consent without MFA refused; nothing stored");
            return Err(BrokerError::ConsentWithoutMfa {
                partner: tid,
                consent_page: inner.settings.consent_page.clone(),
            });
        }
        // Verify first, write second: a consent Partner Center refuses never replaces a grant.
        self.verify_with_partner_center(&tid, &response.access_token)
            .await?;
        let now = unix_now();
        let meta = GrantMetadata {
            tenant_id: tid.clone(),
            user: user.upn.clone(),
            consented_at: now,
            rotated_at: now,
            app_id: inner.settings.app_id.clone(),
            cloud: inner.settings.cloud.name.to_string(),
            mfa,
        };
        let grant = StoredGrant {
            refresh_token,
            meta: meta.clone(),
        };
        // A consent must be stored: retry, and fail the consent (the admin sees it) if the
        // store stays down.
        // Hold the partner's writer lock, so that a rotation of a previous consent being
        // written right now cannot land after (and over) this new consent.
        let state = self.grant_state(&tid);
        let writer = state.lock().await.writer.clone();
        let _writing = writer.lock().await;
        self.put_with_retry(&grant).await?;
        let mut g = state.lock().await;
        g.current = Some(grant);
        g.persisted = true;
        g.last_store_error = None;
        g.generation += 1;
        drop(g);
        inner.cache.invalidate_partner(&tid);
        tracing::info!(tenant.id = %tid, mfa, "partner consent stored");
        Ok(ConsentRecord { user, meta })
    }

    /// The CSP rule (only the partner tenant) and the CPV allow-list (`*`: any; empty: none).
    fn check_tenant_may_consent(&self, tid: &str) -> Result<(), BrokerError> {
        let s = &self.inner.settings;
        if let Some(p) = s.default_partner.as_deref() {
            if !p.eq_ignore_ascii_case(tid) {
                return Err(BrokerError::TenantNotAllowed {
                    tenant: tid.to_owned(),
                    why: format!("CSP mode: only the partner tenant {p} may consent"),
                });
            }
            if s.allowed_partners.is_empty() {
                return Ok(());
            }
        }
        let allowed = &s.allowed_partners;
        if allowed
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(tid))
        {
            return Ok(());
        }
        Err(BrokerError::TenantNotAllowed {
            tenant: tid.to_owned(),
            why: if allowed.is_empty() {
                "partner.allowed_tenants is empty, which allows no tenant".into()
            } else {
                "not in partner.allowed_tenants".into()
            },
        })
    }

    /// One Partner Center call with the new consent's access token, before it is stored:
    /// `GET /v1/customers?size=1` — "Get a list of customers"
    /// (<https://learn.microsoft.com/partner-center/developer/get-a-list-of-customers>). Partner
    /// Center answers 403 when the user holds no Partner Center role (Admin Agent) and 401 when
    /// the token lacks MFA. Retried briefly on throttling or 5xx: an admin is waiting.
    async fn verify_with_partner_center(
        &self,
        partner: &str,
        token: &AccessToken,
    ) -> Result<(), BrokerError> {
        use crate::http::{RetryPolicy, StaticToken};
        use crate::partner_center::{PartnerCenterClient, PartnerCenterOptions};
        use futures::StreamExt as _;
        let inner = &self.inner;
        let options = PartnerCenterOptions {
            retry: RetryPolicy {
                max_retries: 2,
                min_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(2),
                max_retry_after: Some(Duration::from_secs(2)),
                max_total_wait: Duration::from_secs(5),
            },
            ..PartnerCenterOptions::default()
        };
        let client = PartnerCenterClient::new(
            inner.settings.cloud.partner_center.clone(),
            inner.http.clone(),
            Arc::new(StaticToken(token.clone())),
            options,
        );
        let Some(Err(e)) = client.list_customers(1, None).next().await else {
            tracing::info!(tenant.id = %partner, "new consent verified against Partner Center");
            return Ok(());
        };
        let status = e.status();
        let transient = matches!(status, Some(429) | Some(500..))
            || matches!(e, crate::partner_center::PartnerCenterError::Transport(_));
        let advice = match status {
            Some(403) => {
                "The user who signed in holds no Partner Center role that allows this (Admin Agent): an admin agent of the partner tenant (Partner Center > Account settings > User management) must consent"
            }
            Some(401) => {
                "Partner Center refused the sign-in (it requires multi-factor authentication): consent again, signing in with MFA"
            }
            _ if transient => {
                "Partner Center is unavailable right now: try the consent again later"
            }
            _ => "check that the partner tenant is enrolled in Partner Center, then consent again",
        };
        tracing::warn!(tenant.id = %partner, http.status = ?status, "new consent refused by Partner Center; nothing stored: {e}");
        Err(BrokerError::ConsentNotVerified {
            partner: partner.to_owned(),
            status,
            message: e.to_string(),
            advice,
            transient,
        })
    }

    /// An app + user access token for `tenant`: the partner's own tenant, or a customer tenant
    /// reached through the default partner's grant (CSP mode, GDAP). In CPV mode use
    /// [`Self::delegated_token`], which names the partner.
    ///
    /// Cached per (tenant, resource, partner) with single-flight; on a miss, the partner's
    /// refresh token is redeemed at `tenant`'s authority and the rotated refresh token stored.
    /// `POST {authority}/{tenant}/oauth2[/v2.0]/token` with `grant_type=refresh_token`
    /// (<https://learn.microsoft.com/partner-center/developer/enable-secure-app-model#get-access-token>,
    /// GDAP: <https://learn.microsoft.com/partner-center/customers/gdap-introduction>).
    pub fn access_token<'a>(
        &'a self,
        tenant: &'a str,
        resource: Resource,
    ) -> impl Future<Output = Result<AccessToken, BrokerError>> + Send + 'a {
        self.delegated_token(self.default_partner(tenant), tenant, resource)
    }

    /// The cached access token for `tenant` and `resource` through the default partner's grant,
    /// never redeeming: `None` when nothing fresh is cached. For hot paths that fall back to
    /// [`Self::access_token`] themselves.
    pub fn cached_access_token(&self, tenant: &str, resource: Resource) -> Option<AccessToken> {
        self.inner.cache.get(KeyRef {
            tenant,
            resource,
            identity: Identity::Delegated {
                partner: self.default_partner(tenant),
            },
        })
    }

    /// [`Self::access_token`] without copying the token: the cache's shared value (the fastest
    /// hit, for hot paths that only build an `Authorization` header from it).
    pub async fn access_token_shared(
        &self,
        tenant: &str,
        resource: Resource,
    ) -> Result<Arc<AccessToken>, BrokerError> {
        let partner = self.default_partner(tenant);
        self.delegated_token_shared(partner, tenant, resource).await
    }

    fn default_partner<'a>(&'a self, tenant: &'a str) -> &'a str {
        self.inner
            .settings
            .default_partner
            .as_deref()
            .unwrap_or(tenant)
    }

    /// An app + user access token for `tenant` through `partner`'s stored grant (CPV: each
    /// partner consented separately). See [`Self::access_token`].
    pub fn delegated_token<'a>(
        &'a self,
        partner: &'a str,
        tenant: &'a str,
        resource: Resource,
    ) -> impl Future<Output = Result<AccessToken, BrokerError>> + Send + 'a {
        // The synchronous fast path: a cached token is looked up before the redeeming future is
        // built, so a hit costs one cache read and an already-complete future.
        let hit = self.inner.cache.get(KeyRef {
            tenant,
            resource,
            identity: Identity::Delegated { partner },
        });
        // The slow path is boxed so that the future a hit returns stays a few words wide: moving
        // the redeeming future's full state around cost a third of the hit's time.
        match hit {
            Some(token) => Either::Left(std::future::ready(Ok(token))),
            None => Either::Right(Box::pin(async move {
                self.delegated_token_shared(partner, tenant, resource)
                    .await
                    .map(|t| AccessToken::clone(&t))
            })),
        }
    }

    /// [`Self::delegated_token`] without copying the token.
    pub async fn delegated_token_shared(
        &self,
        partner: &str,
        tenant: &str,
        resource: Resource,
    ) -> Result<Arc<AccessToken>, BrokerError> {
        let key = KeyRef {
            tenant,
            resource,
            identity: Identity::Delegated { partner },
        };
        self.inner
            .cache
            .get_or_fetch_shared(key, || {
                let broker = self.clone();
                let (partner, tenant) = (partner.to_owned(), tenant.to_owned());
                async move { broker.redeem(&partner, &tenant, resource).await }
            })
            .await
    }

    /// Forgets the cached token of `partner` for `tenant` and `resource`, so the next request
    /// redeems again: after a change of the grant behind it (a consent created or replaced in a
    /// customer tenant changes the scopes a new token carries).
    pub fn forget_delegated_token(&self, partner: &str, tenant: &str, resource: Resource) {
        self.inner.cache.invalidate(KeyRef {
            tenant,
            resource,
            identity: Identity::Delegated { partner },
        });
    }

    /// An app-only access token in `tenant` (client credentials): for APIs and customer
    /// tenants where the app itself is consented (CPV application consents).
    ///
    /// `POST {authority}/{tenant}/oauth2[/v2.0]/token` with `grant_type=client_credentials`
    /// (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>).
    pub async fn app_only_token(
        &self,
        tenant: &str,
        resource: Resource,
    ) -> Result<AccessToken, BrokerError> {
        let key = KeyRef {
            tenant,
            resource,
            identity: Identity::App,
        };
        self.inner
            .cache
            .get_or_fetch(key, || {
                let broker = self.clone();
                let tenant = tenant.to_owned();
                async move {
                    let target = broker.app_target(resource)?;
                    let r = broker
                        .inner
                        .client
                        .client_credentials(&tenant, &target)
                        .await?;
                    Ok(fetched(&r))
                }
            })
            .await
    }

    /// Redeems the partner's refresh token once (for Partner Center, at the partner's own
    /// authority) and stores the rotated one, so the grant never expires from inactivity
    /// (90 days). Run it from a scheduled job (e.g. weekly).
    ///
    /// `POST {authority}/{partner}/oauth2[/v2.0]/token` with `grant_type=refresh_token`
    /// (<https://learn.microsoft.com/entra/identity-platform/refresh-tokens#token-lifetime>).
    #[tracing::instrument(skip_all, fields(tenant.id = %partner))]
    pub async fn keepalive(&self, partner: &str) -> Result<GrantStatus, BrokerError> {
        let fetched = self
            .redeem(partner, partner, Resource::PartnerCenter)
            .await?;
        let _ = fetched;
        Ok(self.status(partner).await)
    }

    /// The partners whose consent is stored, with the consent's metadata (no tokens). With Key
    /// Vault this needs the `list` permission on secrets (the broker otherwise needs only get
    /// and set); callers fall back to the configured partners when it is refused.
    pub async fn stored_partners(&self) -> Result<Vec<GrantMetadata>, BrokerError> {
        let mut grants = self.inner.store.list().await?;
        grants.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        Ok(grants)
    }

    /// The state of a partner's grant: stored or not, its metadata, and whether the latest
    /// rotated token reached the store.
    pub async fn status(&self, partner: &str) -> GrantStatus {
        let state = self.grant_state(partner);
        // A rotation still being written in the background is part of this state.
        self.settle(partner, &state).await;
        let mut g = state.lock().await;
        if g.current.is_none()
            && let Ok(Some(stored)) = self.inner.store.get(partner).await
        {
            g.current = Some(stored);
            g.persisted = true;
        }
        GrantStatus {
            tenant_id: partner.to_owned(),
            meta: g.current.as_ref().map(|c| c.meta.clone()),
            persisted: g.current.is_some() && g.persisted,
            last_store_error: g.last_store_error.clone(),
            location: self.inner.store.location(),
            rotations_stored: g.rotations_stored,
        }
    }

    fn delegated_target(&self, resource: Resource) -> TokenTarget {
        let s = &self.inner.settings;
        TokenTarget::delegated(&s.cloud, s.version, resource)
            .unwrap_or_else(|| TokenTarget::Resource(String::new()))
    }

    fn app_target(&self, resource: Resource) -> Result<TokenTarget, BrokerError> {
        let s = &self.inner.settings;
        TokenTarget::app_only(&s.cloud, s.version, resource).ok_or_else(|| {
            BrokerError::Config(format!("the {} cloud has no {resource}", s.cloud.name))
        })
    }

    fn grant_state(&self, partner: &str) -> Arc<Mutex<GrantState>> {
        let mut map = self
            .inner
            .grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(partner.to_ascii_lowercase()).or_default().clone()
    }

    /// The newest refresh token of `partner`, from memory or the store.
    async fn current_grant(&self, partner: &str) -> Result<StoredGrant, BrokerError> {
        let state = self.grant_state(partner);
        let mut g = state.lock().await;
        if let Some(c) = &g.current {
            return Ok(c.clone());
        }
        let stored =
            self.inner
                .store
                .get(partner)
                .await?
                .ok_or_else(|| BrokerError::NotConsented {
                    partner: partner.to_owned(),
                    consent_page: self.inner.settings.consent_page.clone(),
                })?;
        g.current = Some(stored.clone());
        g.persisted = true;
        Ok(stored)
    }

    #[tracing::instrument(skip_all, fields(tenant.id = %tenant, partner.id = %partner, resource = %resource))]
    async fn redeem(
        &self,
        partner: &str,
        tenant: &str,
        resource: Resource,
    ) -> Result<Fetched, BrokerError> {
        let s = &self.inner.settings;
        let target = TokenTarget::delegated(&s.cloud, s.version, resource).ok_or_else(|| {
            BrokerError::Config(format!("the {} cloud has no {resource}", s.cloud.name))
        })?;
        let grant = self.current_grant(partner).await?;
        let result = self
            .inner
            .client
            .redeem_refresh_token(tenant, &grant.refresh_token, &target)
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) if matches!(e.remedy(), Remedy::Reconsent | Remedy::SignInFrequency) => {
                // Another instance may have stored a new consent since we loaded ours.
                match self.inner.store.get(partner).await {
                    Ok(Some(stored)) if stored.refresh_token != grant.refresh_token => {
                        self.replace_current(partner, stored.clone()).await;
                        self.inner
                            .client
                            .redeem_refresh_token(tenant, &stored.refresh_token, &target)
                            .await
                            .map_err(|e| self.map_error(partner, tenant, e))?
                    }
                    _ => return Err(self.map_error(partner, tenant, e)),
                }
            }
            Err(e) => return Err(self.map_error(partner, tenant, e)),
        };
        if let Some(rotated) = response.refresh_token.clone() {
            // The rotation takes the partner's writer lock and writes the store: it runs in a
            // task of its own, to its end, even when this redemption's caller goes away (a
            // keepalive cancelled mid-write; the cache already runs each fetch in its own task).
            let broker = self.clone();
            let partner = partner.to_owned();
            let rotation = tokio::spawn(
                async move { broker.rotate(&partner, &grant, rotated).await }
                    .instrument(tracing::Span::current()),
            );
            if let Err(e) = rotation.await
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        Ok(fetched(&response))
    }

    async fn replace_current(&self, partner: &str, grant: StoredGrant) {
        let state = self.grant_state(partner);
        let mut g = state.lock().await;
        g.current = Some(grant);
        g.persisted = true;
        g.last_store_error = None;
    }

    /// Records a rotated refresh token and stores it. The old token stays valid at Entra, and
    /// stays in the store until a newer one is written, so a failure or a crash at any point
    /// leaves a usable token stored; the newest is always kept in memory.
    ///
    /// Writes are coalesced per partner, one at a time. A redemption that finds no write in
    /// flight stores its token (or a newer one) before it returns, so sequential redemptions
    /// store every rotation. One that finds a write in flight leaves its token to that writer.
    /// When newer tokens arrived during its own write (a fan-out: hundreds of customer-tenant
    /// redemptions), the writer goes on storing the newest in the background, so no caller
    /// waits on writes of tokens other calls rotated (with Key Vault, ~100 ms each, a fan-out
    /// would otherwise hold one caller until it ends). [`TokenBroker::flush`] waits for it.
    async fn rotate(&self, partner: &str, used: &StoredGrant, rotated: RefreshToken) {
        let state = self.grant_state(partner);
        let writer = {
            let mut g = state.lock().await;
            let mut meta = g
                .current
                .as_ref()
                .map_or_else(|| used.meta.clone(), |c| c.meta.clone());
            meta.rotated_at = unix_now();
            g.current = Some(StoredGrant {
                refresh_token: rotated,
                meta,
            });
            g.persisted = false;
            g.generation += 1;
            g.writer.clone()
        };
        let Ok(writing) = writer.try_lock_owned() else {
            // The writer in flight re-checks the generation after its write.
            return;
        };
        match self.write_newest(partner, &state).await {
            Written::Newest => drop(writing),
            Written::Failed => return,
            Written::Superseded => {
                self.write_in_background(partner, state, Some(writing));
                return;
            }
        }
        // A rotation that finished between the write and releasing the writer lock found the
        // lock taken and left; pick its token up.
        if !state.lock().await.persisted {
            self.write_in_background(partner, state, None);
        }
    }

    /// Stores the newest rotated token until none is left unstored, in a task of its own;
    /// `writing` is the writer lock when the caller holds it.
    fn write_in_background(
        &self,
        partner: &str,
        state: Arc<Mutex<GrantState>>,
        mut writing: Option<OwnedMutexGuard<()>>,
    ) {
        let broker = self.clone();
        let partner = partner.to_owned();
        tokio::spawn(async move {
            loop {
                let guard = match writing.take() {
                    Some(guard) => guard,
                    None => {
                        let writer = state.lock().await.writer.clone();
                        match writer.try_lock_owned() {
                            Ok(guard) => guard,
                            // Another writer re-checks after its write.
                            Err(_) => return,
                        }
                    }
                };
                if !broker.write_until_newest(&partner, &state).await {
                    return;
                }
                drop(guard);
                if state.lock().await.persisted {
                    return;
                }
            }
        });
    }

    /// Writes the newest rotated token, when it is not stored yet. The caller holds the
    /// partner's writer lock.
    async fn write_newest(&self, partner: &str, state: &Mutex<GrantState>) -> Written {
        let (grant, generation) = {
            let g = state.lock().await;
            match (&g.current, g.persisted) {
                (Some(current), false) => (current.clone(), g.generation),
                _ => return Written::Newest,
            }
        };
        let result = self.put_with_retry(&grant).await;
        let mut g = state.lock().await;
        match result {
            Ok(()) if g.generation == generation => {
                g.persisted = true;
                g.last_store_error = None;
                g.rotations_stored += 1;
                tracing::debug!(tenant.id = %partner, "rotated refresh token stored");
                Written::Newest
            }
            Ok(()) => {
                g.last_store_error = None;
                g.rotations_stored += 1;
                Written::Superseded
            }
            Err(e) => {
                g.last_store_error = Some(e.to_string());
                tracing::warn!(
                    tenant.id = %partner,
                    store = %self.inner.store.location(),
                    "cannot store the rotated refresh token; the previous one stays stored and valid, and the new one is kept in memory and stored at the next redemption: {e}"
                );
                Written::Failed
            }
        }
    }

    /// Waits until the newest rotated refresh token of every partner this broker redeemed for
    /// is stored (or its write failed and was reported), for a process about to exit.
    pub async fn flush(&self) {
        let states: Vec<(String, Arc<Mutex<GrantState>>)> = self
            .inner
            .grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(partner, state)| (partner.clone(), state.clone()))
            .collect();
        for (partner, state) in states {
            self.settle(&partner, &state).await;
        }
    }

    /// Waits for the partner's writer. A token left unstored without a failed write (its
    /// writer is about to start) is written here; a failed write is not retried (the next
    /// redemption does, and [`GrantStatus`] reports it).
    async fn settle(&self, partner: &str, state: &Mutex<GrantState>) {
        let writer = state.lock().await.writer.clone();
        let _writing = writer.lock().await;
        let pending = {
            let g = state.lock().await;
            !g.persisted && g.current.is_some() && g.last_store_error.is_none()
        };
        if pending {
            self.write_until_newest(partner, state).await;
        }
    }

    /// Writes the newest rotated token until no newer one arrived during the write; `false`
    /// when a write failed. The caller holds the partner's writer lock.
    async fn write_until_newest(&self, partner: &str, state: &Mutex<GrantState>) -> bool {
        loop {
            match self.write_newest(partner, state).await {
                Written::Superseded => {}
                Written::Newest => return true,
                Written::Failed => return false,
            }
        }
    }

    async fn put_with_retry(&self, grant: &StoredGrant) -> Result<(), StoreError> {
        let store = &self.inner.store;
        (|| store.put(grant))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(2))
                    .with_max_times(self.inner.settings.store_attempts.saturating_sub(1))
                    .with_jitter(),
            )
            .when(StoreError::is_transient)
            .await
    }

    fn map_error(&self, partner: &str, tenant: &str, e: TokenError) -> BrokerError {
        let consent_page = self.inner.settings.consent_page.clone();
        match e.remedy() {
            Remedy::Reconsent | Remedy::SignInFrequency => BrokerError::ReconsentRequired {
                partner: partner.to_owned(),
                consent_page,
                source: e,
            },
            Remedy::Mfa => BrokerError::MfaRequired {
                partner: partner.to_owned(),
                consent_page,
                source: e,
            },
            Remedy::CustomerConsent => BrokerError::CustomerConsentMissing {
                customer: tenant.to_owned(),
                source: e,
            },
            Remedy::GdapAccess => BrokerError::NoDelegatedAccess {
                partner: partner.to_owned(),
                customer: tenant.to_owned(),
                source: e,
            },
            _ => BrokerError::Token(e),
        }
    }
}

/// A refresh-token store, and the Key Vault behind it when it is one.
pub type OpenedStore = (
    Arc<dyn RefreshTokenStore>,
    Option<Arc<crate::keyvault::KeyVaultStore>>,
);

/// The configured refresh-token store, and the Key Vault behind it when it is one (the secrets
/// `app.certificate_secret` and `consent.cookie_key_secret` are read from that vault).
pub fn open_store(settings: &Settings, http: &reqwest::Client) -> Result<OpenedStore, StoreError> {
    Ok(match &settings.store {
        StoreSettings::KeyVault(kv) => {
            let vault = Arc::new(crate::keyvault::KeyVaultStore::new(
                kv,
                &settings.cloud,
                http.clone(),
            )?);
            (vault.clone() as Arc<dyn RefreshTokenStore>, Some(vault))
        }
        StoreSettings::Local(l) => (Arc::new(LocalFileStore::open(l)?), None),
    })
}

/// The application credential configured in `app`. A certificate kept in Key Vault
/// (`app.certificate_secret`) is read from `vault`, the store's vault, and read again as its
/// refresh interval says.
pub async fn app_credential(
    credential: &AppCredential,
    vault: Option<&Arc<crate::keyvault::KeyVaultStore>>,
) -> Result<ClientCredential, CertificateError> {
    Ok(match credential {
        AppCredential::Secret(s) => ClientCredential::Secret(s.clone()),
        AppCredential::Certificate(c) => match (&c.source, vault) {
            (crate::config::CertificateSource::KeyVault { secret, refresh }, Some(vault)) => {
                ClientCredential::RotatingCertificate(Arc::new(
                    crate::keyvault::VaultCertificate::load(
                        vault.clone(),
                        secret,
                        c.algorithm,
                        *refresh,
                    )
                    .await?,
                ))
            }
            (source, _) => ClientCredential::Certificate(Arc::new(CertificateSigner::load(
                source,
                c.algorithm,
            )?)),
        },
    })
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

/// Whether a JWT's `amr` claim lists `mfa` (read without verification: the token came straight
/// from the token endpoint over TLS). `None` when there is no `amr`.
fn jwt_amr_has_mfa(jwt: &str) -> Option<bool> {
    let v: serde_json::Value = crate::entra::decode_unverified(jwt).ok()?;
    let amr = v.get("amr")?.as_array()?;
    Some(amr.iter().any(|m| m.as_str() == Some("mfa")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn amr_is_read_from_an_access_token() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = |claims: &str| format!("{}.{}.sig", b64("{}"), b64(claims));
        assert_eq!(
            jwt_amr_has_mfa(&jwt(r#"{"amr":["pwd","mfa"]}"#)),
            Some(true)
        );
        assert_eq!(jwt_amr_has_mfa(&jwt(r#"{"amr":["pwd"]}"#)), Some(false));
        assert_eq!(jwt_amr_has_mfa(&jwt(r#"{}"#)), None);
        assert_eq!(jwt_amr_has_mfa("opaque"), None);
    }
}
