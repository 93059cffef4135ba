//! `status`: the partner's grant, and whether it still works (one redemption).

use std::io::Write;
use std::process::ExitCode;

use cli_kit::output::{self, OutputFormat};
use cli_kit::{Exit, Failure};
use common::cloud::Resource;
use common::remedy::Remedy;
use common::tokens::BrokerError;
use serde_json::{Value, json};

use crate::context::Context;

/// Refresh tokens expire after this long without use (Entra "Refresh token lifetime").
const INACTIVITY_LIFETIME_SECS: i64 = common::rules::REFRESH_TOKEN_INACTIVITY_SECS;

/// What `status` says when no consent was ever stored for the partner, and what to do.
const NO_CONSENT_YET: (&str, &str) = (
    "no consent stored yet",
    "an admin agent of the partner tenant must sign in on the consent page (consentUrl) and consent",
);

fn rfc3339(unix: i64) -> Value {
    output::rfc3339(unix).map_or(Value::Null, Value::String)
}

/// `status`: one redemption tells whether the grant still works.
pub async fn run(
    ctx: &Context,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let grant = ctx.broker.status(&ctx.partner).await;
    let redemption = ctx
        .broker
        .delegated_token(&ctx.partner, &ctx.partner, Resource::PartnerCenter)
        .await;
    let failure = redemption.as_ref().err().map(Failure::from);
    let mut healthy = failure.is_none();
    let mut remedy = failure.as_ref().map(|f| f.remedy);
    let mfa = grant.meta.as_ref().map(|m| m.mfa);
    if healthy && mfa == Some(false) {
        // Partner Center refuses App+User calls without MFA: the grant must be re-consented.
        healthy = false;
        remedy = Some(Remedy::Mfa);
    }
    // Nothing was ever stored: say so, rather than that a token is "no longer valid".
    let never_consented = matches!(redemption, Err(BrokerError::NotConsented { .. }));
    let advice = if never_consented {
        Some(NO_CONSENT_YET.1)
    } else {
        remedy.and_then(Remedy::advice)
    };
    let consent_url = failure.as_ref().and_then(|f| f.consent_url.clone());
    let meta = grant.meta.as_ref();
    let report = json!({
        "healthy": healthy,
        "partnerTenantId": ctx.partner,
        "appId": ctx.settings.app.client_id,
        "appDisplayName": ctx.settings.app.display_name,
        "store": grant.location,
        "consented": meta.is_some(),
        "consentedBy": meta.and_then(|m| m.user.clone()),
        "consentedAt": meta.map_or(Value::Null, |m| rfc3339(m.consented_at)),
        "lastRotatedAt": meta.map_or(Value::Null, |m| rfc3339(m.rotated_at)),
        "inactivityExpiry": meta.map_or(Value::Null, |m| rfc3339(m.rotated_at + INACTIVITY_LIFETIME_SECS)),
        "mfa": mfa,
        "rotatedTokenStored": grant.persisted,
        "lastStoreError": grant.last_store_error,
        "redemption": match &failure {
            None => "ok".to_owned(),
            Some(_) if never_consented => NO_CONSENT_YET.0.to_owned(),
            Some(f) => f.text().to_owned(),
        },
        "remedy": advice,
        "consentUrl": consent_url,
    });
    output::write_object(format, out, &[], &report)?;
    Ok(match (healthy, remedy) {
        (true, _) => ExitCode::SUCCESS,
        (false, Some(r)) if r.needs_consent() => Exit::Reconsent.into(),
        (false, _) => Exit::Failure.into(),
    })
}
