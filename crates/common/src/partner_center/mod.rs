//! Partner Center REST API client (`https://api.partnercenter.microsoft.com/v1`).
//!
//! Every call carries `MS-RequestId` (a new GUID per attempt, reused only to retry after a
//! timeout, when Partner Center may already have carried the request out: its "idempotency"
//! key) and `MS-CorrelationId` (one GUID per operation, shared
//! by the pages of one listing, or fixed for a whole run through
//! [`PartnerCenterOptions::correlation_id`]) — "Partner Center REST and response headers"
//! (develop/headers.md). Collections are followed to the end through `links.next` and the
//! `MS-ContinuationToken` header it names, as the .NET SDK's enumerators do, and returned as
//! streams. Errors keep Partner Center's `{code, description, data, source}` body.
//!
//! Tokens come from a [`TokenSource`](crate::http::TokenSource) for the partner tenant
//! ([`Tenant::Partner`]); the bearer token, retries and throttling are the shared
//! [`crate::http::transport`]'s: this module only describes the API.

pub mod consents;

use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::cloud::Resource;
use crate::http::transport::{InvalidSegment, ServiceError, segment};
use crate::http::{ApiClient, ApiOptions, RetryPolicy, Tenant, TokenSourceError};
use crate::remedy::Remedy;

/// Options of a [`PartnerCenterClient`].
#[derive(Clone, Debug)]
pub struct PartnerCenterOptions {
    /// Retries and throttling.
    pub retry: RetryPolicy,
    /// One `MS-CorrelationId` for every call of this client (a run of a CLI), instead of one per
    /// operation.
    pub correlation_id: Option<Uuid>,
    /// `MS-PartnerCenter-Application`: the application's name, as Partner Center support sees it.
    pub application_name: Option<String>,
    /// `X-Locale`.
    pub locale: String,
}

impl Default for PartnerCenterOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            correlation_id: None,
            application_name: Some("secure-app-model-rs".into()),
            locale: "en-US".into(),
        }
    }
}

/// The `code`, `description`, `data` and `source` of a Partner Center error body
/// ("Partner Center REST error codes", develop/error-codes.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiFault {
    /// Error code; documented as a string, sent as a number in practice.
    #[serde(default)]
    pub code: serde_json::Value,
    /// What went wrong.
    #[serde(default)]
    pub description: String,
    /// Extra data some errors carry.
    #[serde(default)]
    pub data: Vec<serde_json::Value>,
    /// The component that answered (`PartnerFD`).
    #[serde(default)]
    pub source: Option<String>,
}

impl ApiFault {
    /// The code as text (`3000`, `"InvalidToken"`), empty when absent.
    pub fn code_text(&self) -> String {
        match &self.code {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// Partner Center's error code for an App+User call whose token shows no multi-factor
/// authentication (HTTP 401).
pub const MFA_REQUIRED_CODE: &str = "900421";

/// Why a Partner Center call failed.
#[derive(Debug, thiserror::Error)]
pub enum PartnerCenterError {
    /// Partner Center answered an error.
    #[error("Partner Center answered HTTP {status}{code}: {description}{request}", code = fmt_code(&.fault.code_text()), description = .fault.description, request = fmt_ids(.request_id.as_deref(), .correlation_id.as_deref()))]
    Api {
        /// HTTP status.
        status: u16,
        /// The error body.
        fault: ApiFault,
        /// `MS-RequestId` of the call.
        request_id: Option<String>,
        /// `MS-CorrelationId` of the call.
        correlation_id: Option<String>,
    },
    /// Still throttled (429) or failing (5xx) after every retry allowed.
    #[error("Partner Center still answered HTTP {status} after {attempts} attempts{message}", message = .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    GaveUp {
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: usize,
        /// The last `Retry-After`.
        retry_after: Option<Duration>,
        /// The last message (`{statusCode, message}` for 429, `description` otherwise).
        message: Option<String>,
    },
    /// No access token.
    #[error("no access token for Partner Center: {0}")]
    Token(#[from] TokenSourceError),
    /// Partner Center could not be reached.
    #[error("cannot reach Partner Center: {0}")]
    Transport(#[from] reqwest::Error),
    /// The request was refused before it was sent (a path on another host).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The answer was not what the API documents.
    #[error("Partner Center answered an unexpected body for {what}: {reason}")]
    Decode {
        /// What was being read.
        what: &'static str,
        /// The parser's complaint.
        reason: String,
    },
}

fn fmt_code(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(" (code {code})")
    }
}

fn fmt_ids(request: Option<&str>, correlation: Option<&str>) -> String {
    match (request, correlation) {
        (Some(r), Some(c)) => format!(" (MS-RequestId {r}, MS-CorrelationId {c})"),
        (Some(r), None) => format!(" (MS-RequestId {r})"),
        (None, Some(c)) => format!(" (MS-CorrelationId {c})"),
        (None, None) => String::new(),
    }
}

impl PartnerCenterError {
    /// What a person should do about it.
    pub fn remedy(&self) -> Remedy {
        match self {
            Self::Token(e) => e.remedy,
            Self::Api { status, fault, .. } => {
                let text = fault.description.to_ascii_lowercase();
                if self.is_mfa_refusal()
                    || fault.code_text() == "10001"
                    || text.contains("mfa")
                    || text.contains("multi-factor")
                {
                    Remedy::Mfa
                } else if *status == 401 {
                    Remedy::Reconsent
                } else {
                    Remedy::None
                }
            }
            Self::GaveUp { .. } | Self::Transport(_) => Remedy::RetryLater,
            Self::Invalid(_) | Self::Decode { .. } => Remedy::None,
        }
    }

    /// Whether Partner Center refused the call because the App+User token shows no MFA: 401 with
    /// code `900421` (docs/microsoft-behaviour.md §0b, §5.1), read by code, not by its text.
    pub fn is_mfa_refusal(&self) -> bool {
        matches!(self, Self::Api { status: 401, fault, .. } if fault.code_text() == MFA_REQUIRED_CODE)
    }

    /// The HTTP status Partner Center answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::GaveUp { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A Partner Center customer ("Customer resources", develop/customer-resources.md). Fields not
/// named here are kept in [`Customer::other`], so JSON output shows everything Partner Center sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// Customer ID (the customer's tenant ID in practice).
    pub id: String,
    /// Company profile.
    #[serde(default)]
    pub company_profile: CompanyProfile,
    /// `reseller`, `advisor`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_to_partner: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `CustomerCompanyProfile`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanyProfile {
    /// The customer's Entra tenant ID.
    #[serde(default)]
    pub tenant_id: String,
    /// Default domain.
    #[serde(default)]
    pub domain: String,
    /// Company name.
    #[serde(default)]
    pub company_name: String,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// A user of a customer tenant as Partner Center shows it ("Get all user accounts for a customer").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerUser {
    /// Object ID.
    pub id: String,
    /// UPN.
    #[serde(default)]
    pub user_principal_name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// A subscription of a customer ("Subscription resources").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Subscription ID.
    pub id: String,
    /// Offer ID.
    #[serde(default)]
    pub offer_id: String,
    /// Offer name.
    #[serde(default)]
    pub offer_name: String,
    /// Friendly name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// Licence quantity.
    #[serde(default)]
    pub quantity: u64,
    /// `active`, `suspended`, …
    #[serde(default)]
    pub status: String,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The filter of "Get a list of customers": a prefix of the company name or of the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerFilter {
    /// `CompanyName` starts with.
    CompanyNameStartsWith(String),
    /// `Domain` starts with.
    DomainStartsWith(String),
}

impl CustomerFilter {
    /// The URL-encoded JSON Partner Center expects in `filter`.
    fn to_json(&self) -> String {
        let (field, value) = match self {
            Self::CompanyNameStartsWith(v) => ("CompanyName", v),
            Self::DomainStartsWith(v) => ("Domain", v),
        };
        serde_json::json!({"Field": field, "Value": value, "Operator": "starts_with"}).to_string()
    }
}

/// A link of a Partner Center resource (`{uri, method, headers: [{key, value}]}`).
#[derive(Clone, Debug, Default, Deserialize)]
struct Link {
    uri: String,
    #[serde(default)]
    headers: Vec<LinkHeader>,
}

#[derive(Clone, Debug, Deserialize)]
struct LinkHeader {
    key: String,
    value: String,
}

#[derive(Debug, Default, Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<Link>,
}

#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Collection<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    links: Links,
}

/// The 429 body of Partner Center (`{statusCode, message}`, api-throttling-guidance.md), which
/// differs from its usual error body.
#[derive(Debug, Deserialize)]
struct ThrottleBody {
    message: String,
}

/// One page request: the URL and any headers its `links.next` asks for.
#[derive(Clone, Debug)]
struct PageRequest {
    url: Url,
    headers: Vec<(String, String)>,
}

/// The Partner Center client (`ApiClient::new` with the API's base URL, e.g.
/// `https://api.partnercenter.microsoft.com`). Cheap to clone; clones share the HTTP client, the
/// token source and the counters.
pub type PartnerCenterClient = ApiClient<PartnerCenterOptions>;

impl ApiOptions for PartnerCenterOptions {
    const RESOURCE: Resource = Resource::PartnerCenter;
    const NAME: &'static str = "PartnerCenterClient";

    fn retry(&self) -> &RetryPolicy {
        &self.retry
    }
}

impl From<InvalidSegment> for PartnerCenterError {
    fn from(e: InvalidSegment) -> Self {
        PartnerCenterError::Invalid(e.to_string())
    }
}

/// A collection refused before any request: a stream of that one error.
fn refused<T: Send + 'static>(
    e: PartnerCenterError,
) -> BoxStream<'static, Result<T, PartnerCenterError>> {
    stream::once(async move { Err(e) }).boxed()
}

impl PartnerCenterClient {
    fn url(&self, path: &str) -> Url {
        crate::cloud::join(self.inner.transport.base(), path)
    }

    fn correlation_id(&self) -> Uuid {
        self.inner
            .options
            .correlation_id
            .unwrap_or_else(Uuid::new_v4)
    }

    /// Lists the partner's customers, following every page.
    ///
    /// `GET /v1/customers?size={size}[&filter=…]`, then `links.next` with `MS-ContinuationToken`
    /// — "Get a list of customers" (develop/get-a-list-of-customers.md) and "Get a list of
    /// customers filtered by a search field".
    pub fn list_customers(
        &self,
        size: u32,
        filter: Option<&CustomerFilter>,
    ) -> BoxStream<'static, Result<Customer, PartnerCenterError>> {
        let mut url = self.url("v1/customers");
        url.query_pairs_mut().append_pair("size", &size.to_string());
        if let Some(filter) = filter {
            url.query_pairs_mut()
                .append_pair("filter", &filter.to_json());
        }
        self.collection(url)
    }

    /// Gets one customer.
    ///
    /// `GET /v1/customers/{customer-tenant-id}` — "Get a customer by ID" (develop/get-a-customer-by-id.md).
    pub async fn get_customer(&self, customer_id: &str) -> Result<Customer, PartnerCenterError> {
        let url = self.url(&format!("v1/customers/{}", segment(customer_id)?));
        decode(&self.get_one(url).await?, "a customer")
    }

    /// Lists the user accounts of a customer, following every page.
    ///
    /// `GET /v1/customers/{customer-tenant-id}/users` — "Get all user accounts for a customer"
    /// (develop/get-a-list-of-all-user-accounts-for-a-customer.md).
    pub fn list_customer_users(
        &self,
        customer_id: &str,
    ) -> BoxStream<'static, Result<CustomerUser, PartnerCenterError>> {
        match segment(customer_id) {
            Ok(id) => self.collection(self.url(&format!("v1/customers/{id}/users"))),
            Err(e) => refused(e.into()),
        }
    }

    /// Lists the subscriptions of a customer, following every page.
    ///
    /// `GET /v1/customers/{customer-tenant-id}/subscriptions` — "Get all of a customer's
    /// subscriptions" (develop/get-all-of-a-customer-s-subscriptions.md).
    pub fn list_subscriptions(
        &self,
        customer_id: &str,
    ) -> BoxStream<'static, Result<Subscription, PartnerCenterError>> {
        match segment(customer_id) {
            Ok(id) => self.collection(self.url(&format!("v1/customers/{id}/subscriptions"))),
            Err(e) => refused(e.into()),
        }
    }

    /// An authenticated GET of any Partner Center path (`/v1/...`, relative to the base URL),
    /// for what is not wrapped yet. Returns the JSON body (`null` for an empty one).
    pub async fn get_raw(
        &self,
        path_and_query: &str,
    ) -> Result<serde_json::Value, PartnerCenterError> {
        let url = self
            .inner
            .transport
            .resolve(None, path_and_query)
            .map_err(PartnerCenterError::Invalid)?;
        let body = self.get_one(url).await?;
        if body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        decode(&body, "a raw GET")
    }

    /// Every item of a collection, page after page.
    fn collection<T>(&self, first: Url) -> BoxStream<'static, Result<T, PartnerCenterError>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let client = self.clone();
        let correlation_id = self.correlation_id();
        let start = Some(PageRequest {
            url: first,
            headers: Vec::new(),
        });
        stream::try_unfold(start, move |next| {
            let client = client.clone();
            async move {
                let Some(request) = next else {
                    return Ok::<_, PartnerCenterError>(None);
                };
                let body = client.get_bytes(&request, correlation_id).await?;
                let page: Collection<T> = decode(&body, "a collection page")?;
                let next = match page.links.next {
                    Some(link) if !link.uri.is_empty() => Some(PageRequest {
                        url: client
                            .inner
                            .transport
                            .resolve(Some("v1"), &link.uri)
                            .map_err(|reason| PartnerCenterError::Decode {
                                what: "links.next",
                                reason,
                            })?,
                        headers: link.headers.into_iter().map(|h| (h.key, h.value)).collect(),
                    }),
                    _ => None,
                };
                Ok(Some((stream::iter(page.items.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
        .boxed()
    }

    /// A GET of one resource (not a collection), in an operation of its own.
    async fn get_one(&self, url: Url) -> Result<Vec<u8>, PartnerCenterError> {
        let request = PageRequest {
            url,
            headers: Vec::new(),
        };
        self.get_bytes(&request, self.correlation_id()).await
    }

    async fn get_bytes(
        &self,
        request: &PageRequest,
        correlation_id: Uuid,
    ) -> Result<Vec<u8>, PartnerCenterError> {
        self.call(
            Method::GET,
            &request.url,
            &request.headers,
            None,
            correlation_id,
        )
        .await
    }

    /// One Partner Center call, with what every call carries: the bearer token, `MS-RequestId`
    /// (new for every attempt, reused only to retry after a timeout: Partner Center treats a
    /// repeated ID as the same request, headers.md "idempotency"), `MS-CorrelationId` (one per
    /// operation), `X-Locale`, the application name; retries and throttling; and errors in
    /// Partner Center's shape.
    pub(crate) async fn call(
        &self,
        method: Method,
        url: &Url,
        extra_headers: &[(String, String)],
        body: Option<&serde_json::Value>,
        correlation_id: Uuid,
    ) -> Result<Vec<u8>, PartnerCenterError> {
        let options = &self.inner.options;
        let response = self
            .inner
            .transport
            .call::<PartnerCenterError, _>(
                Tenant::Partner,
                &method,
                url,
                |mut builder, request_id| {
                    builder = builder
                        .header("MS-RequestId", request_id.to_string())
                        .header("MS-CorrelationId", correlation_id.to_string())
                        .header("X-Locale", &options.locale);
                    if let Some(name) = &options.application_name {
                        builder = builder.header("MS-PartnerCenter-Application", name);
                    }
                    for (key, value) in extra_headers {
                        builder = builder.header(key.as_str(), value.as_str());
                    }
                    if let Some(body) = body {
                        builder = builder.json(body);
                    }
                    builder
                },
            )
            .await?;
        if !response.status.is_success() {
            return Err(api_error(
                response.status.as_u16(),
                &response.headers,
                &response.body,
                response.request_id,
                correlation_id,
            ));
        }
        tracing::debug!(
            http.status = response.status.as_u16(),
            duration_ms = response.duration_ms(),
            ms.request_id = %response.request_id,
            ms.correlation_id = %correlation_id,
            "Partner Center {method} {}",
            url.path()
        );
        Ok(response.body)
    }
}

impl ServiceError for PartnerCenterError {
    fn gave_up(status: u16, attempts: usize, retry_after: Option<Duration>, body: &[u8]) -> Self {
        // A 429 carries `{statusCode, message}`; a 5xx, the usual error body.
        let message = serde_json::from_slice::<ThrottleBody>(body)
            .map(|b| b.message)
            .ok()
            .or_else(|| {
                serde_json::from_slice::<ApiFault>(body)
                    .ok()
                    .map(|f| f.description)
            })
            .filter(|m| !m.is_empty());
        Self::GaveUp {
            status,
            attempts,
            retry_after,
            message,
        }
    }
}

fn api_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    request_id: Uuid,
    correlation_id: Uuid,
) -> PartnerCenterError {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let fault = serde_json::from_slice::<ApiFault>(body).unwrap_or_else(|_| ApiFault {
        description: String::from_utf8_lossy(body).chars().take(512).collect(),
        ..ApiFault::default()
    });
    PartnerCenterError::Api {
        status,
        fault,
        request_id: header("MS-RequestId").or_else(|| Some(request_id.to_string())),
        correlation_id: header("MS-CorrelationId").or_else(|| Some(correlation_id.to_string())),
    }
}

fn decode<T: DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, PartnerCenterError> {
    serde_json::from_slice(body).map_err(|e| PartnerCenterError::Decode {
        what,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any error body Partner Center (or a proxy in front of it) sends becomes an error.
        #[test]
        fn any_error_body_becomes_an_error(
            status in 400u16..600,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let e = api_error(status, &HeaderMap::new(), &body, Uuid::nil(), Uuid::nil());
            proptest::prop_assert_eq!(e.status(), Some(status));
        }
    }

    #[test]
    fn errors_read_partner_centers_documented_body() {
        let body = br#"{"code": 3000, "description": "Partner Organization with partner_id 9999999 could not be found", "data": [], "source": "PartnerFD"}"#;
        let e = api_error(404, &HeaderMap::new(), body, Uuid::nil(), Uuid::nil());
        assert_eq!(
            e.to_string(),
            "Partner Center answered HTTP 404 (code 3000): Partner Organization with partner_id 9999999 could not be found (MS-RequestId 00000000-0000-0000-0000-000000000000, MS-CorrelationId 00000000-0000-0000-0000-000000000000)"
        );
        assert_eq!(e.remedy(), Remedy::None);
    }

    #[test]
    fn code_900421_is_the_mfa_refusal_whatever_its_text() {
        let body = br#"{"code": 900421, "description": "Unauthorized", "data": [], "source": "PartnerFD"}"#;
        let e = api_error(401, &HeaderMap::new(), body, Uuid::nil(), Uuid::nil());
        assert!(e.is_mfa_refusal());
        assert_eq!(e.remedy(), Remedy::Mfa);
        let other = br#"{"code": 900420, "description": "Unauthorized", "data": [], "source": "PartnerFD"}"#;
        let e = api_error(401, &HeaderMap::new(), other, Uuid::nil(), Uuid::nil());
        assert!(!e.is_mfa_refusal());
        assert_eq!(e.remedy(), Remedy::Reconsent);
    }

    #[test]
    fn mfa_required_maps_to_the_mfa_remedy() {
        let body = br#"{"code": 10001, "description": "Authentication failed. MFA required", "data": [], "source": "PartnerFD"}"#;
        let e = api_error(401, &HeaderMap::new(), body, Uuid::nil(), Uuid::nil());
        assert_eq!(e.remedy(), Remedy::Mfa);
    }

    #[test]
    fn the_customer_filter_is_the_documented_json() {
        assert_eq!(
            CustomerFilter::DomainStartsWith("fab".into()).to_json(),
            r#"{"Field":"Domain","Operator":"starts_with","Value":"fab"}"#
        );
    }

    #[test]
    fn a_collection_page_keeps_its_next_link_and_headers() {
        let page: Collection<Customer> = serde_json::from_str(
            r#"{"totalCount":1,"items":[{"id":"c1","companyProfile":{"tenantId":"c1","domain":"a.onmicrosoft.com","companyName":"A"},"relationshipToPartner":"reseller","attributes":{"objectType":"Customer"}}],
               "links":{"next":{"uri":"/v1/customers?size=1&seekOperation=Next","method":"GET","headers":[{"key":"MS-ContinuationToken","value":"abc"}]}}}"#,
        )
        .unwrap();
        assert_eq!(page.items[0].company_profile.company_name, "A");
        assert!(page.items[0].other.contains_key("attributes"));
        let next = page.links.next.unwrap();
        assert_eq!(next.headers[0].key, "MS-ContinuationToken");
    }
}
