//! The few Microsoft Graph calls `setup` and `doctor` make as the signed-in admin: applications,
//! service principals, delegated permission grants and app role assignments.

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::SetupError;
use crate::cloud::join;
use crate::secret::{AccessToken, ExposeSecret as _};

/// Graph as the signed-in admin of the partner tenant.
#[derive(Clone)]
pub struct AdminGraph {
    http: reqwest::Client,
    base: Url,
    token: AccessToken,
}

impl std::fmt::Debug for AdminGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminGraph")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Pages followed at most (999 items each): a tenant with more service principals than this
/// is not what these look-ups are for.
const MAX_PAGES: usize = 50;

impl AdminGraph {
    /// Graph at `graph` (the cloud's base URL, e.g. `https://graph.microsoft.com`) with the
    /// admin's access token.
    pub fn new(http: reqwest::Client, graph: &Url, token: AccessToken) -> Self {
        Self {
            http,
            base: join(graph, "v1.0"),
            token,
        }
    }

    fn url(&self, path: &str, filter: Option<&str>) -> Url {
        let mut url = join(&self.base, path);
        if let Some(f) = filter {
            url.query_pairs_mut().append_pair("$filter", f);
        }
        url
    }

    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, SetupError> {
        let what = format!("{method} {}", url.path());
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
            .header("accept", "application/json");
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SetupError::Http(format!("{what}: {e}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SetupError::Http(format!("{what}: {e}")))?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| SetupError::Http(format!("{what}: not JSON ({e})")));
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Err(SetupError::Graph {
            request: what,
            status: status.as_u16(),
            code,
            message,
        })
    }

    /// `GET {path}` (one object).
    pub async fn get(&self, path: &str) -> Result<Value, SetupError> {
        self.call(Method::GET, self.url(path, None), None).await
    }

    /// `GET {path}?$filter=…`, every page (`@odata.nextLink`).
    pub async fn list(&self, path: &str, filter: Option<&str>) -> Result<Vec<Value>, SetupError> {
        let mut out = Vec::new();
        let mut next = Some(self.url(path, filter));
        let mut pages = 0;
        while let Some(url) = next.take() {
            let page = self.call(Method::GET, url, None).await?;
            if let Some(items) = page["value"].as_array() {
                out.extend(items.iter().cloned());
            }
            pages += 1;
            next = page["@odata.nextLink"]
                .as_str()
                .and_then(|s| Url::parse(s).ok())
                .filter(|_| pages < MAX_PAGES);
        }
        Ok(out)
    }

    /// `POST {path}`.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, SetupError> {
        self.call(Method::POST, self.url(path, None), Some(body))
            .await
    }

    /// `PATCH {path}`.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<(), SetupError> {
        self.call(Method::PATCH, self.url(path, None), Some(body))
            .await
            .map(drop)
    }

    /// The service principal of `app_id` in the signed-in tenant:
    /// `GET /servicePrincipals?$filter=appId eq '…'`.
    pub async fn service_principal(&self, app_id: &str) -> Result<Option<Value>, SetupError> {
        let filter = format!("appId eq '{app_id}'");
        Ok(self
            .list("servicePrincipals", Some(&filter))
            .await?
            .into_iter()
            .next())
    }

    /// Creates the service principal of `app_id` (what `New-MgServicePrincipal -AppId` does):
    /// `POST /servicePrincipals`.
    pub async fn create_service_principal(&self, app_id: &str) -> Result<Value, SetupError> {
        self.post("servicePrincipals", &serde_json::json!({ "appId": app_id }))
            .await
    }

    /// The app registration with `app_id`: `GET /applications?$filter=appId eq '…'`.
    pub async fn application_by_app_id(&self, app_id: &str) -> Result<Option<Value>, SetupError> {
        let filter = format!("appId eq '{app_id}'");
        Ok(self
            .list("applications", Some(&filter))
            .await?
            .into_iter()
            .next())
    }

    /// App registrations named `name`: `GET /applications?$filter=displayName eq '…'`.
    pub async fn applications_named(&self, name: &str) -> Result<Vec<Value>, SetupError> {
        let filter = format!("displayName eq '{}'", name.replace('\'', "''"));
        self.list("applications", Some(&filter)).await
    }
}
