//! Entra's error shape: `error`, `error_description` with the AADSTS code and the Trace ID /
//! Correlation ID / Timestamp lines, `error_codes`, `timestamp`, `trace_id`, `correlation_id`
//! (docs/microsoft-behaviour.md §1.2, §2.2).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

/// An Entra protocol error.
#[derive(Debug, Clone)]
pub struct AadError {
    /// HTTP status.
    pub status: StatusCode,
    /// OAuth `error`.
    pub error: &'static str,
    /// AADSTS number.
    pub code: u32,
    /// Text after `AADSTS{code}: `.
    pub message: String,
    /// Optional `suberror`.
    pub suberror: Option<&'static str>,
    /// Correlation ID (the client's `client-request-id` when sent).
    pub correlation_id: Option<String>,
}

impl AadError {
    /// A new error.
    pub fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        message: impl Into<String>,
    ) -> Self {
        AadError {
            status,
            error,
            code,
            message: message.into(),
            suberror: None,
            correlation_id: None,
        }
    }
    /// 400 `invalid_request`.
    pub fn invalid_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", code, message)
    }
    /// 400 `invalid_grant`.
    pub fn invalid_grant(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", code, message)
    }
    /// 401 `invalid_client`.
    pub fn invalid_client(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", code, message)
    }
    /// AADSTS900144: a required parameter is missing.
    pub fn missing(param: &str) -> Self {
        Self::invalid_request(
            900144,
            format!("The request body must contain the following parameter: '{param}'."),
        )
    }
    /// AADSTS90002: unknown tenant.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::invalid_request(
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }
    /// AADSTS700016: unknown application in this directory.
    pub fn app_not_found(client_id: &str, directory: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }
    /// With a suberror.
    pub fn with_suberror(mut self, s: &'static str) -> Self {
        self.suberror = Some(s);
        self
    }
    /// With a correlation ID.
    pub fn with_correlation(mut self, id: Option<String>) -> Self {
        self.correlation_id = id;
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let now = time::OffsetDateTime::now_utc();
        let timestamp = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = self
            .correlation_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut body = json!({
            "error": self.error,
            "error_description": format!("AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}", self.code, self.message),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        if let Some(s) = self.suberror {
            body["suberror"] = json!(s);
        }
        body
    }

    /// The HTTP response.
    pub fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .insert_header(("cache-control", "no-store, no-cache"))
            .insert_header(("pragma", "no-cache"))
            .json(self.body())
    }
}

impl std::fmt::Display for AadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: AADSTS{}: {}", self.error, self.code, self.message)
    }
}
