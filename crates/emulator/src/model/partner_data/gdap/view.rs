//! A GDAP relationship as Graph returns it: serialized from a typed view of the model, without
//! building a JSON tree first (a listing page holds up to 300 of them).

use serde_json::Value;

use super::Relationship;
use super::status::iso;

impl Relationship {
    /// Graph JSON (`#microsoft.graph.delegatedAdminRelationship`).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.graph()).unwrap_or(Value::Null)
    }

    /// Graph's view of it, serialized as it is, without building a JSON tree first: a listing
    /// page holds up to 300 of them.
    pub fn graph(&self) -> GraphRelationship<'_> {
        GraphRelationship {
            odata_type: "#microsoft.graph.delegatedAdminRelationship",
            etag: self.etag(),
            id: &self.id,
            display_name: &self.display_name,
            duration: &self.duration,
            customer: self
                .customer
                .as_ref()
                .map(|(tenant_id, display_name)| GraphCustomer {
                    tenant_id,
                    display_name,
                }),
            access_details: GraphAccessDetails {
                unified_roles: self
                    .roles
                    .iter()
                    .map(|role_definition_id| GraphRole { role_definition_id })
                    .collect(),
            },
            status: self.status.as_str(),
            auto_extend_duration: &self.auto_extend,
            created_date_time: iso(self.created),
            last_modified_date_time: iso(self.modified),
            activated_date_time: self.activated.map(iso),
            end_date_time: self.end.map(iso),
        }
    }
}

/// A relationship as Graph returns it ([`Relationship::graph`]).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphRelationship<'a> {
    #[serde(rename = "@odata.type")]
    odata_type: &'static str,
    #[serde(rename = "@odata.etag")]
    etag: String,
    id: &'a str,
    display_name: &'a str,
    duration: &'a str,
    customer: Option<GraphCustomer<'a>>,
    access_details: GraphAccessDetails<'a>,
    status: &'static str,
    auto_extend_duration: &'a str,
    created_date_time: String,
    last_modified_date_time: String,
    activated_date_time: Option<String>,
    end_date_time: Option<String>,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct GraphCustomer<'a> {
    tenant_id: &'a str,
    display_name: &'a str,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct GraphAccessDetails<'a> {
    unified_roles: Vec<GraphRole<'a>>,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct GraphRole<'a> {
    role_definition_id: &'a str,
}
