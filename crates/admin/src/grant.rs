//! `grant restore`: put back the partner's grant from before the stored one, for when a newer
//! consent turned out worse (signed in by the wrong user, or without MFA). One implementation
//! for both CLIs (`csp-app grant restore`, `cpv-app partners restore`).

use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{self, OutputFormat};
use common::store::GrantMetadata;
use common::tokens::TokenBroker;
use serde_json::{Value, json};

/// What `--help` says of the command, shared by both CLIs.
pub const ABOUT: &str = "Put back the partner's grant from before the stored one (the store keeps the grant a new consent replaced: the local file keeps it, Key Vault keeps versions), after checking that it still redeems. For a newer consent that turned out worse: signed in by the wrong user, or without MFA. --dry-run shows which grant would come back and changes nothing. Restart other running instances afterwards (partner-consent replicas, the watch): they hold the replaced grant in memory.";

fn grant_json(meta: &GrantMetadata) -> Value {
    json!({
        "consentedBy": meta.user,
        "consentedAt": output::rfc3339(meta.consented_at),
        "lastRotatedAt": output::rfc3339(meta.rotated_at),
        "mfa": meta.mfa,
    })
}

/// Restores (or, with `dry_run`, shows) the earlier grant of `partner`. Exit 0 when restored
/// (or shown); a failure says what was wrong, and nothing was changed.
pub async fn restore(
    broker: &TokenBroker,
    partner: &str,
    dry_run: bool,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    if dry_run {
        let previous = broker
            .previous_grant(partner)
            .await
            .map_err(|e| Failure::from(&e))?;
        let report = json!({
            "partnerTenantId": partner,
            "dryRun": true,
            "wouldRestore": previous.as_ref().map(grant_json),
            "note": if previous.is_some() {
                "run again without --dry-run to restore it (one redemption checks that it still works)"
            } else {
                "no earlier grant is kept: nothing to restore"
            },
        });
        output::write_object(format, out, &[], &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let restored = broker
        .restore_previous(partner)
        .await
        .map_err(|e| Failure::from(&e))?;
    let report = json!({
        "partnerTenantId": partner,
        "restored": grant_json(&restored.restored),
        "replaced": restored.replaced.as_ref().map(grant_json),
        "note": "restart other running instances (partner-consent replicas, the watch): they hold the replaced grant in memory and would store it again",
    });
    output::write_object(format, out, &[], &report)?;
    Ok(ExitCode::SUCCESS)
}
