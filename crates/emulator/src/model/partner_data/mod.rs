//! What Partner Center and Graph know beyond Entra's directory ([`crate::model::state::Directory`]):
//! the partner's customers and their subscriptions, GDAP relationships and access
//! assignments, application consents (CPV), Graph-side metadata of app registrations, and
//! Partner Center's rate limits. It lives in [`crate::model::state::State`] beside the directory.
//!
//! Lock order: this data's lock first, then the directory's, never the reverse.

pub mod catalog;
pub mod check;
pub mod gdap;
pub mod generate;
pub mod generate_partners;
pub mod seed;

pub use seed::{
    AccessAssignmentSeed, CustomerSeed, GdapSeed, GroupSeed, PartnerCenterSettings,
    SubscriptionSeed,
};

use crate::model::seed::{Seed, TenantSeed, UserSeed};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Fixed IDs of the default seed's Partner Center and GDAP data.
pub mod ids {
    /// Active GDAP relationship with Fabrikam (Directory Readers, Global Reader, User Administrator).
    pub const GDAP_FABRIKAM: &str =
        "60000000-0000-4000-8000-000000000001-20000000-0000-4000-8000-000000000001";
    /// Active GDAP relationship with Northwind (Global Reader).
    pub const GDAP_NORTHWIND: &str =
        "60000000-0000-4000-8000-000000000002-20000000-0000-4000-8000-000000000002";
    /// Access assignment of the Fabrikam relationship.
    pub const ASSIGNMENT_FABRIKAM: &str = "61000000-0000-4000-8000-000000000001";
    /// Access assignment of the Northwind relationship.
    pub const ASSIGNMENT_NORTHWIND: &str = "61000000-0000-4000-8000-000000000002";
    /// The partner's "Admin Agents" security group (every `admin_agent` user is a member).
    pub const ADMIN_AGENTS_GROUP: &str = "62000000-0000-4000-8000-000000000001";
    /// The partner's "GDAP Helpdesk" security group: the demo admin (Avery Admin) only, assigned
    /// to no relationship of the default seed.
    pub const HELPDESK_GROUP: &str = "62000000-0000-4000-8000-000000000002";
    /// The partner's "GDAP Security" security group: no members.
    pub const SECURITY_GROUP: &str = "62000000-0000-4000-8000-000000000003";
    /// Fabrikam's Microsoft 365 Business Premium subscription.
    pub const SUBSCRIPTION_FABRIKAM_M365: &str = "70000000-0000-4000-8000-000000000001";
    /// Fabrikam's Exchange Online subscription.
    pub const SUBSCRIPTION_FABRIKAM_EXCHANGE: &str = "70000000-0000-4000-8000-000000000002";
    /// Northwind's Microsoft 365 E3 subscription.
    pub const SUBSCRIPTION_NORTHWIND_E3: &str = "70000000-0000-4000-8000-000000000003";
    /// Tailspin's Microsoft 365 Business Basic subscription.
    pub const SUBSCRIPTION_TAILSPIN_BASIC: &str = "70000000-0000-4000-8000-000000000004";
}

/// A customer of a partner.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Customer {
    /// Partner tenant.
    pub partner: String,
    /// Customer tenant ID (also the Partner Center customer ID).
    pub tenant: String,
    /// `companyProfile.companyName`.
    pub company_name: String,
    /// `companyProfile.domain`.
    pub domain: String,
    /// `relationshipToPartner`.
    pub relationship: String,
    /// Subscriptions.
    pub subscriptions: Vec<SubscriptionSeed>,
}

/// One grant of an application consent: a resource app and its scopes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplicationGrant {
    /// `enterpriseApplicationId` (resource app ID).
    pub enterprise_application_id: String,
    /// Scopes (the wire format joins them with commas).
    pub scopes: Vec<String>,
}

/// An application consent made through Partner Center for a customer (CPV onboarding).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplicationConsent {
    /// Customer tenant.
    pub customer: String,
    /// The consented app.
    pub application_id: String,
    /// Display name as given.
    pub display_name: String,
    /// Grants.
    pub grants: Vec<ApplicationGrant>,
    /// Object ID of the service principal created in the customer tenant.
    pub service_principal_id: String,
}

/// Password credential metadata Graph shows (the secret value lives in the app registration).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PasswordMeta {
    /// `keyId`.
    pub key_id: String,
    /// `displayName`.
    pub display_name: Option<String>,
    /// Start (epoch seconds).
    pub start: i64,
    /// End.
    pub end: i64,
    /// SHA-256 of the secret value, to pair metadata with the registration's secrets.
    pub value_sha256: String,
}

/// Graph-side data of an app registration that Entra's [`crate::model::seed::AppSeed`] does not hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppMeta {
    /// Object ID of the application object (`id` in Graph; differs from `appId`).
    pub object_id: String,
    /// `signInAudience` as set.
    pub sign_in_audience: Option<String>,
    /// Required application permissions: (resource app ID, permission ID).
    pub required_roles: Vec<(String, String)>,
    /// Required delegated permission IDs the emulator cannot name: (resource app ID, ID).
    pub unnamed_scopes: Vec<(String, String)>,
    /// Password credential metadata.
    pub passwords: Vec<PasswordMeta>,
    /// Certificate display names by SHA-1 thumbprint (hex).
    pub key_names: HashMap<String, String>,
    /// Created (epoch seconds).
    pub created: i64,
}

/// A security group of a partner tenant (see [`GroupSeed`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Group {
    /// Object ID (lower case).
    pub id: String,
    /// Partner tenant.
    pub partner: String,
    /// Display name.
    pub display_name: String,
    /// Member user object IDs (lower case).
    pub members: Vec<String>,
    /// Every Admin Agent of the partner is a member.
    pub admin_agents: bool,
}

impl Group {
    /// Whether `user` is a member.
    pub fn has_member(&self, user: &UserSeed) -> bool {
        user.tenant.eq_ignore_ascii_case(&self.partner)
            && ((self.admin_agents && user.admin_agent)
                || self
                    .members
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(&user.id)))
    }

    /// The implicit "AdminAgents" group of a partner whose seed does not list it.
    fn admin_agents(partner: &str) -> Group {
        Group {
            id: ids::ADMIN_AGENTS_GROUP.to_owned(),
            partner: partner.to_ascii_lowercase(),
            display_name: "AdminAgents".to_owned(),
            members: Vec::new(),
            admin_agents: true,
        }
    }
}

/// How a partner user gets a role in a customer tenant: one access assignment of an active
/// relationship whose group the user is a member of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleGrant {
    /// The relationship.
    pub relationship: String,
    /// The assigned group.
    pub group: String,
    /// The roles of the assignment.
    pub roles: Vec<String>,
}

/// What [`Inner::apply_clock`] changed: (partner, customer) pairs that gained delegated access
/// (a relationship became active) or lost it (none is active any more).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessChanges {
    /// Pairs with a newly active relationship.
    pub gained: Vec<(String, String)>,
    /// Pairs left without an active relationship.
    pub lost: Vec<(String, String)>,
}

/// The mutable data.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Inner {
    /// Customers of every partner.
    pub customers: Vec<Customer>,
    /// GDAP relationships.
    pub relationships: Vec<gdap::Relationship>,
    /// Security groups of partner tenants (GDAP access containers).
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Application consents.
    pub consents: Vec<ApplicationConsent>,
    /// App registration metadata by lower-case app ID.
    pub apps: HashMap<String, AppMeta>,
    /// Limits.
    pub settings: PartnerCenterSettings,
    /// How long GDAP's transitional states last (seed `[gdap_timings]`, `/_admin/gdap/timings`).
    #[serde(default)]
    pub timings: gdap::GdapTimings,
    /// Request times (ms) per rate-limit key, oldest first (not kept across restarts).
    #[serde(skip)]
    rate: HashMap<String, VecDeque<i64>>,
    /// What the last [`Inner::apply_clock`] learnt: the relationship count then, and the
    /// earliest time any relationship can next expire (see there).
    #[serde(skip)]
    clock_quiet_until: Option<(usize, i64)>,
    /// Positions in [`Inner::relationships`] by lower-case customer tenant, with the count they
    /// were built for. Built by a full [`Inner::apply_clock`] scan when no relationship awaits
    /// approval (the only time a relationship's customer changes); relationships are only ever
    /// appended, so the index is valid while the count is unchanged.
    #[serde(skip)]
    by_customer: Option<(usize, HashMap<String, Vec<usize>>)>,
    /// Positions in [`Inner::relationships`] by lower-case partner tenant, and how many were
    /// indexed: a relationship's partner never changes and relationships are only appended,
    /// so [`Inner::partner_relationships`] indexes only those added since.
    #[serde(skip)]
    by_partner: (usize, HashMap<String, Vec<usize>>),
}

/// Partner Center and GDAP data, behind one lock.
#[derive(Debug, Default)]
pub struct PartnerData {
    inner: Mutex<Inner>,
}

impl PartnerData {
    /// Build from a validated seed.
    pub fn from_seed(seed: &Seed) -> PartnerData {
        let first_partner = seed
            .partner_tenant()
            .map(|t| t.id.clone())
            .unwrap_or_default();
        let in_partner_center = |tenant: &str| {
            !seed
                .gdap_only_customers
                .iter()
                .any(|c| c.eq_ignore_ascii_case(tenant))
        };
        // The first record of each tenant, by lower-case ID: a scan per customer is quadratic
        // with a generated fleet of 100,000 customers.
        let details_of = first_by_id(&seed.customers, |c| &c.tenant);
        let tenant_of = first_by_id(&seed.tenants, |t| &t.id);
        let customers = seed
            .customer_tenants()
            .filter(|t| in_partner_center(&t.id))
            .map(|t| {
                let details = details_of.get(&t.id.to_ascii_lowercase()).copied();
                Customer {
                    partner: details
                        .and_then(|d| d.partner.clone())
                        .unwrap_or_else(|| first_partner.clone()),
                    tenant: t.id.to_ascii_lowercase(),
                    company_name: t.display_name.clone(),
                    domain: t.domain.clone(),
                    relationship: details
                        .map_or_else(|| "reseller".into(), |d| d.relationship.clone()),
                    subscriptions: details.map(|d| d.subscriptions.clone()).unwrap_or_default(),
                }
            })
            .collect();
        // Seeded relationships were activated when the emulator started.
        let started = time::OffsetDateTime::now_utc().unix_timestamp();
        let relationships = seed
            .gdap_relationships
            .iter()
            .map(|g| {
                let status = gdap::Status::parse(&g.status).unwrap_or(gdap::Status::Active);
                let days = gdap::parse_duration_days(&g.duration).unwrap_or(730);
                let name = tenant_of
                    .get(&g.customer.to_ascii_lowercase())
                    .map(|t| t.display_name.clone())
                    .unwrap_or_default();
                let active = status == gdap::Status::Active;
                gdap::Relationship {
                    id: g.id.clone(),
                    partner: g.partner.clone().unwrap_or_else(|| first_partner.clone()),
                    display_name: g.display_name.clone(),
                    duration: g.duration.clone(),
                    duration_days: days,
                    customer: Some((g.customer.to_ascii_lowercase(), name)),
                    roles: g.roles.iter().map(|r| r.to_ascii_lowercase()).collect(),
                    auto_extend: g.auto_extend_duration.clone(),
                    status,
                    created: started,
                    modified: started,
                    activated: active.then_some(started),
                    end: active.then_some(started + days * 86_400),
                    version: 1,
                    requests: Vec::new(),
                    since: started,
                    operations: Vec::new(),
                    assignments: g
                        .access_assignments
                        .iter()
                        .map(|a| gdap::AccessAssignment {
                            id: a.id.clone(),
                            group: a.group.to_ascii_lowercase(),
                            roles: a.roles.iter().map(|r| r.to_ascii_lowercase()).collect(),
                            created: started,
                            modified: started,
                            status: gdap::AssignmentStatus::Active,
                            until: started,
                        })
                        .collect(),
                }
            })
            .collect();
        let groups = seed
            .groups
            .iter()
            .map(|g| Group {
                id: g.id.to_ascii_lowercase(),
                partner: g
                    .partner
                    .clone()
                    .unwrap_or_else(|| first_partner.clone())
                    .to_ascii_lowercase(),
                display_name: g.display_name.clone(),
                members: g.members.iter().map(|m| m.to_ascii_lowercase()).collect(),
                admin_agents: g.admin_agents,
            })
            .collect();
        PartnerData {
            inner: Mutex::new(Inner {
                customers,
                relationships,
                groups,
                consents: Vec::new(),
                apps: HashMap::new(),
                settings: seed.partner_center.clone(),
                timings: seed.gdap_timings.unwrap_or_default(),
                rate: HashMap::new(),
                clock_quiet_until: None,
                by_customer: None,
                by_partner: (0, HashMap::new()),
            }),
        }
    }

    /// Lock the data.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    /// A customer of `partner` by tenant ID.
    pub fn customer(&self, partner: &str, tenant: &str) -> Option<&Customer> {
        self.customers.iter().find(|c| {
            c.partner.eq_ignore_ascii_case(partner) && c.tenant.eq_ignore_ascii_case(tenant)
        })
    }

    /// Whether `tenant` is a customer of some partner.
    pub fn is_customer(&self, tenant: &str) -> bool {
        self.customers
            .iter()
            .any(|c| c.tenant.eq_ignore_ascii_case(tenant))
    }

    /// Whether any relationship between the two is active.
    ///
    /// Scanned per Graph request: see [`same_id`].
    pub fn has_active_relationship(&self, partner: &str, customer: &str) -> bool {
        // The customer first: tenant IDs differ early, so the scan is cheap with many customers.
        self.relationships_of(customer).any(|r| {
            r.customer_tenant().is_some_and(|c| same_id(c, customer))
                && r.status == gdap::Status::Active
                && r.partner.eq_ignore_ascii_case(partner)
        })
    }

    /// The groups of `user`'s partner tenant that `user` is a member of (the partner's
    /// AdminAgents group counts even when the seed does not list it).
    pub fn groups_of(&self, user: &UserSeed) -> Vec<Group> {
        let mut groups: Vec<Group> = self
            .groups
            .iter()
            .filter(|g| g.has_member(user))
            .cloned()
            .collect();
        let implicit = Group::admin_agents(&user.tenant);
        if implicit.has_member(user) && !self.groups.iter().any(|g| g.id == implicit.id) {
            groups.push(implicit);
        }
        groups
    }

    /// Every access assignment that gives `user` (a partner user) roles in `customer`: an
    /// assignment of an active relationship of the user's partner, to a group the user is a
    /// member of.
    pub fn role_grants(&self, user: &UserSeed, customer: &str) -> Vec<RoleGrant> {
        let groups = self.groups_of(user);
        self.relationships_of(customer)
            .filter(|r| {
                r.customer_tenant().is_some_and(|c| same_id(c, customer))
                    && r.status == gdap::Status::Active
                    && r.partner.eq_ignore_ascii_case(&user.tenant)
            })
            .flat_map(|r| {
                r.assignments
                    .iter()
                    .filter(|a| a.is_active())
                    .filter(|a| groups.iter().any(|g| g.id.eq_ignore_ascii_case(&a.group)))
                    .map(|a| RoleGrant {
                        relationship: r.id.clone(),
                        group: a.group.clone(),
                        roles: a.roles.clone(),
                    })
            })
            .collect()
    }

    /// Roles `user` (a partner user) holds in `customer` through GDAP ([`Self::role_grants`]).
    pub fn gdap_roles(&self, user: &UserSeed, customer: &str) -> Vec<String> {
        let mut roles: Vec<String> = self
            .role_grants(user, customer)
            .into_iter()
            .flat_map(|g| g.roles)
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// Forget what the last [`Inner::apply_clock`] learnt: call after any change to a
    /// relationship or an assignment, so the next call scans again.
    pub fn wake(&mut self) {
        self.clock_quiet_until = None;
    }

    /// Apply the clock to every relationship ([`gdap::Relationship::apply_clock`]) and return
    /// what changed for delegated access.
    ///
    /// Called before every Graph request of a partner user in a customer tenant, so it remembers
    /// when nothing can change: while the relationship count is unchanged, nothing changes
    /// before the earliest next transition of any relationship or assignment (handlers that
    /// change one call [`Inner::wake`]). A relationship still to be approved (its customer may
    /// be set on approval) keeps the customer index off.
    pub fn apply_clock(&mut self, now: i64) -> AccessChanges {
        if let Some((count, until)) = self.clock_quiet_until
            && count == self.relationships.len()
            && now < until
        {
            return AccessChanges::default();
        }
        let timings = self.timings;
        let mut changes = AccessChanges::default();
        for r in &mut self.relationships {
            let effect = r.apply_clock(now, &timings);
            let Some(c) = r.customer_tenant() else {
                continue;
            };
            let pair = (r.partner.clone(), c.to_owned());
            if effect.activated {
                changes.gained.push(pair.clone());
            }
            if effect.deactivated {
                changes.lost.push(pair);
            }
        }
        changes
            .lost
            .retain(|(p, c)| !self.has_active_relationship(p, c));
        changes.lost.dedup();
        let pending = self.relationships.iter().any(|r| {
            matches!(
                r.status,
                gdap::Status::Created | gdap::Status::ApprovalPending
            )
        });
        let next = self
            .relationships
            .iter()
            .filter_map(|r| r.next_change(&timings))
            .min()
            .unwrap_or(i64::MAX);
        self.clock_quiet_until = Some((self.relationships.len(), next));
        self.by_customer = (!pending).then(|| {
            let mut index: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, r) in self.relationships.iter().enumerate() {
                if let Some(c) = r.customer_tenant() {
                    index.entry(c.to_ascii_lowercase()).or_default().push(i);
                }
            }
            (self.relationships.len(), index)
        });
        changes
    }

    /// The relationships that may concern `customer`: through the index when it is valid,
    /// else all of them (callers still check the customer).
    fn relationships_of<'a>(
        &'a self,
        customer: &str,
    ) -> Box<dyn Iterator<Item = &'a gdap::Relationship> + 'a> {
        match &self.by_customer {
            Some((count, index)) if *count == self.relationships.len() => Box::new(
                index
                    .get(&customer.to_ascii_lowercase())
                    .into_iter()
                    .flatten()
                    .filter_map(|&i| self.relationships.get(i)),
            ),
            _ => Box::new(self.relationships.iter()),
        }
    }

    /// `partner`'s relationships, in creation order, without scanning every partner's.
    pub fn partner_relationships(
        &mut self,
        partner: &str,
    ) -> impl Iterator<Item = &gdap::Relationship> {
        let (indexed, index) = &mut self.by_partner;
        for (i, r) in self.relationships.iter().enumerate().skip(*indexed) {
            index
                .entry(r.partner.to_ascii_lowercase())
                .or_default()
                .push(i);
        }
        *indexed = self.relationships.len();
        let relationships = &self.relationships;
        index
            .get(&partner.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .filter_map(move |&i| relationships.get(i))
    }

    /// Metadata of an app registration, created on first use with a stable object ID. A seeded
    /// app is dated when first seen (its seeded secrets then last Graph's default two years from
    /// then, not from 1970); `POST /applications` dates its own on the emulator's clock.
    pub fn app_meta(&mut self, app_id: &str) -> &mut AppMeta {
        self.apps
            .entry(app_id.to_ascii_lowercase())
            .or_insert_with(|| AppMeta {
                object_id: catalog::stable_guid(&format!(
                    "application|{}",
                    app_id.to_ascii_lowercase()
                )),
                created: time::OffsetDateTime::now_utc().unix_timestamp(),
                ..AppMeta::default()
            })
    }

    /// A sliding-window rate limit: records a request under `key` at `now_ms` and returns
    /// `Some(retry_after_secs)` when the request is over the limit (it is then not counted).
    pub fn rate_limit(
        &mut self,
        key: &str,
        limit: u32,
        window_secs: u64,
        now_ms: i64,
    ) -> Option<u64> {
        let window_ms = i64::try_from(window_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
        let times = self.rate.entry(key.to_string()).or_default();
        while times.front().is_some_and(|t| *t + window_ms <= now_ms) {
            times.pop_front();
        }
        if times.len() >= limit as usize {
            let oldest = times.front().copied().unwrap_or(now_ms);
            let wait_ms = (oldest + window_ms - now_ms).max(1);
            return Some(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1));
        }
        times.push_back(now_ms);
        None
    }
}

/// Tenants with delegated admin access added for every active GDAP relationship of the seed,
/// so a partner's refresh token works at those customers' authorities from the start.
pub fn tenants_with_gdap_access(seed: &Seed) -> Vec<TenantSeed> {
    let first_partner = seed
        .partner_tenant()
        .map(|t| t.id.clone())
        .unwrap_or_default();
    let mut tenants = seed.tenants.clone();
    let mut position: HashMap<String, usize> = HashMap::with_capacity(tenants.len());
    for (i, t) in tenants.iter().enumerate() {
        position.entry(t.id.to_ascii_lowercase()).or_insert(i);
    }
    for g in seed
        .gdap_relationships
        .iter()
        .filter(|g| gdap::Status::parse(&g.status) == Some(gdap::Status::Active))
    {
        let partner = g.partner.clone().unwrap_or_else(|| first_partner.clone());
        if let Some(t) = position
            .get(&g.customer.to_ascii_lowercase())
            .and_then(|&i| tenants.get_mut(i))
            && !t
                .delegated_admin
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&partner))
        {
            t.delegated_admin.push(partner);
        }
    }
    tenants
}

/// Resource apps with the seed's Partner Center settings applied (its MFA policy), plus the
/// first-party [`workloads`] every tenant has.
pub fn apply_resource_settings(
    mut resources: Vec<crate::model::resources::ResourceApp>,
    settings: &PartnerCenterSettings,
) -> Vec<crate::model::resources::ResourceApp> {
    for r in &mut resources {
        if r.kind == crate::model::resources::ResourceKind::PartnerCenter {
            r.requires_mfa = settings.entra_requires_mfa;
        }
    }
    resources.extend(workloads());
    resources
}

/// App ID of "Office 365 Exchange Online".
pub const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
/// App ID of "Windows Azure Service Management API" (Azure Resource Manager).
pub const ARM_APP_ID: &str = "797f4846-ba00-4fd7-ba43-dac1f8f63013";

/// Workloads partners reach with the same refresh token through GDAP, registered so the token
/// endpoint issues tokens for them (v1 `resource=` or v2 `{uri}/.default`) with their real App
/// ID URIs as audience; no API behind them is emulated. An app gets such a token once its
/// `required_delegated` names the workload's app ID and the admin consented.
pub fn workloads() -> Vec<crate::model::resources::ResourceApp> {
    use crate::model::resources::{ResourceApp, ResourceKind, ScopeDef};
    let scope = |value, description, admin_consent_required| ScopeDef {
        value,
        description,
        admin_consent_required,
    };
    vec![
        ResourceApp {
            kind: ResourceKind::Workload,
            app_id: EXCHANGE_APP_ID,
            display_name: "Office 365 Exchange Online",
            identifiers: vec!["https://outlook.office365.com".into()],
            scopes: vec![
                scope(
                    "EWS.AccessAsUser.All",
                    "Access mailboxes as the signed-in user via Exchange Web Services",
                    false,
                ),
                scope(
                    "Exchange.Manage",
                    "Manage Exchange Online as the signed-in user",
                    true,
                ),
            ],
            requires_mfa: false,
        },
        ResourceApp {
            kind: ResourceKind::Workload,
            app_id: ARM_APP_ID,
            display_name: "Windows Azure Service Management API",
            identifiers: vec![
                "https://management.azure.com".into(),
                "https://management.core.windows.net".into(),
            ],
            scopes: vec![scope(
                "user_impersonation",
                "Access Azure Service Management as organization users",
                false,
            )],
            requires_mfa: false,
        },
    ]
}

/// The first item of each lower-case ID `id` gives, for lookups in seeds of any size.
fn first_by_id<T>(items: &[T], id: impl Fn(&T) -> &str) -> HashMap<String, &T> {
    let mut map = HashMap::with_capacity(items.len());
    for item in items {
        map.entry(id(item).to_ascii_lowercase()).or_insert(item);
    }
    map
}

/// Case-insensitive equality of two IDs that stops at the first differing byte: GUIDs of
/// different tenants differ within their first characters, and `str::eq_ignore_ascii_case`
/// compares whole chunks, which made the per-request relationship scans the emulator's hot spot
/// with 10,000 customers.
pub(crate) fn same_id(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x.eq_ignore_ascii_case(&y))
}

#[cfg(test)]
mod tests {
    use super::check::validate_seed;
    use super::*;

    #[test]
    fn default_seed_has_customers_and_gdap_with_one_customer_without() {
        let seed = Seed::default();
        let data = PartnerData::from_seed(&seed);
        let inner = data.lock();
        let partner = crate::model::seed::ids::PARTNER_TENANT;
        // Contoso's three, and the second partner's (Fourth Coffee) one.
        assert_eq!(inner.customers.len(), 4);
        assert_eq!(
            inner
                .customers
                .iter()
                .filter(|c| c.partner == partner)
                .count(),
            3
        );
        assert!(inner.has_active_relationship(partner, crate::model::seed::ids::CUSTOMER_FABRIKAM));
        assert!(
            inner.has_active_relationship(partner, crate::model::seed::ids::CUSTOMER_NORTHWIND)
        );
        assert!(
            !inner.has_active_relationship(partner, crate::model::seed::ids::CUSTOMER_TAILSPIN)
        );
        let user = |upn: &str| seed.users.iter().find(|u| u.upn == upn).unwrap().clone();
        let avery = user("admin@contoso-partner.onmicrosoft.com");
        assert!(
            !inner
                .gdap_roles(&avery, crate::model::seed::ids::CUSTOMER_FABRIKAM)
                .is_empty()
        );
        assert_eq!(
            inner
                .groups_of(&avery)
                .iter()
                .map(|g| g.id.as_str())
                .collect::<Vec<_>>(),
            [ids::ADMIN_AGENTS_GROUP, ids::HELPDESK_GROUP]
        );
        // Uma is in no group: no role anywhere through GDAP.
        let uma = user("user@contoso-partner.onmicrosoft.com");
        assert!(
            inner
                .gdap_roles(&uma, crate::model::seed::ids::CUSTOMER_FABRIKAM)
                .is_empty()
        );
        let tenants = tenants_with_gdap_access(&seed);
        let tailspin = tenants
            .iter()
            .find(|t| t.id == crate::model::seed::ids::CUSTOMER_TAILSPIN)
            .unwrap();
        assert!(tailspin.delegated_admin.is_empty());
    }

    #[test]
    fn rate_limit_answers_retry_after_until_the_window_passes() {
        let mut inner = Inner::default();
        assert_eq!(inner.rate_limit("k", 2, 10, 0), None);
        assert_eq!(inner.rate_limit("k", 2, 10, 1_000), None);
        assert_eq!(inner.rate_limit("k", 2, 10, 2_000), Some(8));
        assert_eq!(inner.rate_limit("k", 2, 10, 10_000), None);
    }

    #[test]
    fn seed_problems_are_all_reported() {
        let mut seed = Seed::default();
        seed.gdap_relationships.push(GdapSeed {
            id: "x".into(),
            partner: Some("nope".into()),
            customer: "nope".into(),
            display_name: "bad".into(),
            status: "weird".into(),
            duration: "P900D".into(),
            auto_extend_duration: "PT0S".into(),
            roles: vec![],
            access_assignments: vec![],
        });
        let mut problems = Vec::new();
        validate_seed(&seed, &mut problems);
        assert_eq!(problems.len(), 5, "{problems:#?}");
    }
}
