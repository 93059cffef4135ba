//! Workload identity federation, the data: federated identity credentials on app registrations
//! and the external issuers' keys. The token endpoint's check of a `client_assertion` issued by
//! an external issuer (a Kubernetes service-account token, a GitHub Actions token, …) is
//! `entra::federated`.
//!
//! A federated identity credential (Graph `federatedIdentityCredential`,
//! `learn.microsoft.com/graph/api/resources/federatedidentitycredential`) trusts tokens whose
//! `iss` and `sub` equal its `issuer` and `subject` exactly (case-sensitive, a trailing `/`
//! matters: `Azure/azure-workload-identity:docs/book/src/troubleshooting.md`) and whose `aud`
//! contains one of its `audiences` (`api://AzureADTokenExchange` for Entra ID). The client sends
//! the external token unchanged as `client_assertion`
//! (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
//! `grant_type=client_credentials`) — `azure_identity` 1.0 `WorkloadIdentityCredential` and
//! Python `azure-identity` `WorkloadIdentityCredential` re-read it from
//! `AZURE_FEDERATED_TOKEN_FILE` and reuse it for many requests, so unlike a certificate
//! assertion it is not single-use.
//!
//! Entra fetches the issuer's keys from `{issuer}/.well-known/openid-configuration` →
//! `jwks_uri` (AADSTS90061 when that fails). The emulator makes no outbound calls: the seed's
//! `[[external_issuers]]` give each trusted issuer's JWKS inline (`jwks`, the JSON document the
//! issuer would serve). An issuer without keys is refused with AADSTS90061.

use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};

/// The audience Entra ID expects in external tokens by default.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

fn default_audiences() -> Vec<String> {
    vec![TOKEN_EXCHANGE_AUDIENCE.to_string()]
}

/// A federated identity credential on an app registration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredentialSeed {
    /// The app registration (client ID) the credential belongs to.
    pub app_id: String,
    /// Name of the credential.
    pub name: String,
    /// The external issuer URL, compared exactly with the token's `iss`.
    pub issuer: String,
    /// Compared exactly with the token's `sub`, e.g. `system:serviceaccount:{namespace}:{name}`.
    pub subject: String,
    /// Accepted `aud` values; default `["api://AzureADTokenExchange"]`.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

/// An external issuer the emulator trusts, with the keys it would publish.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuerSeed {
    /// The issuer URL (the token's `iss`).
    pub issuer: String,
    /// The issuer's JWKS document (JSON text: `{"keys": [...]}`).
    pub jwks: String,
}

/// Federated credentials and issuer keys of a running emulator.
#[derive(Debug, Default)]
pub struct Federation {
    pub(crate) credentials: Vec<FederatedCredentialSeed>,
    pub(crate) issuers: Vec<(String, JwkSet)>,
}

impl Federation {
    /// From the seed's credentials and issuers (validated: every JWKS parses).
    pub fn new(credentials: &[FederatedCredentialSeed], issuers: &[ExternalIssuerSeed]) -> Self {
        Federation {
            credentials: credentials.to_vec(),
            issuers: issuers
                .iter()
                .filter_map(|i| Some((i.issuer.clone(), serde_json::from_str(&i.jwks).ok()?)))
                .collect(),
        }
    }
}
