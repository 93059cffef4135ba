//! The statuses of GDAP relationships, access assignments, requests and operations, and how
//! long the emulator keeps each transitional one (docs/microsoft-behaviour.md §6.2a). A leaf:
//! it imports nothing from its siblings.

/// Relationship status (Graph's `delegatedAdminRelationshipStatus`: `created, approvalPending,
/// approved, activating, active, expiring, expired, terminationRequested, terminating,
/// terminated`, resources/delegatedadminrelationship.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    /// Created by the partner, not yet offered.
    Created,
    /// Locked for approval: the customer may approve.
    ApprovalPending,
    /// Approved by the customer, not yet being activated.
    Approved,
    /// Being activated: no access yet.
    Activating,
    /// Delegated access works.
    Active,
    /// Its end date passed without auto-extension: being expired (no access).
    Expiring,
    /// Past its end date.
    Expired,
    /// A `terminate` request was made (no access from then on).
    TerminationRequested,
    /// Being terminated.
    Terminating,
    /// Ended by either party.
    Terminated,
}

/// Every status, in lifecycle order.
pub const ALL: [Status; 10] = [
    Status::Created,
    Status::ApprovalPending,
    Status::Approved,
    Status::Activating,
    Status::Active,
    Status::Expiring,
    Status::Expired,
    Status::TerminationRequested,
    Status::Terminating,
    Status::Terminated,
];

impl Status {
    /// Graph's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::ApprovalPending => "approvalPending",
            Status::Approved => "approved",
            Status::Activating => "activating",
            Status::Active => "active",
            Status::Expiring => "expiring",
            Status::Expired => "expired",
            Status::TerminationRequested => "terminationRequested",
            Status::Terminating => "terminating",
            Status::Terminated => "terminated",
        }
    }
    /// Parse Graph's spelling.
    pub fn parse(s: &str) -> Option<Status> {
        ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
    /// A status the relationship leaves by itself on the clock.
    pub fn is_transitional(self) -> bool {
        matches!(
            self,
            Status::Approved
                | Status::Activating
                | Status::Expiring
                | Status::TerminationRequested
                | Status::Terminating
        )
    }
}

/// Access-assignment status (`delegatedAdminAccessAssignmentStatus`: `pending, active,
/// deleting, deleted, error`, resources/delegatedadminaccessassignment.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AssignmentStatus {
    /// Created, not yet in effect.
    Pending,
    /// In effect: members of the group hold the roles.
    #[default]
    Active,
    /// Being deleted (no longer in effect).
    Deleting,
    /// Deleted.
    Deleted,
}

impl AssignmentStatus {
    /// Graph's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStatus::Pending => "pending",
            AssignmentStatus::Active => "active",
            AssignmentStatus::Deleting => "deleting",
            AssignmentStatus::Deleted => "deleted",
        }
    }
}

/// How long each transitional state lasts on the emulator's clock, in seconds. Microsoft
/// documents the states, not their lengths: every length here is the emulator's choice. All
/// zero (the default, what tests get unless they set them) means every transition completes
/// before the next read; the `emulator` binary's demo uses [`GdapTimings::demo`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GdapTimings {
    /// A `lockForApproval` request: `created` → `pending` (half-way) → `succeeded`; the
    /// relationship becomes `approvalPending` when it succeeds.
    pub lock_secs: u64,
    /// `approved` → `activating`.
    pub approved_secs: u64,
    /// `activating` → `active`.
    pub activating_secs: u64,
    /// `expiring` → `expired`.
    pub expiring_secs: u64,
    /// `terminationRequested` → `terminating`.
    pub termination_requested_secs: u64,
    /// `terminating` → `terminated` (the `terminate` request succeeds then).
    pub terminating_secs: u64,
    /// An access assignment `pending` → `active`, `deleting` → `deleted` (and its operation
    /// `running` → `succeeded`).
    pub assignment_secs: u64,
}

impl GdapTimings {
    /// Short realistic lengths for the local demo: seconds, not Microsoft's minutes.
    pub fn demo() -> GdapTimings {
        GdapTimings {
            lock_secs: 2,
            approved_secs: 3,
            activating_secs: 10,
            expiring_secs: 10,
            termination_requested_secs: 3,
            terminating_secs: 10,
            assignment_secs: 10,
        }
    }
    /// The same length for every state (tests).
    pub fn uniform(secs: u64) -> GdapTimings {
        GdapTimings {
            lock_secs: secs,
            approved_secs: secs,
            activating_secs: secs,
            expiring_secs: secs,
            termination_requested_secs: secs,
            terminating_secs: secs,
            assignment_secs: secs,
        }
    }
}

/// Seconds as the model's signed time.
pub fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / 4)
}

/// RFC 3339 UTC with seven fractional digits, as Graph writes date-times.
pub fn iso(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].0000000Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}
