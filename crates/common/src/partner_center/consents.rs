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

use super::{PartnerCenterClient, PartnerCenterError};
use crate::http::transport::segment;

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
        let path = format!("v1/customers/{}/applicationconsents", segment(customer_id)?);
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
            segment(customer_id)?,
            segment(application_id)?
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
        self.call(method, &self.url(path), &[], body, self.correlation_id())
            .await
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
