//! Application consents: the Control Panel Vendor onboarding API of Partner Center.
//!
//! `POST /v1/customers/{customer-tenant-id}/applicationconsents` creates the CPV application's
//! service principal in a customer tenant with the granted permissions, and
//! `DELETE /v1/customers/{customer-tenant-id}/applicationconsents/{application-id}` removes it
//! ("Get customer consent as Control Panel Vendor",
//! <https://learn.microsoft.com/partner-center/developer/control-panel-vendor-apis>). Partner
//! Center documents no way to read a consent back; callers learn that one exists from the 409
//! answered to a second `POST`. The rate limit is 50 requests per second per application ID.
//!
//! Both calls accept App + User tokens only and carry `MS-RequestId` / `MS-CorrelationId` like
//! every other call of [`PartnerCenterClient`].

use reqwest::Method;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::transport::{SendError, Tenant, send};
use super::{ApiFault, PartnerCenterClient, PartnerCenterError, ThrottleBody, api_error, segment};
use crate::cloud::Resource;
use crate::secret::ExposeSecret as _;

/// One permission grant of an application consent: a resource application and the permissions
/// on it, as a comma-separated string (`ApplicationGrant` of the Partner Center SDKs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationGrant {
    /// The resource application's ID, e.g. Microsoft Graph `00000003-0000-0000-c000-000000000000`.
    pub enterprise_application_id: String,
    /// Comma-separated permission names, e.g. `User.Read.All,Directory.Read.All`.
    pub scope: String,
}

/// An application consent (`ApplicationConsent` of the Partner Center SDKs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationConsent {
    /// The application (client) ID being consented.
    pub application_id: String,
    /// Its display name.
    #[serde(default)]
    pub display_name: String,
    /// The permissions granted.
    #[serde(default)]
    pub application_grants: Vec<ApplicationGrant>,
}

impl PartnerCenterClient {
    /// Consents an application in a customer tenant: creates its service principal there with
    /// `consent.application_grants`. Partner Center answers 409 Conflict when a consent for the
    /// application already exists (delete it first to change the grants).
    ///
    /// `POST /v1/customers/{customer-tenant-id}/applicationconsents` — "Get customer consent as
    /// Control Panel Vendor" (<https://learn.microsoft.com/partner-center/developer/control-panel-vendor-apis>).
    pub async fn create_application_consent(
        &self,
        customer_id: &str,
        consent: &ApplicationConsent,
    ) -> Result<ApplicationConsent, PartnerCenterError> {
        let path = format!("v1/customers/{}/applicationconsents", segment(customer_id));
        let body = serde_json::to_value(consent).map_err(|e| PartnerCenterError::Decode {
            what: "an application consent",
            reason: e.to_string(),
        })?;
        let bytes = self
            .send_with_body(Method::POST, &path, Some(&body))
            .await?;
        if bytes.is_empty() {
            // Some answers carry no body; the consent asked for is what was created.
            return Ok(consent.clone());
        }
        super::decode(&bytes, "an application consent")
    }

    /// Removes an application's consent from a customer tenant (deletes its service principal
    /// there).
    ///
    /// `DELETE /v1/customers/{customer-tenant-id}/applicationconsents/{application-id}` — used
    /// before re-creating a consent in "Partner Center authentication"
    /// (<https://learn.microsoft.com/partner-center/developer/partner-center-authentication>).
    pub async fn delete_application_consent(
        &self,
        customer_id: &str,
        application_id: &str,
    ) -> Result<(), PartnerCenterError> {
        let path = format!(
            "v1/customers/{}/applicationconsents/{}",
            segment(customer_id),
            segment(application_id)
        );
        self.send_with_body(Method::DELETE, &path, None).await?;
        Ok(())
    }

    /// One call with an optional JSON body, with the headers and error handling of every other
    /// Partner Center call.
    async fn send_with_body(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, PartnerCenterError> {
        let inner = &self.inner;
        let url = self.url(path);
        // One MS-RequestId for every attempt of this call (headers.md, "idempotency").
        let request_id = Uuid::new_v4();
        let correlation_id = self.correlation_id();
        let started = std::time::Instant::now();
        let result = send(
            inner.tokens.as_ref(),
            Tenant::Partner,
            Resource::PartnerCenter,
            &inner.options.retry,
            &inner.stats,
            |token| {
                let mut builder = inner
                    .http
                    .request(method.clone(), url.clone())
                    .bearer_auth(token.expose_secret())
                    .header("Accept", "application/json")
                    .header("MS-RequestId", request_id.to_string())
                    .header("MS-CorrelationId", correlation_id.to_string())
                    .header("X-Locale", &inner.options.locale);
                if let Some(name) = &inner.options.application_name {
                    builder = builder.header("MS-PartnerCenter-Application", name);
                }
                if let Some(body) = body {
                    builder = builder.json(body);
                }
                builder
            },
        )
        .await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(response) if response.status.is_success() => {
                tracing::debug!(
                    http.status = response.status.as_u16(),
                    duration_ms,
                    ms.request_id = %request_id,
                    ms.correlation_id = %correlation_id,
                    "Partner Center {method} {}",
                    url.path()
                );
                Ok(response.body)
            }
            Ok(response) => Err(api_error(
                response.status.as_u16(),
                &response.headers,
                &response.body,
                request_id,
                correlation_id,
            )),
            Err(SendError::Token(e)) => Err(PartnerCenterError::Token(e)),
            Err(SendError::Transport(e)) => Err(PartnerCenterError::Transport(e)),
            Err(SendError::GaveUp {
                status,
                headers,
                body,
                attempts,
            }) => {
                let message = serde_json::from_slice::<ThrottleBody>(&body)
                    .map(|b| b.message)
                    .ok()
                    .or_else(|| {
                        serde_json::from_slice::<ApiFault>(&body)
                            .ok()
                            .map(|f| f.description)
                    })
                    .filter(|m| !m.is_empty());
                Err(PartnerCenterError::GaveUp {
                    status: status.as_u16(),
                    attempts,
                    retry_after: crate::http::retry_after(&headers),
                    message,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consent_serialises_to_the_documented_body() {
        let consent = ApplicationConsent {
            application_id: "c33c2273-9329-42ec-948d-152ead47cf65".into(),
            display_name: "CPV Web App".into(),
            application_grants: vec![ApplicationGrant {
                enterprise_application_id: "00000003-0000-0000-c000-000000000000".into(),
                scope: "Directory.Read.All,User.Read.All".into(),
            }],
        };
        assert_eq!(
            serde_json::to_string(&consent).unwrap(),
            r#"{"applicationId":"c33c2273-9329-42ec-948d-152ead47cf65","displayName":"CPV Web App","applicationGrants":[{"enterpriseApplicationId":"00000003-0000-0000-c000-000000000000","scope":"Directory.Read.All,User.Read.All"}]}"#
        );
    }
}
