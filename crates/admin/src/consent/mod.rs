//! Application consent in customer tenants, shared by `csp-app` and `cpv-app`.
//!
//! What Microsoft documents, and so what this does (docs/microsoft-behaviour.md §0 and §5.5):
//! - Partner Center's `POST /v1/customers/{id}/applicationconsents` creates the application's
//!   service principal in the customer tenant and a tenant-wide grant of the *delegated*
//!   permissions listed (`--delegated`): the `scp` of the partner user's tokens there.
//! - *Application* permissions (`--application`) are app-role assignments, added afterwards
//!   through Microsoft Graph `servicePrincipals/{resource}/appRoleAssignedTo` with the partner
//!   user's delegated token in that tenant (as CIPP does); that needs the delegated
//!   `AppRoleAssignment.ReadWrite.All` and `Application.Read.All` and, through GDAP, a role
//!   allowed to assign app roles (for example Cloud Application Administrator).
//!
//! - Both reach Graph and the customer's authority only after Microsoft's directory has
//!   replicated them (docs/microsoft-behaviour.md §6.6): `grant` waits for the service principal
//!   before its Graph step, with back-off and progress on standard error ([`replication`]).
//!
//! [`app::App`] holds the clients and tokens of a run, [`ops`] the per-customer work with
//! bounded concurrency, `app_roles` the Graph step of `grant`, [`replication`] the waits (for
//! replication and for Graph's `Retry-After`) that hold no place in the fan-out, [`report`] the
//! per-customer results, [`cli`] the shared clap commands.

pub mod app;
pub(crate) mod app_roles;
pub mod cli;
pub mod grants;
pub mod limiter;
pub mod ops;
pub mod replication;
pub mod report;

pub use app::{App, AppOptions};
