//! Microsoft Graph (`https://graph.microsoft.com` stand-in) under `/graph/v1.0/`: users,
//! organization, GDAP relationships, applications, service principals and permission grants
//! (docs/microsoft-behaviour.md §6).
//!
//! How a request flows: [`authenticate`] validates the bearer token through the shared
//! extractor [`Caller::identify`] (Graph audience; the token's `tid` is the tenant whose
//! directory is read), each handler checks the delegated scopes (`scp`) or application roles
//! (`roles`) the real endpoint documents, then reads or changes [`State`]. Errors use Graph's
//! `{"error":{"code","message","innerError":{…}}}` shape.

pub mod apps;
pub mod gdap;
pub mod query;
pub mod throttle;
pub mod users;

pub use crate::caller::Caller;
use crate::model::partner_data::catalog::GLOBAL_ADMINISTRATOR;
use crate::model::resources::ResourceKind;
use crate::model::state::State;
use crate::model::tokens::TokenRejection;
use actix_web::http::StatusCode;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, web};
use futures::StreamExt as _;
use serde_json::{Value, json};

/// Largest JSON body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Graph routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/graph/v1.0")
            .route("/me", web::get().to(users::me))
            .route("/organization", web::get().to(users::organization))
            .route("/users", web::get().to(users::list))
            .route("/users/{id}", web::get().to(users::get))
            .route("/me/memberOf", web::get().to(gdap::my_member_of))
            .route("/users/{id}/memberOf", web::get().to(gdap::user_member_of))
            .route(
                "/tenantRelationships/delegatedAdminCustomers",
                web::get().to(gdap::list_customers),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships",
                web::get().to(gdap::list),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships",
                web::post().to(gdap::create),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}",
                web::get().to(gdap::get),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}",
                web::patch().to(gdap::update),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}/requests",
                web::get().to(gdap::list_requests),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}/requests",
                web::post().to(gdap::create_request),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}/requests/{rid}",
                web::get().to(gdap::get_request),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}/operations",
                web::get().to(gdap::list_operations),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}/operations/{oid}",
                web::get().to(gdap::get_operation),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments",
                web::get().to(gdap::list_assignments),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments",
                web::post().to(gdap::create_assignment),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments/{aid}",
                web::get().to(gdap::get_assignment),
            )
            .route(
                "/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments/{aid}",
                web::delete().to(gdap::delete_assignment),
            )
            .configure(app_routes)
            .default_service(web::to(unknown_route)),
    )
    // Customer approval of a GDAP relationship (what the customer's admin does in the
    // Microsoft admin center). Registered before the `/_admin` scope so it is reached.
    .route(
        "/_admin/gdap/relationships/{id}/approve",
        web::post().to(gdap::admin_approve),
    )
    .route("/_admin/gdap/timings", web::get().to(gdap::get_timings))
    .route("/_admin/gdap/timings", web::put().to(gdap::set_timings));
}

/// Routes of app setup (`apps`): applications, service principals, app role assignments and
/// delegated permission grants, under `/graph/v1.0`.
fn app_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/applications",
        web::get().to(apps::applications::list_applications),
    )
    .route(
        "/applications",
        web::post().to(apps::applications::create_application),
    )
    .route(
        "/applications/{id}",
        web::get().to(apps::applications::get_application),
    )
    .route(
        "/applications/{id}",
        web::patch().to(apps::applications::update_application),
    )
    .route(
        "/applications/{id}/addPassword",
        web::post().to(apps::applications::add_password),
    )
    .route(
        "/applications/{id}/removePassword",
        web::post().to(apps::applications::remove_password),
    )
    .route(
        "/servicePrincipals",
        web::get().to(apps::service_principals::list_service_principals),
    )
    .route(
        "/servicePrincipals",
        web::post().to(apps::service_principals::create_service_principal),
    )
    .route(
        "/servicePrincipals/{id}",
        web::get().to(apps::service_principals::get_service_principal),
    )
    .route(
        "/servicePrincipals/{id}/appRoleAssignments",
        web::get().to(apps::app_roles::list_app_role_assignments),
    )
    .route(
        "/servicePrincipals/{id}/appRoleAssignedTo",
        web::post().to(apps::app_roles::assign_app_role),
    )
    .route(
        "/servicePrincipals/{id}/appRoleAssignedTo/{assignment}",
        web::delete().to(apps::app_roles::delete_app_role_assignment),
    )
    .route(
        "/servicePrincipals/{id}/appRoleAssignments/{assignment}",
        web::delete().to(apps::app_roles::delete_app_role_assignment),
    )
    .route(
        "/servicePrincipals/{id}/oauth2PermissionGrants",
        web::get().to(apps::grants::list_sp_grants),
    )
    .route(
        "/oauth2PermissionGrants",
        web::get().to(apps::grants::list_grants),
    );
}

async fn unknown_route(req: HttpRequest) -> HttpResponse {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!(
            "Resource not found for the segment '{}'.",
            req.path().rsplit('/').next().unwrap_or_default()
        ),
    )
    .response(&req)
}

/// A Graph error.
#[derive(Debug, Clone)]
pub struct GraphError {
    /// HTTP status.
    pub status: StatusCode,
    /// `error.code`.
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `Retry-After` in seconds (a 429).
    pub retry_after: Option<u64>,
}

impl GraphError {
    /// A new error.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
        }
    }
    /// 400 `Request_BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }
    /// 403 `Authorization_RequestDenied`.
    pub fn denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }
    /// 403 `Authorization_RequestDenied` with a specific message.
    pub fn denied_because(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            message,
        )
    }
    /// 404 `Request_ResourceNotFound` for directory objects.
    pub fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }
    /// The invalid-JSON error Graph gives.
    pub fn invalid_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }
    /// The HTTP response.
    pub fn response(&self, req: &HttpRequest) -> HttpResponse {
        let (request_id, client_request_id) = request_ids(req);
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header(("request-id", request_id.clone()))
            .insert_header(("client-request-id", client_request_id.clone()));
        if let Some(secs) = self.retry_after {
            resp.insert_header(("retry-after", secs.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header(("www-authenticate", format!("Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"{}\"", crate::model::resources::GRAPH_APP_ID)));
        }
        resp.json(json!({"error": {
            "code": self.code,
            "message": self.message,
            "innerError": {"date": now_iso(), "request-id": request_id, "client-request-id": client_request_id},
        }}))
    }
}

/// Handler result.
pub type GraphResult = Result<HttpResponse, GraphError>;

/// Turn a handler result into a response with Graph's request-ID headers.
pub fn finish(req: &HttpRequest, result: GraphResult) -> HttpResponse {
    match result {
        Ok(mut resp) => {
            let (request_id, client_request_id) = request_ids(req);
            let headers = resp.headers_mut();
            if let (Ok(a), Ok(b)) = (request_id.parse(), client_request_id.parse()) {
                headers.insert(
                    actix_web::http::header::HeaderName::from_static("request-id"),
                    a,
                );
                headers.insert(
                    actix_web::http::header::HeaderName::from_static("client-request-id"),
                    b,
                );
            }
            resp
        }
        Err(e) => {
            tracing::info!(http.status = e.status.as_u16(), graph.code = %e.code, path = req.path(), "graph request refused");
            e.response(req)
        }
    }
}

fn request_ids(req: &HttpRequest) -> (String, String) {
    let client = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| uuid::Uuid::parse_str(v).is_ok())
        .map(str::to_string);
    let existing = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let request_id = match existing {
        Some(id) => id,
        None => {
            let id = client
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            req.extensions_mut().insert(RequestId(id.clone()));
            id
        }
    };
    (request_id.clone(), client.unwrap_or(request_id))
}

#[derive(Clone)]
struct RequestId(String);

fn now_iso() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default()
}

/// Graph's requirement on a caller ([`Caller`]: the bearer-token extractor every API shares).
impl Caller {
    /// Require one of `delegated` scopes (user tokens) or one of `application` roles
    /// (app-only tokens); 403 `Authorization_RequestDenied` otherwise.
    pub fn require(&self, delegated: &[&str], application: &[&str]) -> Result<(), GraphError> {
        if self.holds_any(delegated, application) {
            Ok(())
        } else {
            Err(GraphError::denied())
        }
    }
}

/// Validate the bearer token for Graph and identify the caller; 401
/// `InvalidAuthenticationToken` when absent or invalid, or when the directory knows neither the
/// token's tenant nor (for a delegated token) its user.
pub fn authenticate(state: &State, req: &HttpRequest) -> Result<Caller, GraphError> {
    let invalid =
        |m: &str| GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m);
    let caller = Caller::identify(state, req, ResourceKind::Graph).map_err(|e| match e {
        TokenRejection::Missing => invalid("Access token is empty."),
        TokenRejection::BadSignature => invalid("Access token validation failure."),
        TokenRejection::Expired => invalid("Lifetime validation failed, the token is expired."),
        TokenRejection::NotYetValid => {
            invalid("Lifetime validation failed, the token is not yet valid.")
        }
        TokenRejection::Issuer(_) => invalid("Access token validation failure. Invalid issuer."),
        TokenRejection::Audience(_) => {
            invalid("Access token validation failure. Invalid audience.")
        }
    })?;
    if caller.tenant_kind.is_none() {
        return Err(invalid("Access token validation failure. Invalid tenant."));
    }
    if !caller.is_app_only() && caller.user.is_none() {
        return Err(invalid(
            "Access token validation failure. The user does not exist.",
        ));
    }
    throttle::admit(state, &caller)?;
    Ok(caller)
}

/// Entra roles the caller holds in the token's tenant: its own directory roles, or, for a
/// partner user in a customer tenant, the roles of the access assignments of active GDAP
/// relationships whose security group the user is a member of
/// ([`crate::model::partner_data::Inner::role_grants`]); under legacy DAP (delegated access without
/// any active GDAP relationship) an Admin Agent is Global Administrator.
pub fn directory_roles(state: &State, caller: &Caller) -> Vec<String> {
    let Some(user) = &caller.user else {
        return Vec::new();
    };
    if !caller.is_foreign_user() {
        return if user.is_global_admin() {
            vec![GLOBAL_ADMINISTRATOR.to_string()]
        } else {
            Vec::new()
        };
    }
    gdap::apply_clock(state);
    let tid = caller.tenant();
    let data = state.partner.lock();
    // One scan when roles are granted (the common case); the second only to tell "active
    // relationship, no role" from "no relationship".
    let roles = data.gdap_roles(user, tid);
    if !roles.is_empty() || data.has_active_relationship(&user.tenant, tid) {
        roles
    } else if user.admin_agent && state.has_delegated_access(tid, &user.tenant) {
        vec![GLOBAL_ADMINISTRATOR.to_string()]
    } else {
        Vec::new()
    }
}

/// Partner users acting in a customer tenant need some directory role there (through GDAP)
/// to read it; 403 otherwise.
pub fn require_foreign_access(state: &State, caller: &Caller) -> Result<(), GraphError> {
    if caller.is_foreign_user() && directory_roles(state, caller).is_empty() {
        return Err(GraphError::denied_because(
            "Insufficient privileges to complete the operation. The partner user holds no role in this tenant through an active GDAP relationship.",
        ));
    }
    Ok(())
}

/// Delegated writes to applications and service principals need an administrator role.
pub fn require_app_admin(state: &State, caller: &Caller) -> Result<(), GraphError> {
    const ADMIN_ROLES: [&str; 3] = [
        GLOBAL_ADMINISTRATOR,
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "158c047a-c907-4556-b7ef-446551a6b5f7",
    ];
    if caller.is_app_only()
        || directory_roles(state, caller)
            .iter()
            .any(|r| ADMIN_ROLES.iter().any(|a| a.eq_ignore_ascii_case(r)))
    {
        Ok(())
    } else {
        Err(GraphError::denied())
    }
}

/// Read a JSON body (size-limited); Graph's invalid-JSON error otherwise.
pub async fn read_json(mut payload: web::Payload) -> Result<Value, GraphError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| GraphError::invalid_json())?;
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(GraphError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request_EntityTooLarge",
                format!("The request body exceeds the maximum size of {MAX_BODY_BYTES} bytes."),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&buf).map_err(|_| GraphError::invalid_json())
}

/// A collection page as Graph shapes it: `@odata.context`, `@odata.nextLink` (the request's
/// query plus `$skiptoken`, only when more items follow), then `value`.
pub fn collection_page<T: serde::Serialize>(
    context: String,
    collection_url: &str,
    q: &query::Query,
    value: Vec<T>,
    next: Option<usize>,
) -> HttpResponse {
    match collection_body(context, collection_url, q, value, next) {
        Ok(body) => HttpResponse::Ok()
            .content_type(actix_web::http::header::ContentType::json())
            .body(body),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

/// The JSON of a page of a Graph collection ([`collection_page`]).
pub fn collection_body<T: serde::Serialize>(
    context: String,
    collection_url: &str,
    q: &query::Query,
    value: Vec<T>,
    next: Option<usize>,
) -> serde_json::Result<Vec<u8>> {
    let page = CollectionPage {
        context,
        next_link: next.map(|n| q.next_link(collection_url, n)),
        value,
    };
    serde_json::to_vec(&page)
}

/// A page of a Graph collection, serialized from its items as they are (no JSON tree).
#[derive(serde::Serialize)]
struct CollectionPage<T> {
    #[serde(rename = "@odata.context")]
    context: String,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
    value: Vec<T>,
}

/// The Graph base URL of this emulator (`https://127.0.0.1:{port}/graph/v1.0`).
pub fn base(state: &State) -> String {
    format!("{}/graph/v1.0", state.authority_host())
}
