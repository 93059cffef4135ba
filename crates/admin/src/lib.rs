//! Administration of a partner tenant for the Secure Application Model tools, kept out of the
//! `common` library the web app links (as crates.io keeps its admin tooling in its own crates):
//!
//! - [`setup`]: create or update the partner tenant's app registration, the Partner Center
//!   service principal and the app's certificate, and write the configuration file;
//! - [`doctor`]: check the whole deployment (registration, real grants, store, tokens), each
//!   problem with its fix;
//! - [`consent`]: the application's consent in the partners' customer tenants (`consent grant |
//!   remove | verify`), one implementation for both CLIs: a CPV consents its app in the
//!   customers of every partner, a CSP its own automation app in its customers (under GDAP a
//!   multitenant app gets no token at a customer's authority without it);
//! - [`grant`]: put back a partner's earlier grant (`grant restore`), for both CLIs.
//!
//! Both sign a partner admin in as a public client ([`setup::signin`], the prompts and the
//! loopback listener) on top of `common::entra::public_client`, and talk to Microsoft Graph
//! through `common::graph`'s typed application client.

pub mod consent;
pub mod doctor;
pub mod grant;
pub mod setup;
