//! Checks of a seed's Partner Center and GDAP sections (customers, relationships, groups, rate
//! limits), called by [`crate::model::seed::Seed::validate`].

use super::gdap;
use crate::model::seed::{Seed, TenantKind};
use std::collections::HashMap;

/// Check the part-2 sections of a seed, adding every problem to `problems`.
pub fn validate_seed(seed: &Seed, problems: &mut Vec<String>) {
    // Lookups through maps: generated seeds hold tens of thousands of tenants and relationships.
    let kinds: HashMap<String, TenantKind> = seed
        .tenants
        .iter()
        .map(|t| (t.id.to_ascii_lowercase(), t.kind))
        .collect();
    let ctx = SeedCheck {
        seed,
        kinds: &kinds,
    };
    ctx.customers(problems);
    ctx.relationships(problems);
    ctx.groups(problems);
    let pc = &seed.partner_center;
    if pc.consent_rate_limit == 0
        || pc.customers_rate_limit == 0
        || pc.consent_rate_window_secs == 0
        || pc.customers_rate_window_secs == 0
    {
        problems.push("partner_center: rate limits and windows must be at least 1".into());
    }
}

/// What [`validate_seed`] checks each part against.
struct SeedCheck<'a> {
    seed: &'a Seed,
    kinds: &'a HashMap<String, TenantKind>,
}

fn guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

impl SeedCheck<'_> {
    fn kind(&self, id: &str) -> Option<TenantKind> {
        self.kinds.get(&id.to_ascii_lowercase()).copied()
    }

    fn is_partner(&self, id: &str) -> bool {
        self.kind(id) == Some(TenantKind::Partner)
    }

    fn is_customer(&self, id: &str) -> bool {
        self.kind(id) == Some(TenantKind::Customer)
    }

    fn customers(&self, problems: &mut Vec<String>) {
        for c in &self.seed.customers {
            if !self.is_customer(&c.tenant) {
                problems.push(format!(
                    "customers: tenant '{}' is not a customer tenant of the data file",
                    c.tenant
                ));
            }
            if let Some(p) = &c.partner
                && !self.is_partner(p)
            {
                problems.push(format!(
                    "customers.{}: partner '{p}' is not a partner tenant of the data file",
                    c.tenant
                ));
            }
            for s in &c.subscriptions {
                if !guid(&s.id) {
                    problems.push(format!(
                        "customers.{}.subscriptions: id '{}' is not a GUID",
                        c.tenant, s.id
                    ));
                }
            }
        }
        for c in &self.seed.gdap_only_customers {
            if !self.is_customer(c) {
                problems.push(format!(
                    "gdap_only_customers: tenant '{c}' is not a customer tenant of the data file"
                ));
            }
        }
    }

    fn relationships(&self, problems: &mut Vec<String>) {
        let seed = self.seed;
        if !seed.gdap_relationships.is_empty() && seed.partner_tenant().is_none() {
            problems.push("gdap_relationships: the data file has no partner tenant".into());
        }
        let mut ids = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for g in &seed.gdap_relationships {
            let name = &g.display_name;
            if !self.is_customer(&g.customer) {
                problems.push(format!(
                    "gdap_relationships.{name}: customer '{}' is not a customer tenant of the data file",
                    g.customer
                ));
            }
            if let Some(p) = &g.partner
                && !self.is_partner(p)
            {
                problems.push(format!(
                    "gdap_relationships.{name}: partner '{p}' is not a partner tenant of the data file"
                ));
            }
            if gdap::Status::parse(&g.status).is_none() {
                problems.push(format!("gdap_relationships.{name}: status '{}' must be created, approvalPending, active, terminated or expired", g.status));
            }
            if gdap::parse_duration_days(&g.duration).is_none_or(|d| !(1..=730).contains(&d)) {
                problems.push(format!("gdap_relationships.{name}: duration '{}' must be an ISO 8601 duration between P1D and P730D", g.duration));
            }
            if let Err(e) = gdap::validate_roles(&g.roles) {
                problems.push(format!("gdap_relationships.{name}: {}", e.message));
            }
            if name.is_empty() || name.chars().count() > 50 {
                problems.push(format!(
                    "gdap_relationships.{name}: display_name must be 1-50 characters"
                ));
            }
            if !ids.insert(g.id.as_str()) | !names.insert(name.to_lowercase()) {
                problems.push(format!(
                    "gdap_relationships.{name}: id and display_name must be unique"
                ));
            }
            for a in &g.access_assignments {
                if !guid(&a.id) || !guid(&a.group) {
                    problems.push(format!(
                        "gdap_relationships.{name}.access_assignments: id and group must be GUIDs"
                    ));
                }
                if let Some(r) = a
                    .roles
                    .iter()
                    .find(|r| !g.roles.iter().any(|x| x.eq_ignore_ascii_case(r)))
                {
                    problems.push(format!("gdap_relationships.{name}.access_assignments: role '{r}' is not one of the relationship's roles"));
                }
            }
        }
    }

    fn groups(&self, problems: &mut Vec<String>) {
        let seed = self.seed;
        let mut ids = std::collections::HashSet::new();
        for g in &seed.groups {
            let name = &g.display_name;
            if !guid(&g.id) {
                problems.push(format!("groups.{name}: id '{}' is not a GUID", g.id));
            }
            if !ids.insert(g.id.to_ascii_lowercase()) {
                problems.push(format!("groups.{name}: id '{}' is used twice", g.id));
            }
            let partner = g
                .partner
                .clone()
                .or_else(|| seed.partner_tenant().map(|t| t.id.clone()))
                .unwrap_or_default();
            if !self.is_partner(&partner) {
                problems.push(format!(
                    "groups.{name}: partner '{partner}' is not a partner tenant of the data file"
                ));
            }
            for m in &g.members {
                if !seed.users.iter().any(|u| {
                    u.id.eq_ignore_ascii_case(m) && u.tenant.eq_ignore_ascii_case(&partner)
                }) {
                    problems.push(format!(
                        "groups.{name}: member '{m}' is not a user of the partner tenant"
                    ));
                }
            }
        }
    }
}
