//! Deterministic many-partner seeds for benchmarks of a watch over a CPV-like fleet:
//! [`Seed::with_generated_partners`].
//!
//! Partner `p` (1-based) gets tenant `1b{p:06x}-0000-4000-a000-000000000000` (domain
//! `gen-partner-{p:05}.onmicrosoft.com`) and one admin agent, `admin@` that domain (Global
//! Administrator, password [`GENERATED_PASSWORD`], MFA code [`GENERATED_MFA_CODE`]), who can
//! consent the demo CSP app there as any partner's admin does. Its customer `c` (1-based) gets
//! tenant `2b{p:06x}-{c:04x}-4000-a000-000000000000`, a Partner Center customer record of the
//! partner, and an active GDAP relationship with the partner (Directory Readers; auto-extension
//! on for every other customer) — no users and no access assignment, which listing the
//! partner's relationships does not need. The same arguments always build the same seed.

use super::generate::{GENERATED_MFA_CODE, GENERATED_PASSWORD};
use super::seed::{CustomerSeed, GdapSeed};
use crate::model::seed::{Seed, SeedError, TenantKind, TenantSeed, UserSeed};

/// Largest generated partner count (IDs carry six hex digits).
pub const MAX_GENERATED_PARTNERS: u32 = 0x00ff_ffff;
/// Largest customer count per generated partner (IDs carry four hex digits).
pub const MAX_CUSTOMERS_PER_PARTNER: u32 = 0xffff;

const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

/// The tenant ID of generated partner `p` (1-based).
pub fn generated_partner_id(p: u32) -> String {
    format!("1b{p:06x}-0000-4000-a000-000000000000")
}

/// The admin agent of generated partner `p`.
pub fn generated_partner_admin(p: u32) -> String {
    format!("admin@gen-partner-{p:05}.onmicrosoft.com")
}

/// The tenant ID of customer `c` of generated partner `p` (both 1-based).
pub fn generated_partner_customer_id(p: u32, c: u32) -> String {
    format!("2b{p:06x}-{c:04x}-4000-a000-000000000000")
}

impl Seed {
    /// This seed plus `partners` generated partner tenants with `customers_per_partner`
    /// customers each, every customer with an active GDAP relationship (see the module docs).
    pub fn with_generated_partners(
        mut self,
        partners: u32,
        customers_per_partner: u32,
    ) -> Result<Seed, SeedError> {
        if partners > MAX_GENERATED_PARTNERS || customers_per_partner > MAX_CUSTOMERS_PER_PARTNER {
            return Err(SeedError::Invalid(vec![format!(
                "at most {MAX_GENERATED_PARTNERS} partners of {MAX_CUSTOMERS_PER_PARTNER} customers each can be generated"
            )]));
        }
        let all = partners as usize * customers_per_partner as usize;
        self.tenants.reserve(partners as usize + all);
        self.customers.reserve(all);
        self.gdap_relationships.reserve(all);
        for p in 1..=partners {
            let partner = generated_partner_id(p);
            let domain = format!("gen-partner-{p:05}.onmicrosoft.com");
            self.tenants.push(TenantSeed {
                id: partner.clone(),
                domain,
                display_name: format!("Generated Partner {p:05}"),
                kind: TenantKind::Partner,
                delegated_admin: Vec::new(),
            });
            self.users.push(UserSeed {
                id: format!("3b{p:06x}-0000-4000-a000-000000000001"),
                tenant: partner.clone(),
                upn: generated_partner_admin(p),
                display_name: format!("Admin Partner{p:05}"),
                password: GENERATED_PASSWORD.into(),
                mfa_code: Some(GENERATED_MFA_CODE.into()),
                roles: vec!["Global Administrator".into()],
                admin_agent: true,
            });
            for c in 1..=customers_per_partner {
                let tenant = generated_partner_customer_id(p, c);
                self.tenants.push(TenantSeed {
                    id: tenant.clone(),
                    domain: format!("gen-p{p:05}-c{c:05}.onmicrosoft.com"),
                    display_name: format!("Customer {c:05} of Partner {p:05}"),
                    kind: TenantKind::Customer,
                    delegated_admin: Vec::new(),
                });
                self.customers.push(CustomerSeed {
                    tenant: tenant.clone(),
                    partner: Some(partner.clone()),
                    relationship: "reseller".into(),
                    subscriptions: Vec::new(),
                });
                self.gdap_relationships.push(GdapSeed {
                    id: format!("6c{p:06x}-{c:04x}-4000-a000-000000000000-{tenant}"),
                    partner: Some(partner.clone()),
                    customer: tenant,
                    display_name: format!("P{p:05} GDAP {c:05}"),
                    status: "active".into(),
                    duration: "P730D".into(),
                    auto_extend_duration: if c % 2 == 0 { "P180D" } else { "PT0S" }.into(),
                    roles: vec![DIRECTORY_READERS.into()],
                    access_assignments: Vec::new(),
                });
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_partners_are_deterministic_and_valid() {
        let a = Seed::default().with_generated_partners(3, 4).unwrap();
        let b = Seed::default().with_generated_partners(3, 4).unwrap();
        assert!(a == b);
        a.validate().unwrap();
        let partner = generated_partner_id(2);
        assert_eq!(
            a.gdap_relationships
                .iter()
                .filter(|g| g.partner.as_deref() == Some(partner.as_str()))
                .count(),
            4
        );
        assert!(a.user_by_upn(&generated_partner_admin(3)).is_some());
        assert!(
            a.customers
                .iter()
                .any(|c| c.tenant == generated_partner_customer_id(3, 4))
        );
    }
}
