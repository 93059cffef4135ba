//! What hangs off a GDAP relationship, each with its own asynchronous status: access
//! assignments (`pending` → `active`, `deleting` → `deleted`), requests (`created` → `pending`
//! → `succeeded`) and long-running operations (`running` → `succeeded`)
//! (docs/microsoft-behaviour.md §6.2a).

use super::status::{AssignmentStatus, iso};
use serde_json::{Value, json};

/// An access assignment: a partner security group gets some of the relationship's roles.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessAssignment {
    /// ID.
    pub id: String,
    /// Security group object ID (partner tenant).
    pub group: String,
    /// Role template IDs.
    pub roles: Vec<String>,
    /// Created (epoch seconds).
    pub created: i64,
    /// Last modified.
    pub modified: i64,
    /// Status (`active` for seeded assignments and state written before statuses existed).
    #[serde(default)]
    pub status: AssignmentStatus,
    /// When the current status ends (`pending` and `deleting` only).
    #[serde(default)]
    pub until: i64,
}

impl AccessAssignment {
    /// A new assignment, `pending` for `secs` seconds.
    pub fn pending(id: String, group: String, roles: Vec<String>, now: i64, secs: i64) -> Self {
        AccessAssignment {
            id,
            group,
            roles,
            created: now,
            modified: now,
            status: AssignmentStatus::Pending,
            until: now + secs,
        }
    }

    /// Whether its group's members hold its roles now.
    pub fn is_active(&self) -> bool {
        self.status == AssignmentStatus::Active
    }

    /// Start deleting it: `deleting` for `secs` seconds, then `deleted`.
    pub fn delete(&mut self, now: i64, secs: i64) {
        self.status = AssignmentStatus::Deleting;
        self.until = now + secs;
        self.modified = now;
    }

    /// Let the clock act: returns whether the status changed.
    pub fn apply_clock(&mut self, now: i64) -> bool {
        let next = match self.status {
            AssignmentStatus::Pending => AssignmentStatus::Active,
            AssignmentStatus::Deleting => AssignmentStatus::Deleted,
            _ => return false,
        };
        if now < self.until {
            return false;
        }
        self.status = next;
        self.modified = self.until;
        true
    }

    /// When it next changes by itself, if it does.
    pub fn next_change(&self) -> Option<i64> {
        matches!(
            self.status,
            AssignmentStatus::Pending | AssignmentStatus::Deleting
        )
        .then_some(self.until)
    }

    /// Graph JSON (`#microsoft.graph.delegatedAdminAccessAssignment`).
    pub fn to_json(&self) -> Value {
        json!({
            "@odata.type": "#microsoft.graph.delegatedAdminAccessAssignment",
            "@odata.etag": format!("W/\"{}\"", crate::model::tokens::b64url(format!("{}-{}-{}", self.id, self.modified, self.status.as_str()))),
            "id": self.id,
            "status": self.status.as_str(),
            "createdDateTime": iso(self.created),
            "lastModifiedDateTime": iso(self.modified),
            "accessContainer": {"accessContainerId": self.group, "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": self.roles.iter().map(|r| json!({"roleDefinitionId": r})).collect::<Vec<_>>()},
        })
    }
}

/// A request (`/requests`) made on a relationship.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelationshipRequest {
    /// ID.
    pub id: String,
    /// `lockForApproval`, `approve` or `terminate`.
    pub action: String,
    /// Created.
    pub created: i64,
    /// When it succeeds (`created` before half-way, then `pending`); 0 in state written
    /// before requests had a status: succeeded.
    #[serde(default)]
    pub done_at: i64,
}

impl RelationshipRequest {
    /// A new request with a fresh ID, succeeding at `done_at`.
    pub fn new(action: &str, now: i64, done_at: i64) -> Self {
        RelationshipRequest {
            id: uuid::Uuid::new_v4().to_string(),
            action: action.to_owned(),
            created: now,
            done_at,
        }
    }

    /// `created`, `pending` or `succeeded` at `now`.
    pub fn status(&self, now: i64) -> &'static str {
        if now >= self.done_at {
            "succeeded"
        } else if now >= self.created + (self.done_at - self.created) / 2 {
            "pending"
        } else {
            "created"
        }
    }

    /// Graph JSON (`#microsoft.graph.delegatedAdminRelationshipRequest`) at `now`.
    pub fn to_json(&self, now: i64) -> Value {
        let modified = if now >= self.done_at {
            self.done_at.max(self.created)
        } else {
            self.created
        };
        json!({
            "@odata.type": "#microsoft.graph.delegatedAdminRelationshipRequest",
            "id": self.id,
            "action": self.action,
            "status": self.status(now),
            "createdDateTime": iso(self.created),
            "lastModifiedDateTime": iso(modified),
        })
    }
}

/// A long-running operation on a relationship (`delegatedAdminRelationshipOperation`): the
/// emulator records one per access-assignment change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Operation {
    /// ID.
    pub id: String,
    /// `delegatedAdminAccessAssignmentUpdate`.
    pub kind: String,
    /// The payload (`data`, a JSON string).
    pub data: String,
    /// Created.
    pub created: i64,
    /// When it succeeds.
    pub done_at: i64,
}

impl Operation {
    /// An access-assignment change, succeeding at `done_at`.
    pub fn assignment_update(assignment: &AccessAssignment, now: i64, done_at: i64) -> Self {
        Operation {
            id: uuid::Uuid::new_v4().to_string(),
            kind: "delegatedAdminAccessAssignmentUpdate".into(),
            data: json!({"id": assignment.id, "status": assignment.status.as_str(),
                         "accessContainer": {"accessContainerId": assignment.group, "accessContainerType": "securityGroup"}})
            .to_string(),
            created: now,
            done_at,
        }
    }

    /// `running` or `succeeded` at `now` (Graph's `longRunningOperationStatus`).
    pub fn status(&self, now: i64) -> &'static str {
        if now >= self.done_at {
            "succeeded"
        } else {
            "running"
        }
    }

    /// Graph JSON (`#microsoft.graph.delegatedAdminRelationshipOperation`) at `now`.
    pub fn to_json(&self, now: i64) -> Value {
        json!({
            "@odata.type": "#microsoft.graph.delegatedAdminRelationshipOperation",
            "id": self.id,
            "operationType": self.kind,
            "data": self.data,
            "status": self.status(now),
            "createdDateTime": iso(self.created),
            "lastModifiedDateTime": iso(if now >= self.done_at { self.done_at } else { self.created }),
        })
    }
}
