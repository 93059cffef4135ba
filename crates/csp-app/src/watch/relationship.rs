//! A GDAP relationship as the watch keeps it between cycles, for the console and the gauges, and
//! a partner's relationships as the watch lists them.

use std::sync::Arc;

use common::graph::{
    AccessDetails, DelegatedAdminRelationship, DelegatedAdminRelationshipCustomer, GraphClient,
    GraphError, UnifiedRole, iso8601_days,
};
use futures::TryStreamExt as _;
use serde::Deserialize;

use super::State;

/// A GDAP relationship as the watch keeps it for the console and the gauges: the fields they
/// read, parsed once (dates as Unix seconds; a status and a role set shared by the
/// relationships that have them). A watch over a thousand partners keeps their 100,000
/// relationships between cycles: Graph's full objects took three times the memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Relationship {
    /// `{partner-guid}-{guid}` (shared with its GDAP finding's subject).
    pub id: Arc<str>,
    /// Display name.
    pub display_name: Box<str>,
    /// `active`, `approvalPending`, `expired`, …
    pub status: Arc<str>,
    /// The customer's tenant ID (empty when Graph does not say).
    pub customer_id: Box<str>,
    /// The customer's name, when Graph gives it.
    pub customer_name: Option<Box<str>>,
    /// Role template IDs.
    pub roles: Arc<[Box<str>]>,
    /// When it ends (Unix seconds).
    pub end: Option<i64>,
    /// When Graph last changed it (Unix seconds).
    pub last_modified: Option<i64>,
    /// Days it extends by at its end; `None` when it does not extend automatically.
    pub auto_extend_days: Option<f64>,
    /// The state of its GDAP finding, when it has one.
    pub state: Option<State>,
}

impl Relationship {
    /// Seconds left at `now` of an active relationship and whether it extends automatically
    /// (the values of `sam_gdap_relationship_expiry_seconds` and
    /// `sam_gdap_relationship_auto_extend`); `None` for one not active or without an end date.
    pub fn active_expiry(&self, now: i64) -> Option<(i64, bool)> {
        if &*self.status != "active" {
            return None;
        }
        Some((self.end? - now, self.auto_extend_days.is_some()))
    }

    /// Its customer's name, else its tenant ID.
    pub fn customer_label(&self) -> &str {
        self.customer_name.as_deref().unwrap_or(&self.customer_id)
    }
}

/// A relationship as Graph lists it, with only the fields the watch reads (the others are
/// skipped as they are parsed).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    customer: Option<DelegatedAdminRelationshipCustomer>,
    #[serde(default)]
    access_details: AccessDetails,
    #[serde(default)]
    auto_extend_duration: Option<String>,
    #[serde(default)]
    end_date_time: Option<String>,
    #[serde(default)]
    last_modified_date_time: Option<String>,
}

impl From<&DelegatedAdminRelationship> for Listed {
    fn from(r: &DelegatedAdminRelationship) -> Self {
        Self {
            id: r.id.clone(),
            display_name: r.display_name.clone(),
            status: r.status.clone(),
            customer: r.customer.clone(),
            access_details: r.access_details.clone(),
            auto_extend_duration: r.auto_extend_duration.clone(),
            end_date_time: r.end_date_time.clone(),
            last_modified_date_time: r
                .other
                .get("lastModifiedDateTime")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        }
    }
}

/// Statuses and role sets met so far, each kept once.
#[derive(Debug, Default)]
pub struct Interner {
    statuses: Vec<Arc<str>>,
    roles: Vec<Arc<[Box<str>]>>,
}

impl Interner {
    fn status(&mut self, status: &str) -> Arc<str> {
        if let Some(s) = self.statuses.iter().find(|s| ***s == *status) {
            return s.clone();
        }
        let s: Arc<str> = status.into();
        self.statuses.push(s.clone());
        s
    }

    fn roles(&mut self, roles: &[UnifiedRole]) -> Arc<[Box<str>]> {
        let same = |set: &&Arc<[Box<str>]>| {
            set.len() == roles.len()
                && set
                    .iter()
                    .zip(roles)
                    .all(|(a, b)| **a == *b.role_definition_id)
        };
        if let Some(set) = self.roles.iter().find(same) {
            return set.clone();
        }
        let set: Arc<[Box<str>]> = roles
            .iter()
            .map(|r| r.role_definition_id.as_str().into())
            .collect();
        self.roles.push(set.clone());
        set
    }

    /// The relationship kept for `listed`.
    pub fn keep(&mut self, listed: Listed) -> Relationship {
        let (customer_id, customer_name) = match listed.customer {
            Some(c) => (c.tenant_id.into(), c.display_name.map(Into::into)),
            None => (Box::from(""), None),
        };
        Relationship {
            id: listed.id.into(),
            display_name: listed.display_name.into(),
            status: self.status(&listed.status),
            customer_id,
            customer_name,
            roles: self.roles(&listed.access_details.unified_roles),
            end: listed.end_date_time.as_deref().and_then(unix),
            last_modified: listed.last_modified_date_time.as_deref().and_then(unix),
            auto_extend_days: listed
                .auto_extend_duration
                .as_deref()
                .and_then(iso8601_days)
                .filter(|d| *d > 0.0),
            state: None,
        }
    }
}

/// `r`, or the equal relationship of the previous cycle's snapshot (`previous`, sorted by
/// customer and ID as a snapshot is), shared: a watch over 100,000 relationships, most of them
/// unchanged from one cycle to the next, would otherwise hold them twice while the console
/// still shows the previous cycle.
pub fn shared(previous: &[Arc<Relationship>], r: Relationship) -> Arc<Relationship> {
    let key = (&*r.customer_id, &*r.id);
    match previous.binary_search_by(|p| (&*p.customer_id, &*p.id).cmp(&key)) {
        Ok(i) if *previous[i] == r => previous[i].clone(),
        _ => Arc::new(r),
    }
}

/// Seconds since the Unix epoch of an RFC 3339 date.
pub fn unix(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// A partner's GDAP relationships as listed.
#[derive(Debug)]
pub enum Listing {
    /// The configured partner's, whole (the access check reads them).
    Own(Result<Vec<DelegatedAdminRelationship>, GraphError>),
    /// Another partner's, with the fields the watch keeps.
    Other(Result<Vec<Listed>, GraphError>),
    /// Not listed: the partner's redemption failed.
    Skipped,
}

impl Listing {
    /// Lists with `graph` (`None`: the cloud has no Graph, an empty listing); another partner's
    /// only when its redemption succeeded.
    pub async fn fetch(graph: Option<GraphClient>, own: bool, redeemed: bool) -> Self {
        match (graph, own) {
            (Some(graph), true) => Self::Own(
                graph
                    .list_delegated_admin_relationships(None)
                    .try_collect()
                    .await,
            ),
            (None, true) => Self::Own(Ok(Vec::new())),
            (_, false) if !redeemed => Self::Skipped,
            (Some(graph), false) => Self::Other(
                graph
                    .list_delegated_admin_relationships_as::<Listed>()
                    .try_collect()
                    .await,
            ),
            (None, false) => Self::Other(Ok(Vec::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, customer: &str, end: &str) -> Relationship {
        let json = serde_json::json!({
            "id": id,
            "displayName": format!("{id} name"),
            "status": "active",
            "customer": {"tenantId": customer, "displayName": format!("{customer} name")},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "role"}]},
            "endDateTime": end,
        });
        Interner::default().keep(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn an_unchanged_relationship_is_shared_with_the_previous_snapshot_and_a_changed_one_is_not() {
        let mut previous: Vec<Arc<Relationship>> = [("r1", "c2"), ("r2", "c1"), ("r3", "c1")]
            .into_iter()
            .map(|(id, c)| Arc::new(listed(id, c, "2027-01-01T00:00:00Z")))
            .collect();
        previous.sort_by(|a, b| (&a.customer_id, &a.id).cmp(&(&b.customer_id, &b.id)));

        let same = shared(&previous, listed("r3", "c1", "2027-01-01T00:00:00Z"));
        let kept = previous.iter().find(|p| &*p.id == "r3").unwrap();
        assert!(
            Arc::ptr_eq(&same, kept),
            "unchanged: the previous one, shared"
        );

        let extended = shared(&previous, listed("r3", "c1", "2027-07-01T00:00:00Z"));
        assert!(!Arc::ptr_eq(&extended, kept), "changed: a new one");
        assert_eq!(extended.end, unix("2027-07-01T00:00:00Z"));

        let mut with_state = listed("r1", "c2", "2027-01-01T00:00:00Z");
        with_state.state = Some(State::Warning);
        let r1 = shared(&previous, with_state);
        assert_eq!(
            r1.state,
            Some(State::Warning),
            "its finding's state changed: new"
        );

        let new = shared(&previous, listed("r9", "c1", "2027-01-01T00:00:00Z"));
        assert!(previous.iter().all(|p| !Arc::ptr_eq(p, &new)));
        assert!(
            shared(&[], listed("r1", "c2", "2027-01-01T00:00:00Z"))
                .state
                .is_none()
        );
    }
}
