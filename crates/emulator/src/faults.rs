//! The fault middleware: applies the injected faults ([`crate::model::faults`]) to requests,
//! before their handlers run (a response time: after).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use std::time::Duration;

pub use crate::model::faults::{Fault, FaultSet, Service};

/// Entra's answer for a policy decision (error `invalid_grant`). Texts: 53003 from Microsoft's
/// AADSTS reference (`reference-aadsts-error-codes.md`, "BlockedByConditionalAccess"); 70043
/// and 70044 as Microsoft Q&A moderators quote them for sign-in frequency
/// (learn.microsoft.com/answers/questions/847407); 700084 as reported by integrators (third
/// party, **inferred**); 50079 (`interaction_required`, MFA registration) and 50177
/// ("ExternalChallengeNotSupportedForPassthroughUsers", met by partner users in customer tenants)
/// after the AADSTS reference's descriptions. Current texts: `https://login.microsoftonline.com/error?code=N`.
fn policy_error(status: StatusCode, aadsts: u32) -> serde_json::Value {
    let message = match aadsts {
        53003 => {
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."
        }
        70043 => {
            "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access."
        }
        70044 => {
            "The session has expired or is invalid due to sign-in frequency checks by conditional access."
        }
        700084 => {
            "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page."
        }
        50079 => {
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access the resource."
        }
        50177 => "External challenge is not supported for passthrough users.",
        _ => "The request was refused by a policy of the tenant (injected by the emulator).",
    };
    let error = if aadsts == 50079 {
        "interaction_required"
    } else {
        "invalid_grant"
    };
    crate::entra::error::AadError::new(status, error, aadsts, message).body()
}

fn fault_body(service: Service, status: StatusCode, retry_after: Option<u64>) -> serde_json::Value {
    let reason = status.canonical_reason().unwrap_or("Error");
    match service {
        Service::KeyVault => {
            serde_json::json!({"error": {"code": if status.as_u16() == 429 { "Throttled" } else { "ServiceUnavailable" }, "message": format!("{reason} (injected by the emulator)")}})
        }
        Service::Graph => {
            serde_json::json!({"error": {"code": if status.as_u16() == 429 { "TooManyRequests" } else { "serviceNotAvailable" }, "message": "Please retry again later.", "innerError": {"code": status.as_u16().to_string(), "status": status.as_u16().to_string(), "message": "Please retry after", "date": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()}}})
        }
        Service::PartnerCenter | Service::PartnerApi if status.as_u16() == 429 => {
            serde_json::json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {} seconds.", retry_after.unwrap_or(1))})
        }
        Service::PartnerCenter | Service::PartnerApi => {
            serde_json::json!({"code": status.as_u16(), "description": reason, "data": [], "source": "PartnerFD"})
        }
        Service::Entra | Service::Any => crate::entra::error::AadError::new(
            status,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        )
        .body(),
    }
}

/// Waits until `by` after `since`, to a few microseconds. Tokio's timer rounds a deadline up to
/// its next millisecond tick, which made a 20 ms injected latency 21 ms on average (5 % more than
/// asked, measured on the fan-out benchmark); the last millisecond is slept on the blocking pool,
/// where `std::thread::sleep` keeps the kernel's precision.
async fn wait_precisely(since: std::time::Instant, by: Duration) {
    let deadline = since + by;
    if let Some(coarse) = by.checked_sub(Duration::from_millis(1)) {
        tokio::time::sleep_until((since + coarse).into()).await;
    }
    let rest = deadline.saturating_duration_since(std::time::Instant::now());
    if !rest.is_zero() {
        // A failed join (the runtime shutting down) only shortens the wait.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

/// The tenant a request is for, as far as a fault's `tenant` needs it: an Entra path's first
/// segment, else the `tid` claim of the bearer token.
///
/// The token is read without checking its signature: this only picks which requests an injected
/// answer replaces; every request that reaches a handler is still verified there.
fn request_tenant(service: Service, req: &ServiceRequest) -> Option<String> {
    if service == Service::Entra {
        return req
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
    }
    bearer_tenant(req.headers().get("authorization")?.to_str().ok()?)
}

/// The `tid` claim of a `Bearer` JWT in an `Authorization` header value, unverified.
fn bearer_tenant(header: &str) -> Option<String> {
    use base64::Engine as _;
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let payload = token.trim().split('.').nth(1)?;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&claims).ok()?;
    claims.get("tid")?.as_str().map(str::to_owned)
}

/// Middleware applying faults before the handler runs; a response time holds the handler's
/// answer back until it has passed.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let arrived = std::time::Instant::now();
    let state = req
        .app_data::<web::Data<crate::model::state::State>>()
        .cloned();
    let host = req.connection_info().host().to_string();
    let service = Service::of(&host, req.path());
    let Some(fault) = state.zip(service).and_then(|(state, service)| {
        state
            .faults
            .take(service, req.path(), || request_tenant(service, &req))
            .map(|fault| (service, fault))
    }) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let (service, fault) = fault;
    let answers = fault.drop_connection || fault.status.is_some();
    let before = fault
        .latency_ms
        .into_iter()
        .chain(fault.response_time_ms.filter(|_| answers))
        .max();
    if let Some(ms) = before {
        wait_precisely(arrived, Duration::from_millis(ms)).await;
    }
    if fault.drop_connection {
        tracing::info!(service = ?service, path = req.path(), "injected fault: dropping the connection");
        let body = futures::stream::once(async {
            Err::<web::Bytes, std::io::Error>(std::io::Error::other(
                "connection dropped by injected fault",
            ))
        });
        return Ok(req.into_response(
            HttpResponse::Ok()
                .insert_header(("connection", "close"))
                .streaming(body),
        ));
    }
    if let Some(code) = fault.status {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        tracing::info!(service = ?service, path = req.path(), http.status = code, "injected fault");
        let mut resp = HttpResponse::build(status);
        if let Some(secs) = fault.retry_after {
            resp.insert_header(("retry-after", secs.to_string()));
        }
        let body = match fault.entra_error {
            Some(aadsts) => policy_error(status, aadsts),
            None => fault_body(service, status, fault.retry_after),
        };
        return Ok(req.into_response(resp.json(body)));
    }
    let response = next.call(req).await;
    if let Some(ms) = fault.response_time_ms {
        // The handler ran at once; its answer waits out the rest of the response time.
        wait_precisely(arrived, Duration::from_millis(ms)).await;
    }
    response.map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn jwt(claims: &serde_json::Value) -> String {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b64(br#"{"alg":"RS256","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        )
    }

    proptest::proptest! {
        /// Any `Authorization` value gives a tenant or none, never a panic; a bearer JWT gives
        /// its `tid`, whatever the scheme's case.
        #[test]
        fn any_authorization_gives_the_bearer_tid_or_none(
            value in "\\PC{0,120}",
            tid in "[0-9a-zA-Z.-]{1,40}",
            upper in proptest::prelude::any::<bool>(),
        ) {
            let _ = bearer_tenant(&value);
            let token = jwt(&serde_json::json!({"tid": tid, "oid": "x"}));
            let scheme = if upper { "BEARER" } else { "Bearer" };
            proptest::prop_assert_eq!(bearer_tenant(&format!("{scheme} {token}")), Some(tid));
            proptest::prop_assert_eq!(bearer_tenant(&format!("Basic {token}")), None);
            let no_tid = jwt(&serde_json::json!({"oid": "x"}));
            proptest::prop_assert_eq!(bearer_tenant(&format!("Bearer {no_tid}")), None);
        }
    }

    #[test]
    fn a_tenant_fault_is_taken_only_for_its_tenant_and_asks_for_the_tenant_once() {
        let set = FaultSet::default();
        set.inject(Fault::status(Service::Graph, 429).for_tenant("T1").times(1));
        set.inject(Fault::latency(Service::Graph, Duration::from_millis(1)));
        let asked = std::cell::Cell::new(0);
        let ask = |t: &'static str| {
            let asked = &asked;
            move || {
                asked.set(asked.get() + 1);
                Some(t.to_owned())
            }
        };
        // Another tenant passes the tenant fault and gets the next one.
        let f = set
            .take(Service::Graph, "/graph/v1.0/users", ask("T2"))
            .unwrap();
        assert_eq!(f.status, None);
        assert_eq!(asked.get(), 1);
        // Its own tenant (any case) gets it, once.
        let f = set
            .take(Service::Graph, "/graph/v1.0/users", ask("t1"))
            .unwrap();
        assert_eq!(f.status, Some(429));
        let f = set
            .take(Service::Graph, "/graph/v1.0/users", ask("T1"))
            .unwrap();
        assert_eq!(f.status, None);
        // Without a tenant fault the tenant is never asked.
        asked.set(0);
        let _ = set.take(Service::Graph, "/graph/v1.0/users", ask("T1"));
        assert_eq!(asked.get(), 0);
        // No tenant at all: a tenant fault does not apply.
        set.clear();
        set.inject(Fault::status(Service::Graph, 429).for_tenant("T1"));
        assert!(set.take(Service::Graph, "/", || None).is_none());
    }
}
