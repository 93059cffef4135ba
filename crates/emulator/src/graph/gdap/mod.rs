//! GDAP: `/v1.0/tenantRelationships/delegatedAdminRelationships` (list, get, create, update),
//! its `requests` (`lockForApproval`, `approve`, `terminate`), `accessAssignments` and
//! `operations`, `delegatedAdminCustomers`, `memberOf`, and the customer's approval and the
//! lengths of GDAP's transitional states through the admin API (docs/microsoft-behaviour.md
//! §6.2, §6.2a). An active relationship is what lets the partner's refresh token work at the
//! customer's authority ([`crate::model::state::State::set_delegated_access`]) and gives
//! Admin Agents the roles of its active assignments there.

pub mod assignments;
pub mod member_of;
pub mod relationships;
pub mod requests;
pub mod shared;

pub use assignments::{
    create_assignment, delete_assignment, get_assignment, get_operation, list_assignments,
    list_operations,
};
pub use member_of::{my_member_of, user_member_of};
pub use relationships::{create, get, list, list_customers, update};
pub use requests::{
    admin_approve, approve, create_request, get_request, get_timings, list_requests, set_timings,
};
pub use shared::apply_clock;
