//! What a binary refuses at start beyond the configuration's validation: the rules of one
//! binary (partner-consent's allow list). Every binary that applies a rule asks here, and
//! `config check` reports them all, naming the binary that would refuse.

use super::{AppMode, Settings};

/// A binary that would refuse to start with these settings, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The binary (`partner-consent`, `csp-app`, `cpv-app`).
    pub binary: &'static str,
    /// The key to change.
    pub key: &'static str,
    /// What is wrong and what to set.
    pub message: String,
}

/// The binary serving the consent pages.
pub const PARTNER_CONSENT: &str = "partner-consent";

impl Settings {
    /// Every start-up refusal of these settings (empty: every binary starts).
    pub fn refusals(&self) -> Vec<Refusal> {
        let mut out = Vec::new();
        // In CPV mode an empty allow list would mean "no partner tenant may store a grant
        // here" (and "*" must be said explicitly to mean any).
        if self.mode == AppMode::Cpv && self.partner.allowed_tenants.is_empty() {
            out.push(Refusal {
                binary: PARTNER_CONSENT,
                key: "partner.allowed_tenants",
                message: "CPV mode needs partner.allowed_tenants (SAM_PARTNER__ALLOWED_TENANTS): it is empty, so no partner tenant may consent. \
                          List the tenant IDs of the partners allowed to consent, e.g. allowed_tenants = [\"10000000-0000-4000-8000-000000000001\"] under [partner], \
                          or [\"*\"] to let any partner tenant consent"
                    .into(),
            });
        }
        out
    }

    /// The refusals of one binary.
    pub fn refusals_of(&self, binary: &str) -> Vec<Refusal> {
        self.refusals()
            .into_iter()
            .filter(|r| r.binary == binary)
            .collect()
    }
}
