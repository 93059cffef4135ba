//! Shared state of a running emulator: the directory seeded at start (tenants, users, apps,
//! service principals, consents, delegated access), the emulator's clock, issued codes and
//! refresh tokens, vault contents, injected faults and request counters.
//!
//! Every emulated service (Entra, Key Vault, Graph and Partner Center) gets an
//! `Arc<State>`; bearer tokens are validated with [`State::validate_access_token`] (through
//! `crate::caller::Caller` for the APIs).

use crate::model::faults::FaultSet;
use crate::model::resources::{ResourceApp, ResourceKind};
use crate::model::seed::{
    AppSeed, PermissionSeed, Seed, ServicePrincipalSeed, TenantSeed, UserSeed,
};
use crate::model::tokens::{CertificateCredential, SigningKey, TokenRejection, ValidatedToken};

pub use crate::model::sessions::{AuthCode, RefreshGrant};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// Token lifetimes.
#[derive(Clone, Debug)]
pub struct Lifetimes {
    /// Access tokens (`expires_in`), default 3599 s.
    pub access_token: Duration,
    /// ID tokens, default 1 h.
    pub id_token: Duration,
    /// Authorization codes, default 10 min.
    pub auth_code: Duration,
    /// Refresh tokens expire after this long unused (AADSTS700082), default 90 days.
    pub refresh_token_inactivity: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            access_token: Duration::from_secs(3599),
            id_token: Duration::from_secs(3600),
            auth_code: Duration::from_secs(600),
            refresh_token_inactivity: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// An app registration with its parsed certificates.
#[derive(Clone, Debug)]
pub struct App {
    /// The registration.
    pub seed: AppSeed,
    /// Parsed certificate credentials.
    pub certificates: Vec<CertificateCredential>,
}

/// A delegated permission grant (admin consent when `user` is `None`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ConsentGrant {
    /// Tenant of the grant.
    pub tenant: String,
    /// Client app.
    pub app_id: String,
    /// `None` = all users (admin consent).
    pub user: Option<String>,
    /// Resource app ID → scopes.
    pub scopes: BTreeMap<String, BTreeSet<String>>,
}

/// The directory: everything seeded plus what tests and consent add.
#[derive(Debug, Default)]
pub struct Directory {
    /// Tenants.
    pub tenants: Vec<TenantSeed>,
    /// Users.
    pub users: Vec<UserSeed>,
    /// App registrations.
    pub apps: Vec<App>,
    /// Service principals.
    pub service_principals: Vec<ServicePrincipalSeed>,
    /// Delegated permission grants.
    pub consents: Vec<ConsentGrant>,
    /// App roles assigned to users and groups.
    pub app_role_assignments: Vec<crate::model::seed::AppRoleAssignmentSeed>,
    /// Positions in [`Directory::users`], [`Directory::service_principals`] and
    /// [`Directory::consents`] by lower-case tenant ID, built on first use and dropped by
    /// [`State::directory_mut`]: a fan-out reaches thousands of tenants of one large directory,
    /// which a scan per request makes quadratic.
    by_tenant: std::sync::OnceLock<TenantIndex>,
}

/// Write access to the [`Directory`] ([`State::directory_mut`]).
#[derive(Debug)]
pub struct DirectoryMut<'a>(RwLockWriteGuard<'a, Directory>);

impl std::ops::Deref for DirectoryMut<'_> {
    type Target = Directory;

    fn deref(&self) -> &Directory {
        &self.0
    }
}

impl std::ops::DerefMut for DirectoryMut<'_> {
    fn deref_mut(&mut self) -> &mut Directory {
        // The caller may change users, service principals, consents or tenants.
        self.0.by_tenant = std::sync::OnceLock::new();
        &mut self.0
    }
}

/// See [`Directory::by_tenant`].
#[derive(Debug, Default)]
struct TenantIndex {
    /// Lower-case tenant ID and domain → position in [`Directory::tenants`].
    tenants: HashMap<String, usize>,
    users: HashMap<String, Vec<usize>>,
    service_principals: HashMap<String, Vec<usize>>,
    consents: HashMap<String, Vec<usize>>,
}

fn index_by<T>(items: &[T], tenant: impl Fn(&T) -> &str) -> HashMap<String, Vec<usize>> {
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        index
            .entry(tenant(item).to_ascii_lowercase())
            .or_default()
            .push(i);
    }
    index
}

impl Directory {
    fn index(&self) -> &TenantIndex {
        self.by_tenant.get_or_init(|| TenantIndex {
            tenants: self
                .tenants
                .iter()
                .enumerate()
                .rev()
                .flat_map(|(i, t)| {
                    [
                        (t.id.to_ascii_lowercase(), i),
                        (t.domain.to_ascii_lowercase(), i),
                    ]
                })
                .collect(),
            users: index_by(&self.users, |u| &u.tenant),
            service_principals: index_by(&self.service_principals, |s| &s.tenant),
            consents: index_by(&self.consents, |c| &c.tenant),
        })
    }

    /// The items of `tenant` (case-insensitive) in `items`, through one of the indexes.
    fn in_tenant<'a, T>(
        items: &'a [T],
        index: &'a HashMap<String, Vec<usize>>,
        tenant: &str,
    ) -> impl Iterator<Item = &'a T> + 'a {
        index
            .get(&tenant.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .filter_map(|&i| items.get(i))
    }

    /// The users of a tenant (case-insensitive), in directory order.
    pub fn users_in<'a>(&'a self, tenant: &str) -> impl Iterator<Item = &'a UserSeed> + 'a {
        Self::in_tenant(&self.users, &self.index().users, tenant)
    }
    /// A tenant by ID or domain (case-insensitive).
    pub fn tenant(&self, id_or_domain: &str) -> Option<&TenantSeed> {
        self.index()
            .tenants
            .get(&id_or_domain.to_ascii_lowercase())
            .and_then(|&i| self.tenants.get(i))
    }
    /// A user by object ID or UPN.
    pub fn user(&self, id_or_upn: &str) -> Option<&UserSeed> {
        self.users
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(id_or_upn) || u.upn.eq_ignore_ascii_case(id_or_upn))
    }
    /// An app by app ID.
    pub fn app(&self, app_id: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| a.seed.app_id.eq_ignore_ascii_case(app_id))
    }
    /// The service principal of an app in a tenant.
    pub fn service_principal(&self, tenant: &str, app_id: &str) -> Option<&ServicePrincipalSeed> {
        Self::in_tenant(
            &self.service_principals,
            &self.index().service_principals,
            tenant,
        )
        .find(|s| s.app_id.eq_ignore_ascii_case(app_id))
    }
    /// Whether Admin Agents of `partner` have delegated admin access to `customer`.
    pub fn has_delegated_access(&self, customer: &str, partner: &str) -> bool {
        self.tenant(customer).is_some_and(|t| {
            t.delegated_admin
                .iter()
                .any(|p| p.eq_ignore_ascii_case(partner))
        })
    }
    /// Delegated scopes `app` holds on `resource_app_id` for `user` in `tenant` (admin + user consent).
    pub fn consented_scopes(
        &self,
        tenant: &str,
        app_id: &str,
        user: &str,
        resource_app_id: &str,
    ) -> BTreeSet<String> {
        Self::in_tenant(&self.consents, &self.index().consents, tenant)
            .filter(|c| c.app_id.eq_ignore_ascii_case(app_id))
            .filter(|c| c.user.as_deref().is_none_or(|u| u == user))
            .filter_map(|c| c.scopes.get(resource_app_id))
            .flatten()
            .cloned()
            .collect()
    }
}

/// Counters of requests per endpoint and grant type (e.g. `entra.token`,
/// `entra.token.client_credentials`, `keyvault.get_secret`).
pub type Counters = BTreeMap<String, u64>;

/// The emulator's state.
#[derive(Debug)]
pub struct State {
    port: u16,
    /// Port of the plain-HTTP loopback listener of the interactive pages, if any.
    pub(crate) sign_in_port: Option<u16>,
    /// The v1 issuer's host (`https://sts.windows.net`, or another cloud's).
    pub(crate) v1_issuer_host: String,
    /// Seeded policies that make a sign-in challenge MFA (security defaults, Conditional Access).
    pub(crate) mfa_policies: Vec<crate::model::seed::MfaPolicySeed>,
    directory: RwLock<Directory>,
    resources: Vec<ResourceApp>,
    pub(crate) signing: crate::model::tokens::KeyRing,
    pub(crate) clock_offset_ms: AtomicI64,
    pub(crate) lifetimes: Lifetimes,
    pub(crate) flows: Mutex<HashMap<String, crate::model::sessions::Flow>>,
    pub(crate) sessions: Mutex<HashMap<String, crate::model::sessions::SsoSession>>,
    pub(crate) codes: Mutex<HashMap<String, AuthCode>>,
    device_codes: Mutex<HashMap<String, crate::model::sessions::DeviceCode>>,
    pub(crate) refresh_tokens: Mutex<HashMap<String, RefreshGrant>>,
    pub(crate) assertion_jtis: Mutex<HashMap<String, i64>>,
    pub(crate) tokens_valid_from: Mutex<HashMap<String, i64>>,
    pub(crate) vaults: Mutex<BTreeMap<String, crate::model::vault::Vault>>,
    pub(crate) faults: FaultSet,
    counters: Mutex<Counters>,
    /// Partner Center and GDAP data (`partner_data`, read by `graph` and `partner_center`).
    pub(crate) partner: crate::model::partner_data::PartnerData,
    /// Managed identities and the `IDENTITY_HEADER` value (`managed_identity`).
    pub(crate) managed_identity: crate::model::managed_identity::Environment,
    /// Federated identity credentials and external issuers' keys (`federation`).
    pub(crate) federation: crate::model::federation::Federation,
    /// Directory changes waiting to replicate (`replication`).
    pub(crate) replication: crate::model::replication::Replication,
    /// Graph's request budget per application and tenant (`throttle`).
    pub(crate) graph_throttle: crate::model::throttle::Throttle,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock must not take the whole emulator down.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl State {
    pub(crate) fn new(
        seed: &Seed,
        port: u16,
        signing: SigningKey,
        lifetimes: Lifetimes,
    ) -> anyhow::Result<Self> {
        let mut apps = Vec::new();
        for a in &seed.apps {
            let certificates = a
                .certificates
                .iter()
                .map(|p| CertificateCredential::from_pem(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            apps.push(App {
                seed: a.clone(),
                certificates,
            });
        }
        let consents = seed
            .consents
            .iter()
            .map(|c| ConsentGrant {
                tenant: c.tenant.clone(),
                app_id: c.app_id.clone(),
                user: None,
                scopes: to_scope_map(&c.grants),
            })
            .collect();
        let vaults = seed
            .vaults
            .iter()
            .map(|v| {
                (
                    v.name.to_ascii_lowercase(),
                    crate::model::vault::Vault::new(v),
                )
            })
            .collect();
        Ok(State {
            port,
            sign_in_port: None,
            v1_issuer_host: "https://sts.windows.net".into(),
            mfa_policies: seed.mfa_policies.clone(),
            directory: RwLock::new(Directory {
                // Active GDAP relationships of the seed grant delegated access.
                tenants: crate::model::partner_data::tenants_with_gdap_access(seed),
                users: seed.users.clone(),
                apps,
                service_principals: seed.service_principals.clone(),
                consents,
                app_role_assignments: seed.app_role_assignments.clone(),
                by_tenant: std::sync::OnceLock::new(),
            }),
            // The seed's `partner_center.entra_requires_mfa` sets Partner Center's MFA policy.
            resources: crate::model::partner_data::apply_resource_settings(
                crate::model::resources::well_known(port),
                &seed.partner_center,
            ),
            signing: crate::model::tokens::KeyRing::new(signing),
            clock_offset_ms: AtomicI64::new(0),
            lifetimes,
            flows: Mutex::default(),
            sessions: Mutex::default(),
            codes: Mutex::default(),
            device_codes: Mutex::default(),
            refresh_tokens: Mutex::default(),
            assertion_jtis: Mutex::default(),
            tokens_valid_from: Mutex::default(),
            vaults: Mutex::new(vaults),
            faults: FaultSet::default(),
            counters: Mutex::default(),
            partner: crate::model::partner_data::PartnerData::from_seed(seed),
            managed_identity: crate::model::managed_identity::Environment::from_seed(
                &seed.managed_identities,
            ),
            federation: crate::model::federation::Federation::new(
                &seed.federated_credentials,
                &seed.external_issuers,
            ),
            replication: crate::model::replication::Replication::new(seed.replication.clone()),
            graph_throttle: crate::model::throttle::Throttle::new(seed.graph_throttling.clone()),
        })
    }

    /// Pending device authorizations, by device code (`entra::device_code`).
    pub(crate) fn device_codes(
        &self,
    ) -> MutexGuard<'_, HashMap<String, crate::model::sessions::DeviceCode>> {
        lock(&self.device_codes)
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The v1 issuer of `tenant` (`https://sts.windows.net/{tenant}/` in the global cloud);
    /// `{tenantid}` gives the template of the multi-tenant discovery documents.
    pub fn v1_issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/", self.v1_issuer_host)
    }

    /// Whether a seeded policy (security defaults or Conditional Access, for the user's tenant or
    /// the user) demands MFA at this user's sign-in.
    pub fn mfa_policy_applies(&self, user: &crate::model::seed::UserSeed) -> bool {
        self.mfa_policies.iter().any(|p| {
            p.tenant.eq_ignore_ascii_case(&user.tenant)
                && (p.users.is_empty()
                    || p.users.iter().any(|u| {
                        u.eq_ignore_ascii_case(&user.id) || u.eq_ignore_ascii_case(&user.upn)
                    }))
        })
    }

    /// `https://127.0.0.1:{port}`.
    pub fn authority_host(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Where a person's browser is sent: `http://127.0.0.1:{sign-in port}` when the plain-HTTP
    /// sign-in listener runs, the authority host otherwise.
    pub fn sign_in_host(&self) -> String {
        match self.sign_in_port {
            Some(port) => format!("http://127.0.0.1:{port}"),
            None => self.authority_host(),
        }
    }

    /// Read access to the directory.
    pub fn directory(&self) -> RwLockReadGuard<'_, Directory> {
        self.directory
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Write access to the directory. Every mutable access through the guard drops the
    /// per-tenant indexes (rebuilt on their next use), so a lookup made between two changes
    /// never sees a stale index.
    pub fn directory_mut(&self) -> DirectoryMut<'_> {
        DirectoryMut(
            self.directory
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Well-known resource apps.
    pub fn resources(&self) -> &[ResourceApp] {
        &self.resources
    }

    /// The resource app an audience (or resource string) names.
    pub fn resource_for_audience(&self, aud: &str) -> Option<&ResourceApp> {
        self.resources.iter().find(|r| r.is_named_by(aud))
    }

    /// The emulator's clock (wall clock + advances), as seconds since the epoch.
    pub fn now(&self) -> i64 {
        self.now_datetime().unix_timestamp()
    }

    /// The emulator's clock as a date-time.
    pub fn now_datetime(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// Move the emulator's clock forward.
    pub fn advance_clock(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4);
        self.clock_offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Move the clock back (a server whose clock runs behind its clients').
    pub fn rewind_clock(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4);
        self.clock_offset_ms.fetch_sub(ms, Ordering::Relaxed);
    }

    /// How far the clock has been advanced.
    pub fn clock_offset(&self) -> Duration {
        Duration::from_millis(
            u64::try_from(self.clock_offset_ms.load(Ordering::Relaxed)).unwrap_or(0),
        )
    }

    /// Count one request under `key`.
    pub fn count(&self, key: &str) {
        let mut c = lock(&self.counters);
        if let Some(v) = c.get_mut(key) {
            *v += 1;
        } else {
            c.insert(key.to_string(), 1);
        }
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        lock(&self.counters).clone()
    }

    /// Reset all counters to zero.
    pub fn reset_counters(&self) {
        lock(&self.counters).clear();
    }

    /// Revoke every refresh token and session of a user (what a password change does):
    /// grants issued before now fail with AADSTS50173. Returns false for an unknown user.
    pub fn revoke_user_sessions(&self, id_or_upn: &str) -> bool {
        let Some(oid) = self.directory().user(id_or_upn).map(|u| u.id.clone()) else {
            return false;
        };
        // Tokens issued in the same second as the revocation are revoked too.
        lock(&self.tokens_valid_from).insert(oid.clone(), self.now() + 1);
        lock(&self.sessions).retain(|_, s| s.user_id != oid);
        true
    }

    /// When a user's tokens became valid again after a revocation, if ever.
    pub fn tokens_valid_from(&self, user_id: &str) -> Option<i64> {
        lock(&self.tokens_valid_from).get(user_id).copied()
    }

    /// Grant or withdraw delegated admin access of `partner` to `customer` (the GDAP
    /// relationships toggle this). Returns false if the customer is unknown.
    pub fn set_delegated_access(&self, customer: &str, partner: &str, allowed: bool) -> bool {
        let mut dir = self.directory_mut();
        let Some(t) = dir
            .tenants
            .iter_mut()
            .find(|t| t.id.eq_ignore_ascii_case(customer))
        else {
            return false;
        };
        t.delegated_admin
            .retain(|p| !p.eq_ignore_ascii_case(partner));
        if allowed {
            t.delegated_admin.push(partner.to_string());
        }
        true
    }

    /// Whether Admin Agents of `partner` have delegated access to `customer`.
    pub fn has_delegated_access(&self, customer: &str, partner: &str) -> bool {
        self.directory().has_delegated_access(customer, partner)
    }

    /// Record a delegated consent (admin consent when `user` is `None`).
    pub fn grant_consent(
        &self,
        tenant: &str,
        app_id: &str,
        user: Option<&str>,
        scopes: &[PermissionSeed],
    ) {
        let mut dir = self.directory_mut();
        let map = to_scope_map(scopes);
        if let Some(existing) = dir.consents.iter_mut().find(|c| {
            c.tenant == tenant && c.app_id.eq_ignore_ascii_case(app_id) && c.user.as_deref() == user
        }) {
            for (r, s) in map {
                existing.scopes.entry(r).or_default().extend(s);
            }
        } else {
            dir.consents.push(ConsentGrant {
                tenant: tenant.to_string(),
                app_id: app_id.to_string(),
                user: user.map(str::to_string),
                scopes: map,
            });
        }
    }

    /// Add (or replace) an app registration.
    pub fn add_app(&self, app: AppSeed) -> anyhow::Result<()> {
        let certificates = app
            .certificates
            .iter()
            .map(|p| CertificateCredential::from_pem(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut dir = self.directory_mut();
        dir.apps
            .retain(|a| !a.seed.app_id.eq_ignore_ascii_case(&app.app_id));
        dir.apps.push(App {
            seed: app,
            certificates,
        });
        Ok(())
    }

    /// Register a client certificate (PEM) on an app.
    pub fn add_certificate(&self, app_id: &str, pem: &str) -> anyhow::Result<()> {
        let cred = CertificateCredential::from_pem(pem)?;
        self.update_app(app_id, |app| {
            app.seed.certificates.push(pem.to_string());
            app.certificates.push(cred);
        })
    }

    /// Remove a client certificate (PEM, as registered) from an app.
    pub fn remove_certificate(&self, app_id: &str, pem: &str) -> anyhow::Result<()> {
        let wanted = pem.trim();
        self.update_app(app_id, |app| {
            while let Some(i) = app
                .seed
                .certificates
                .iter()
                .position(|c| c.trim() == wanted)
            {
                app.seed.certificates.remove(i);
                if i < app.certificates.len() {
                    app.certificates.remove(i);
                }
            }
        })
    }

    /// Register a redirect URI on an app (no change when it is there already).
    pub fn add_redirect_uri(&self, app_id: &str, uri: &str) -> anyhow::Result<()> {
        self.update_app(app_id, |app| {
            if !app.seed.redirect_uris.iter().any(|u| u == uri) {
                app.seed.redirect_uris.push(uri.to_owned());
            }
        })
    }

    /// Changes an app registration by app ID (an error naming it when there is none).
    fn update_app(&self, app_id: &str, change: impl FnOnce(&mut App)) -> anyhow::Result<()> {
        let mut dir = self.directory_mut();
        let app = dir
            .apps
            .iter_mut()
            .find(|a| a.seed.app_id.eq_ignore_ascii_case(app_id))
            .ok_or_else(|| anyhow::anyhow!("no app registration {app_id}"))?;
        change(app);
        Ok(())
    }

    /// Add (or replace) a service principal.
    pub fn add_service_principal(&self, sp: ServicePrincipalSeed) {
        let mut dir = self.directory_mut();
        dir.service_principals
            .retain(|s| !(s.tenant == sp.tenant && s.app_id == sp.app_id));
        dir.service_principals.push(sp);
    }

    /// Validate a bearer access token issued by this emulator for one of `expected`
    /// resources: signature, expiry and not-before on the emulator's clock, issuer (v1 or v2
    /// form of the token's tenant), audience. Graph / Partner Center reuse this.
    pub fn validate_access_token(
        &self,
        token: &str,
        expected: &[ResourceKind],
    ) -> Result<ValidatedToken, TokenRejection> {
        let claims = self
            .signing
            .verify(token)
            .map_err(|_| TokenRejection::BadSignature)?;
        let now = self.now();
        let num = |k: &str| claims.get(k).and_then(serde_json::Value::as_i64);
        let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(str::to_string);
        // Five minutes of skew, as Microsoft's token validation allows.
        const SKEW: i64 = 300;
        match num("exp") {
            Some(exp) if exp + SKEW > now => {}
            _ => return Err(TokenRejection::Expired),
        }
        if num("nbf").is_some_and(|nbf| nbf - SKEW > now) {
            return Err(TokenRejection::NotYetValid);
        }
        let tid = text("tid").unwrap_or_default();
        let iss = text("iss").unwrap_or_default();
        let allowed = [
            self.v1_issuer(&tid),
            format!("{}/{tid}/v2.0", self.authority_host()),
        ];
        if !allowed.contains(&iss) {
            return Err(TokenRejection::Issuer(iss));
        }
        let aud = text("aud").unwrap_or_default();
        let resource = self
            .resource_for_audience(&aud)
            .filter(|r| expected.contains(&r.kind))
            .ok_or_else(|| TokenRejection::Audience(aud.clone()))?;
        let list = |k: &str| -> Vec<String> {
            match claims.get(k) {
                Some(serde_json::Value::String(s)) => s
                    .split(' ')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect(),
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let scopes = list("scp");
        Ok(ValidatedToken {
            tenant_id: tid,
            object_id: text("oid").unwrap_or_default(),
            app_id: text("appid").or_else(|| text("azp")).unwrap_or_default(),
            audience: aud,
            resource: resource.kind,
            is_app_only: scopes.is_empty() && text("idtyp").as_deref() == Some("app"),
            upn: text("upn").or_else(|| text("preferred_username")),
            amr: list("amr"),
            roles: list("roles"),
            scopes,
            claims,
        })
    }
}

fn to_scope_map(perms: &[PermissionSeed]) -> BTreeMap<String, BTreeSet<String>> {
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in perms {
        map.entry(p.resource.to_ascii_lowercase())
            .or_default()
            .extend(p.scopes.iter().cloned());
    }
    map
}
