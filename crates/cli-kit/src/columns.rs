//! Table columns both CLIs show for the same things, defined once so `csp-app` and `cpv-app`
//! print the same table for the same command.

use crate::output::Column;

/// `users list`: a user of a customer tenant (Microsoft Graph `user`).
pub const USERS: &[Column] = &[
    ("ID", "/id"),
    ("DISPLAY NAME", "/displayName"),
    ("USER PRINCIPAL NAME", "/userPrincipalName"),
];

/// `users list` across customers: the customer tenant, then the columns of [`USERS`].
pub const USERS_BY_CUSTOMER: &[Column] = &[
    ("CUSTOMER TENANT", "/customerTenantId"),
    ("ID", "/id"),
    ("DISPLAY NAME", "/displayName"),
    ("USER PRINCIPAL NAME", "/userPrincipalName"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_by_customer_are_the_users_columns_after_the_customer() {
        assert_eq!(&USERS_BY_CUSTOMER[1..], USERS);
    }
}
