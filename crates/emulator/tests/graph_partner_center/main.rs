//! The emulator's Microsoft Graph and Partner Center services, driven over HTTPS with real
//! tokens from the emulator's own Entra ID. Every test starts its own emulator on port 0.

mod apps;
mod cross_check;
mod gdap;
mod gdap_lifecycle;
mod graph_users;
mod helpers;
mod partner_center;
