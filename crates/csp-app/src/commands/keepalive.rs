//! `keepalive`: redeem and rotate the stored refresh token, so it never reaches its 90-day
//! inactivity expiry.

use std::io::Write;
use std::process::ExitCode;

use cli_kit::output::{self, OutputFormat};
use cli_kit::{Exit, Failure};
use serde_json::{Value, json};

use crate::context::Context;

/// Refresh tokens expire after this long without use (Entra "Refresh token lifetime").
const INACTIVITY_LIFETIME_SECS: i64 = common::rules::REFRESH_TOKEN_INACTIVITY_SECS;

fn rfc3339(unix: i64) -> Value {
    output::rfc3339(unix).map_or(Value::Null, Value::String)
}

/// `keepalive`: redeem and rotate.
pub async fn run(
    ctx: &Context,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let grant = ctx
        .broker
        .keepalive(&ctx.partner)
        .await
        .map_err(|e| Failure::from(&e))?;
    let meta = grant.meta.as_ref();
    let report = json!({
        "partnerTenantId": ctx.partner,
        "rotatedAt": meta.map_or(Value::Null, |m| rfc3339(m.rotated_at)),
        "inactivityExpiry": meta.map_or(Value::Null, |m| rfc3339(m.rotated_at + INACTIVITY_LIFETIME_SECS)),
        "store": grant.location,
        "rotatedTokenStored": grant.persisted,
    });
    output::write_object(format, out, &[], &report)?;
    if !grant.persisted {
        let _ = writeln!(
            err,
            "warning: the rotated refresh token could not be stored ({}); the previous one is still valid and is kept",
            grant.last_store_error.as_deref().unwrap_or("unknown error")
        );
        return Ok(Exit::Failure.into());
    }
    Ok(ExitCode::SUCCESS)
}
