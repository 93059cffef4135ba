//! What GDAP gives the partner in a customer tenant, counted as Graph applies it: only
//! `active` access assignments of `active` relationships grant roles; a relationship still
//! `approved`/`activating`, or an assignment still `pending`, is access *pending*, said as such
//! (docs/microsoft-behaviour.md §6.2a). `gdap check`, `access check` and the fan-outs' failure reports (csp-app's and `consent grant`'s) use it.

use std::collections::HashMap;

use super::{
    DelegatedAdminAccessAssignment, DelegatedAdminRelationship, GraphClient, GraphError,
    assignment_status, relationship_status,
};
use futures::TryStreamExt as _;

/// Whether a relationship grants access now.
pub fn relationship_counts(r: &DelegatedAdminRelationship) -> bool {
    r.status.eq_ignore_ascii_case(relationship_status::ACTIVE)
}

/// Whether an access assignment grants its roles now.
pub fn assignment_counts(a: &DelegatedAdminAccessAssignment) -> bool {
    a.status.eq_ignore_ascii_case(assignment_status::ACTIVE)
}

/// Whether an access assignment is on its way to granting its roles.
pub fn assignment_pending(a: &DelegatedAdminAccessAssignment) -> bool {
    a.status.eq_ignore_ascii_case(assignment_status::PENDING)
}

/// Why access to a customer is pending, when it is: a relationship on its way to `active`, or
/// an active relationship whose assignments are all still `pending`. `assignments` are those
/// of `relationships` (by relationship ID); relationships are the customer's.
pub fn pending_reason(
    relationships: &[&DelegatedAdminRelationship],
    assignments: &HashMap<String, Vec<DelegatedAdminAccessAssignment>>,
) -> Option<String> {
    for r in relationships.iter().filter(|r| relationship_counts(r)) {
        let list = assignments
            .get(&r.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if !list.iter().any(assignment_counts) && list.iter().any(assignment_pending) {
            return Some(format!(
                "GDAP access is pending: the access assignments of relationship \"{}\" are still pending (Graph applies them within minutes)",
                r.display_name
            ));
        }
    }
    if relationships.iter().any(|r| relationship_counts(r)) {
        return None;
    }
    relationships
        .iter()
        .find(|r| relationship_status::is_activating(&r.status))
        .map(|r| {
            format!(
                "GDAP access is pending: relationship \"{}\" is {} (approved by the customer; access follows when it is active, usually within minutes)",
                r.display_name, r.status
            )
        })
}

/// The partner's relationships, by lower-case customer tenant (one paged read).
pub async fn relationships_by_customer(
    graph: &GraphClient,
) -> Result<HashMap<String, Vec<DelegatedAdminRelationship>>, GraphError> {
    let all: Vec<DelegatedAdminRelationship> = graph
        .list_delegated_admin_relationships(None)
        .try_collect()
        .await?;
    let mut by: HashMap<String, Vec<DelegatedAdminRelationship>> = HashMap::new();
    for r in all {
        if let Some(c) = &r.customer {
            by.entry(c.tenant_id.to_ascii_lowercase())
                .or_default()
                .push(r);
        }
    }
    Ok(by)
}

/// Why access to `customer` is pending, reading the assignments of its active relationships.
pub async fn pending_for(
    graph: &GraphClient,
    by_customer: &HashMap<String, Vec<DelegatedAdminRelationship>>,
    customer: &str,
) -> Result<Option<String>, GraphError> {
    let Some(list) = by_customer.get(&customer.to_ascii_lowercase()) else {
        return Ok(None);
    };
    let mut assignments = HashMap::new();
    for r in list.iter().filter(|r| relationship_counts(r)) {
        let a: Vec<DelegatedAdminAccessAssignment> =
            graph.list_access_assignments(&r.id).try_collect().await?;
        assignments.insert(r.id.clone(), a);
    }
    let refs: Vec<&DelegatedAdminRelationship> = list.iter().collect();
    Ok(pending_reason(&refs, &assignments))
}

/// The most failed customers a fan-out's report looks into (two reads each at most).
const MOST_EXPLAINED: usize = 200;

/// For customers a fan-out could not reach, why GDAP access is still pending where it is
/// (tenant → reason); customers without pending access are absent. Best effort: a read that
/// fails leaves the report as it was.
pub async fn pending_notes<'a>(
    graph: &GraphClient,
    tenants: impl Iterator<Item = &'a str>,
) -> HashMap<String, String> {
    let mut notes = HashMap::new();
    let by_customer = match relationships_by_customer(graph).await {
        Ok(by) => by,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the GDAP relationships to explain failures");
            return notes;
        }
    };
    for tenant in tenants.take(MOST_EXPLAINED) {
        match pending_for(graph, &by_customer, tenant).await {
            Ok(Some(reason)) => {
                notes.insert(tenant.to_ascii_lowercase(), reason);
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(customer.id = %tenant, error = %e, "cannot read GDAP access"),
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relationship(name: &str, status: &str) -> DelegatedAdminRelationship {
        serde_json::from_value(
            serde_json::json!({"id": name, "displayName": name, "status": status}),
        )
        .unwrap()
    }

    fn assignment(status: &str) -> DelegatedAdminAccessAssignment {
        serde_json::from_value(serde_json::json!({"id": "a", "status": status})).unwrap()
    }

    #[test]
    fn only_active_assignments_of_active_relationships_count_and_pending_is_said() {
        let activating = relationship("R1", "activating");
        let active = relationship("R2", "active");
        let none = HashMap::new();
        assert!(
            pending_reason(&[&activating], &none)
                .unwrap()
                .contains("\"R1\" is activating")
        );
        let pending = HashMap::from([("R2".to_owned(), vec![assignment("pending")])]);
        assert!(
            pending_reason(&[&active], &pending)
                .unwrap()
                .contains("still pending")
        );
        let working = HashMap::from([(
            "R2".to_owned(),
            vec![assignment("pending"), assignment("active")],
        )]);
        assert_eq!(pending_reason(&[&active, &activating], &working), None);
        assert_eq!(
            pending_reason(&[&relationship("R3", "expired")], &none),
            None
        );
    }
}
