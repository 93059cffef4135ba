//! End-to-end tests: `csp-app` run in-process against the emulator (Entra ID, Partner Center,
//! Microsoft Graph), one emulator per test on port 0.

mod access;
mod consent;
mod customers;
mod gdap;
mod gdap_wait;
mod grant;
mod helpers;
mod no_hang;
mod onboard;
mod onboard_kill;
mod onboard_scale;
mod raw;
mod startup;
mod templates;
mod tokens;
mod users;
mod watch;
mod watch_access;
mod watch_hardening;
mod watch_lean;
mod watch_service;
