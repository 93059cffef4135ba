//! Seed sections for Partner Center and Graph: customer details and
//! subscriptions, GDAP relationships with their access assignments, and Partner Center rate
//! limits. Every section is optional, so seeds written for Entra and Key Vault alone still parse.

use serde::{Deserialize, Serialize};

fn reseller() -> String {
    "reseller".into()
}
fn active() -> String {
    "active".into()
}
fn one() -> u32 {
    1
}
fn monthly() -> String {
    "monthly".into()
}
fn yes() -> bool {
    true
}
fn two_years() -> String {
    "P730D".into()
}
fn no_extension() -> String {
    "PT0S".into()
}

/// Partner Center details of a customer tenant. Every tenant of kind `customer` is a customer
/// of the (first) partner tenant; an entry here only adds details.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CustomerSeed {
    /// Customer tenant ID (a seeded tenant of kind `customer`).
    pub tenant: String,
    /// The partner tenant it belongs to; default: the first partner tenant.
    #[serde(default)]
    pub partner: Option<String>,
    /// `relationshipToPartner`: `reseller` (default), `advisor`, `none`, ...
    #[serde(default = "reseller")]
    pub relationship: String,
    /// Subscriptions.
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionSeed>,
}

/// A customer's subscription, as `GET /v1/customers/{id}/subscriptions` lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSeed {
    /// Subscription ID (GUID).
    pub id: String,
    /// Offer ID.
    pub offer_id: String,
    /// Offer name, e.g. `Microsoft 365 Business Premium`.
    pub offer_name: String,
    /// Friendly name; default: the offer name.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// Licence count.
    #[serde(default = "one")]
    pub quantity: u32,
    /// `active` (default), `suspended`, `deleted`.
    #[serde(default = "active")]
    pub status: String,
    /// `monthly` (default) or `annual`.
    #[serde(default = "monthly")]
    pub billing_cycle: String,
    /// Whether the subscription renews automatically (default true).
    #[serde(default = "yes")]
    pub auto_renew: bool,
}

/// A GDAP relationship already present at start.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GdapSeed {
    /// Relationship ID (Graph uses `{guid}-{guid}`).
    pub id: String,
    /// Partner tenant; default: the first partner tenant.
    #[serde(default)]
    pub partner: Option<String>,
    /// Customer tenant ID.
    pub customer: String,
    /// Display name (≤ 50 characters, unique per partner).
    pub display_name: String,
    /// `active` (default), `created`, `approvalPending`, `terminated`, ...
    #[serde(default = "active")]
    pub status: String,
    /// ISO 8601 duration, `P1D`..`P730D` (default `P730D`).
    #[serde(default = "two_years")]
    pub duration: String,
    /// `PT0S` (default), `P0D` or `P180D`.
    #[serde(default = "no_extension")]
    pub auto_extend_duration: String,
    /// Entra role template IDs granted (`accessDetails.unifiedRoles`).
    pub roles: Vec<String>,
    /// Access assignments (security group → subset of the roles).
    #[serde(default)]
    pub access_assignments: Vec<AccessAssignmentSeed>,
}

/// An access assignment of a GDAP relationship: a partner security group and its roles.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccessAssignmentSeed {
    /// Assignment ID (GUID).
    pub id: String,
    /// Security group object ID in the partner tenant (a `[[groups]]` entry, or the Admin
    /// Agents group `ids::ADMIN_AGENTS_GROUP`).
    pub group: String,
    /// Role template IDs (a subset of the relationship's roles).
    pub roles: Vec<String>,
}

/// A security group of a partner tenant, the `accessContainer` of GDAP access assignments.
/// A partner user gets a GDAP role in a customer tenant only through an access assignment of a
/// group the user is a member of ("Assign Microsoft Entra roles to security groups",
/// learn.microsoft.com/partner-center/customers/gdap-assign-microsoft-entra-roles).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GroupSeed {
    /// Group object ID (GUID).
    pub id: String,
    /// The partner tenant it lives in; default: the first partner tenant.
    #[serde(default)]
    pub partner: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Member user object IDs.
    #[serde(default)]
    pub members: Vec<String>,
    /// Every `admin_agent` user of the partner is a member too (the partner's "AdminAgents"
    /// group). The group of ID `ids::ADMIN_AGENTS_GROUP` behaves so even when not listed.
    #[serde(default)]
    pub admin_agents: bool,
}

/// Partner Center limits (`develop/api-throttling-guidance.md`; docs/microsoft-behaviour.md §5.3, §5.5).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerCenterSettings {
    /// Application-consent requests allowed per application in each window (50).
    pub consent_rate_limit: u32,
    /// Window of the consent limit in seconds (1: 50 requests per second).
    pub consent_rate_window_secs: u64,
    /// Customer-resource requests allowed per partner tenant in each window (500).
    pub customers_rate_limit: u32,
    /// Window of the customer limit in seconds (60: 500 requests per minute).
    pub customers_rate_window_secs: u64,
    /// Whether Entra demands MFA before it issues a user token for Partner Center (a
    /// Conditional Access policy; default true: AADSTS50076 without MFA). With false, a user
    /// without MFA gets a token and Partner Center itself refuses it (401, code 900421).
    pub entra_requires_mfa: bool,
}

impl Default for PartnerCenterSettings {
    fn default() -> Self {
        PartnerCenterSettings {
            consent_rate_limit: 50,
            consent_rate_window_secs: 1,
            customers_rate_limit: 500,
            customers_rate_window_secs: 60,
            entra_requires_mfa: true,
        }
    }
}
