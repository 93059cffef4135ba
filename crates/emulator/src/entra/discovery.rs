//! OpenID Connect discovery (v1 and v2), JWKS and instance discovery (docs/microsoft-behaviour.md §1.3, §2.4).

use super::error::AadError;
use crate::model::state::State;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

/// Resolve the `{tenant}` path segment for discovery: a tenant ID, domain, or the
/// multi-tenant aliases (which keep the `{tenantid}` template in the issuer).
fn tenant_segment(state: &State, tenant: &str) -> Result<(String, String), AadError> {
    if matches!(
        tenant.to_ascii_lowercase().as_str(),
        "common" | "organizations" | "consumers"
    ) {
        return Ok((tenant.to_ascii_lowercase(), "{tenantid}".into()));
    }
    let dir = state.directory();
    let t = dir.tenant(tenant).ok_or_else(|| {
        let mut e = AadError::tenant_not_found(tenant);
        e.error = "invalid_tenant";
        e
    })?;
    Ok((tenant.to_string(), t.id.clone()))
}

fn json_ok(v: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "max-age=86400, private"))
        .json(v)
}

/// The fields both OpenID configuration documents share; `version` is the path segment before
/// each endpoint (`v2.0/` or empty). `serde_json` keeps keys sorted, so field order is immaterial.
fn openid_configuration_common(host: &str, seg: &str, version: &str) -> serde_json::Value {
    json!({
        "token_endpoint": format!("{host}/{seg}/oauth2/{version}token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{host}/{seg}/discovery/{version}keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{host}/{seg}/oauth2/{version}logout"),
        "kerberos_endpoint": format!("{host}/{seg}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net"
    })
}

/// Serves `openid_configuration_common(…)` with the version-specific `extra` fields added.
fn openid_configuration(
    state: &State,
    tenant: &str,
    version: &str,
    extra: impl FnOnce(&str, &str, &str) -> serde_json::Value,
) -> HttpResponse {
    state.count("entra.openid_configuration");
    let (seg, tid) = match tenant_segment(state, tenant) {
        Ok(v) => v,
        Err(e) => return e.response(),
    };
    let host = state.authority_host();
    let mut doc = openid_configuration_common(&host, &seg, version);
    if let (Some(doc), serde_json::Value::Object(extra)) =
        (doc.as_object_mut(), extra(&host, &seg, &tid))
    {
        doc.extend(extra);
    }
    json_ok(doc)
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`
pub async fn openid_configuration_v2(
    state: web::Data<State>,
    tenant: web::Path<String>,
) -> HttpResponse {
    openid_configuration(&state, &tenant, "v2.0/", |host, seg, tid| {
        json!({
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": format!("{host}/{tid}/v2.0"),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": format!("{host}/graph/oidc/userinfo"),
            "authorization_endpoint": format!("{host}/{seg}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{host}/{seg}/oauth2/v2.0/devicecode"),
            "claims_supported": ["sub","iss","cloud_instance_name","cloud_instance_host_name","cloud_graph_host_name","msgraph_host","aud","exp","iat","auth_time","acr","nonce","preferred_username","name","tid","ver","at_hash","c_hash","email"]
        })
    })
}

/// `GET /{tenant}/.well-known/openid-configuration`
pub async fn openid_configuration_v1(
    state: web::Data<State>,
    tenant: web::Path<String>,
) -> HttpResponse {
    openid_configuration(&state, &tenant, "", |host, seg, tid| {
        json!({
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid"],
            "issuer": state.v1_issuer(tid),
            "claims_supported": ["sub","iss","cloud_instance_name","cloud_instance_host_name","cloud_graph_host_name","msgraph_host","aud","exp","iat","auth_time","acr","amr","nonce","email","given_name","family_name","nickname"],
            "microsoft_multi_refresh_token": true,
            "check_session_iframe": format!("{host}/{seg}/oauth2/checksession"),
            "userinfo_endpoint": format!("{host}/{seg}/openid/userinfo")
        })
    })
}

/// `GET /{tenant}/discovery/v2.0/keys`
pub async fn keys_v2(state: web::Data<State>, tenant: web::Path<String>) -> HttpResponse {
    state.count("entra.keys");
    if let Err(e) = tenant_segment(&state, &tenant) {
        return e.response();
    }
    let issuer = format!("{}/{{tenantid}}/v2.0", state.authority_host());
    json_ok(json!({"keys": state.signing.jwks(&issuer)}))
}

/// `GET /{tenant}/discovery/keys`
pub async fn keys_v1(state: web::Data<State>, tenant: web::Path<String>) -> HttpResponse {
    state.count("entra.keys");
    if let Err(e) = tenant_segment(&state, &tenant) {
        return e.response();
    }
    json_ok(json!({"keys": state.signing.jwks(&state.v1_issuer("{tenantid}"))}))
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`
pub async fn instance(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    state.count("entra.instance_discovery");
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let host_port = format!("127.0.0.1:{}", state.port());
    let Some(endpoint) = get("authorization_endpoint") else {
        return AadError::invalid_request(50049, "Unknown or invalid instance.").response();
    };
    let parsed = url::Url::parse(&endpoint).ok();
    let tenant = parsed
        .as_ref()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next().map(str::to_string))
        })
        .unwrap_or_else(|| "common".into());
    let known = parsed.as_ref().is_some_and(|u| {
        matches!(u.host_str(), Some("127.0.0.1" | "localhost")) && u.port() == Some(state.port())
    });
    if !known {
        let mut e = AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_instance",
            50049,
            "Unknown or invalid instance.",
        );
        e.status = StatusCode::BAD_REQUEST;
        return e.response();
    }
    json_ok(json!({
        "tenant_discovery_endpoint": format!("{}/{tenant}/v2.0/.well-known/openid-configuration", state.authority_host()),
        "api-version": get("api-version").unwrap_or_else(|| "1.1".into()),
        "metadata": [{
            "preferred_network": host_port,
            "preferred_cache": host_port,
            "aliases": [host_port, format!("localhost:{}", state.port())]
        }]
    }))
}
