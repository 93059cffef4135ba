//! Deterministic large seeds for benchmarks and scale tests: `--customers N
//! --users-per-customer M` on the binary, [`Seed::with_generated_customers`] and
//! `EmulatorConfig::with_generated_customers` in code.
//!
//! Customer `i` (1-based) gets tenant `2a{i:06x}-0000-4000-a000-000000000000`, domain
//! `gen-customer-{i:05}.onmicrosoft.com`, users `3a{i:06x}-0000-4000-a000-{j:012x}`
//! (`user{j:04}@…`; user 1 is a Global Administrator with MFA code `000000`), one
//! subscription, and, except for every tenth customer (configurable with
//! [`Seed::with_generated_customers_gdap`]), an active GDAP relationship with
//! Directory Readers assigned to the Admin Agents group. The demo CSP app is consented in
//! every generated customer (service principal `5a{i:06x}-…` and a tenant-wide delegated grant
//! of Graph `User.Read.All`), as `csp-app consent grant --all-customers` would leave it. The
//! same arguments always build the same seed.

use super::ids::ADMIN_AGENTS_GROUP;
use super::seed::{AccessAssignmentSeed, CustomerSeed, GdapSeed, SubscriptionSeed};
use crate::model::seed::{
    ConsentSeed, PermissionSeed, Seed, SeedError, ServicePrincipalSeed, TenantKind, TenantSeed,
    UserSeed, ids,
};

/// Password of every generated user.
pub const GENERATED_PASSWORD: &str = "Generated-Passw0rd!";
/// MFA code of every generated administrator.
pub const GENERATED_MFA_CODE: &str = "000000";
/// Largest generated customer count (IDs carry six hex digits).
pub const MAX_GENERATED_CUSTOMERS: u32 = 0x00ff_ffff;

const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

/// The tenant ID of generated customer `i` (1-based).
pub fn generated_tenant_id(i: u32) -> String {
    format!("2a{i:06x}-0000-4000-a000-000000000000")
}

/// The object ID of user `j` (1-based) of generated customer `i`.
pub fn generated_user_id(i: u32, j: u32) -> String {
    format!("3a{i:06x}-0000-4000-a000-{j:012x}")
}

impl Seed {
    /// This seed plus `customers` generated customer tenants of `users_per_customer` users
    /// each, all customers of the seed's partner tenant (see the module docs for the IDs).
    pub fn with_generated_customers(
        self,
        customers: u32,
        users_per_customer: u32,
    ) -> Result<Seed, SeedError> {
        self.with_generated_customers_gdap(customers, users_per_customer, Some(10))
    }

    /// Like [`Seed::with_generated_customers`], choosing which customers lack GDAP: every
    /// `n`th one with `Some(n)`, none with `None` (a fleet where every customer is reachable).
    pub fn with_generated_customers_gdap(
        mut self,
        customers: u32,
        users_per_customer: u32,
        without_gdap_every: Option<u32>,
    ) -> Result<Seed, SeedError> {
        let Some(partner) = self.partner_tenant().map(|t| t.id.clone()) else {
            return Err(SeedError::Invalid(vec![
                "generating customers needs a partner tenant in the emulator's data file".into(),
            ]));
        };
        if customers > MAX_GENERATED_CUSTOMERS {
            return Err(SeedError::Invalid(vec![format!(
                "at most {MAX_GENERATED_CUSTOMERS} customers can be generated"
            )]));
        }
        self.tenants.reserve(customers as usize);
        self.users
            .reserve(customers as usize * users_per_customer as usize);
        for i in 1..=customers {
            let tenant = generated_tenant_id(i);
            let domain = format!("gen-customer-{i:05}.onmicrosoft.com");
            let has_gdap = without_gdap_every.is_none_or(|n| n == 0 || i % n != 0);
            self.tenants.push(TenantSeed {
                id: tenant.clone(),
                domain: domain.clone(),
                display_name: format!("Generated Customer {i:05}"),
                kind: TenantKind::Customer,
                delegated_admin: if has_gdap {
                    vec![partner.clone()]
                } else {
                    Vec::new()
                },
            });
            for j in 1..=users_per_customer {
                let admin = j == 1;
                self.users.push(UserSeed {
                    id: generated_user_id(i, j),
                    tenant: tenant.clone(),
                    upn: format!("user{j:04}@{domain}"),
                    display_name: format!("User{j:04} Customer{i:05}"),
                    password: GENERATED_PASSWORD.into(),
                    mfa_code: admin.then(|| GENERATED_MFA_CODE.into()),
                    roles: if admin {
                        vec!["Global Administrator".into()]
                    } else {
                        Vec::new()
                    },
                    admin_agent: false,
                });
            }
            self.service_principals.push(ServicePrincipalSeed {
                tenant: tenant.clone(),
                app_id: ids::CSP_APP.into(),
                object_id: format!("5a{i:06x}-0000-4000-a000-000000000001"),
                app_roles: Vec::new(),
            });
            self.consents.push(ConsentSeed {
                tenant: tenant.clone(),
                app_id: ids::CSP_APP.into(),
                grants: vec![PermissionSeed {
                    resource: crate::model::resources::GRAPH_APP_ID.into(),
                    scopes: vec!["User.Read.All".into()],
                }],
            });
            self.customers.push(CustomerSeed {
                tenant: tenant.clone(),
                partner: None,
                relationship: "reseller".into(),
                subscriptions: vec![SubscriptionSeed {
                    id: format!("7a{i:06x}-0000-4000-a000-000000000001"),
                    offer_id: "CFQ7TTC0LH18:0001".into(),
                    offer_name: "Microsoft 365 Business Basic".into(),
                    friendly_name: None,
                    quantity: users_per_customer.max(1),
                    status: "active".into(),
                    billing_cycle: "monthly".into(),
                    auto_renew: true,
                }],
            });
            if has_gdap {
                self.gdap_relationships.push(GdapSeed {
                    id: format!("6a{i:06x}-0000-4000-a000-000000000000-{tenant}"),
                    partner: None,
                    customer: tenant.clone(),
                    display_name: format!("Generated GDAP {i:05}"),
                    status: "active".into(),
                    duration: "P730D".into(),
                    auto_extend_duration: "P180D".into(),
                    roles: vec![DIRECTORY_READERS.into()],
                    access_assignments: vec![AccessAssignmentSeed {
                        id: format!("6b{i:06x}-0000-4000-a000-000000000000"),
                        group: ADMIN_AGENTS_GROUP.into(),
                        roles: vec![DIRECTORY_READERS.into()],
                    }],
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
    fn generation_is_deterministic_and_valid() {
        let a = Seed::default().with_generated_customers(25, 3).unwrap();
        let b = Seed::default().with_generated_customers(25, 3).unwrap();
        assert!(a == b);
        a.validate().unwrap();
        // The default seed's four (three of Contoso's, one of the second partner's) and 25.
        assert_eq!(a.customer_tenants().count(), 4 + 25);
        assert_eq!(
            a.users
                .iter()
                .filter(|u| u.tenant == generated_tenant_id(7))
                .count(),
            3
        );
        assert_eq!(a.gdap_relationships.len(), 2 + 23);
    }
}
