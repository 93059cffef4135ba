//! GDAP (granular delegated admin privileges) relationships: the model, the create rules of
//! `POST /tenantRelationships/delegatedAdminRelationships`, status transitions on the
//! emulator's clock, access assignments, and the Graph JSON (docs/microsoft-behaviour.md §6.2,
//! §6.2a). Statuses and their lengths are in [`status`]; assignments, requests and operations
//! in [`records`].

pub mod records;
pub mod status;
mod view;

pub use view::GraphRelationship;

pub use records::{AccessAssignment, Operation, RelationshipRequest};
pub use status::{AssignmentStatus, GdapTimings, Status, iso};

use super::catalog::{GLOBAL_ADMINISTRATOR, is_built_in_role};
use serde_json::{Value, json};
use status::secs;

/// A GDAP relationship.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Relationship {
    /// `{guid}-{guid}`.
    pub id: String,
    /// Partner tenant.
    pub partner: String,
    /// Display name.
    pub display_name: String,
    /// ISO 8601 duration as given.
    pub duration: String,
    /// The duration in days.
    pub duration_days: i64,
    /// Customer tenant and display name (optional until approval).
    pub customer: Option<(String, String)>,
    /// Role template IDs.
    pub roles: Vec<String>,
    /// `PT0S`, `P0D` or `P180D`.
    pub auto_extend: String,
    /// Status.
    pub status: Status,
    /// Created.
    pub created: i64,
    /// Last modified.
    pub modified: i64,
    /// Activated.
    pub activated: Option<i64>,
    /// End date (activation + duration).
    pub end: Option<i64>,
    /// Bumped on every change (the `@odata.etag`).
    pub version: u64,
    /// Requests made.
    pub requests: Vec<RelationshipRequest>,
    /// Access assignments.
    pub assignments: Vec<AccessAssignment>,
    /// When the current status was entered.
    #[serde(default)]
    pub since: i64,
    /// Long-running operations (access-assignment changes).
    #[serde(default)]
    pub operations: Vec<Operation>,
}

/// What the clock did to a relationship ([`Relationship::apply_clock`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockEffect {
    /// It became `active`.
    pub activated: bool,
    /// It left `active` (expiring).
    pub deactivated: bool,
    /// It became `expiring`.
    pub expiring: bool,
}

/// A create or action request refused: (Graph error code, message).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rejected {
    /// HTTP status.
    pub status: u16,
    /// Graph error code.
    pub code: &'static str,
    /// Message.
    pub message: String,
}

fn bad(message: impl Into<String>) -> Rejected {
    Rejected {
        status: 400,
        code: "badRequest",
        message: message.into(),
    }
}

/// Parse an ISO 8601 duration of days (`P730D`, `P2Y`, `P1Y6M`, `P4W`; a year counts 365
/// days, a month 30) into days. `PT0S` is zero.
pub fn parse_duration_days(s: &str) -> Option<i64> {
    if s.eq_ignore_ascii_case("PT0S") {
        return Some(0);
    }
    let rest = s.strip_prefix('P').or_else(|| s.strip_prefix('p'))?;
    if rest.is_empty() {
        return None;
    }
    let mut days = 0i64;
    let mut num = String::new();
    for c in rest.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        days = days.checked_add(match c.to_ascii_uppercase() {
            'Y' => n.checked_mul(365)?,
            'M' => n.checked_mul(30)?,
            'W' => n.checked_mul(7)?,
            'D' => n,
            _ => return None,
        })?;
    }
    num.is_empty().then_some(days)
}

/// What a create request carries, parsed from its JSON.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct CreateRequest {
    /// `displayName`.
    pub display_name: Option<String>,
    /// `duration`.
    pub duration: Option<String>,
    /// `customer.tenantId`, `customer.displayName`.
    pub customer: Option<(String, Option<String>)>,
    /// `accessDetails.unifiedRoles[].roleDefinitionId`; `None` when `accessDetails` is absent.
    pub roles: Option<Vec<String>>,
    /// `autoExtendDuration`.
    pub auto_extend: Option<String>,
}

impl CreateRequest {
    /// Read the documented fields; wrong types are validation errors.
    pub fn from_json(body: &Value) -> Result<CreateRequest, Rejected> {
        let obj = body
            .as_object()
            .ok_or_else(|| bad("The request body must be a JSON object."))?;
        let text = |k: &str| -> Result<Option<String>, Rejected> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(format!("The property '{k}' must be a string."))),
            }
        };
        let customer = match obj.get("customer") {
            None | Some(Value::Null) => None,
            Some(Value::Object(c)) => {
                let tid = c
                    .get("tenantId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("customer.tenantId is required when customer is given."))?;
                Some((
                    tid.to_string(),
                    c.get("displayName")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                ))
            }
            Some(_) => return Err(bad("The property 'customer' must be an object.")),
        };
        let roles = match obj.get("accessDetails") {
            None | Some(Value::Null) => None,
            Some(d) => {
                let list = d
                    .get("unifiedRoles")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad("accessDetails.unifiedRoles must be an array."))?;
                let mut roles = Vec::new();
                for r in list {
                    let id = r
                        .get("roleDefinitionId")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("Each entry of accessDetails.unifiedRoles needs a roleDefinitionId."))?;
                    roles.push(id.to_ascii_lowercase());
                }
                Some(roles)
            }
        };
        Ok(CreateRequest {
            display_name: text("displayName")?,
            duration: text("duration")?,
            customer,
            roles,
            auto_extend: text("autoExtendDuration")?,
        })
    }
}

/// Check a role list: non-empty, built-in roles only, no duplicates.
pub fn validate_roles(roles: &[String]) -> Result<(), Rejected> {
    if roles.is_empty() {
        return Err(bad(
            "accessDetails.unifiedRoles must name at least one role.",
        ));
    }
    for (i, r) in roles.iter().enumerate() {
        if !is_built_in_role(r) {
            return Err(bad(format!(
                "The roleDefinitionId '{r}' is not a supported built-in Microsoft Entra role."
            )));
        }
        if roles[..i].iter().any(|x| x.eq_ignore_ascii_case(r)) {
            return Err(bad(format!(
                "The roleDefinitionId '{r}' is listed more than once."
            )));
        }
    }
    Ok(())
}

/// Apply the create rules (docs/microsoft-behaviour.md §6.2) and build the relationship in status `created`.
/// `existing_names` are the display names of the partner's other relationships;
/// `customer_name` resolves a customer tenant to its display name (None = not a customer).
pub fn create(
    req: CreateRequest,
    partner: &str,
    existing_names: &[&str],
    customer_name: impl Fn(&str) -> Option<String>,
    id: String,
    now: i64,
) -> Result<Relationship, Rejected> {
    let display_name = req
        .display_name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| bad("The displayName property is required."))?;
    if display_name.chars().count() > 50 {
        return Err(bad("The displayName must be 50 characters or fewer."));
    }
    if existing_names
        .iter()
        .any(|n| n.eq_ignore_ascii_case(&display_name))
    {
        return Err(Rejected {
            status: 409,
            code: "conflict",
            message: format!(
                "A relationship with the displayName '{display_name}' already exists. Display names must be unique."
            ),
        });
    }
    let duration = req
        .duration
        .ok_or_else(|| bad("The duration property is required."))?;
    let days = parse_duration_days(&duration).ok_or_else(|| {
        bad(format!(
            "The duration '{duration}' is not an ISO 8601 duration such as 'P730D'."
        ))
    })?;
    if !(1..=730).contains(&days) {
        return Err(bad(format!(
            "The duration '{duration}' must be between P1D and P2Y (730 days)."
        )));
    }
    let roles = req
        .roles
        .ok_or_else(|| bad("The accessDetails property is required."))?;
    validate_roles(&roles)?;
    let auto_extend = req.auto_extend.unwrap_or_else(|| "PT0S".into());
    if !matches!(
        auto_extend.to_ascii_uppercase().as_str(),
        "PT0S" | "P0D" | "P180D"
    ) {
        return Err(bad(format!(
            "The autoExtendDuration '{auto_extend}' is not valid: use PT0S, P0D or P180D."
        )));
    }
    if auto_extend.eq_ignore_ascii_case("P180D")
        && roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(GLOBAL_ADMINISTRATOR))
    {
        return Err(bad(
            "A relationship that includes the Global Administrator role cannot be auto-extended: set autoExtendDuration to PT0S.",
        ));
    }
    let customer = match req.customer {
        None => None,
        Some((tid, name)) => {
            let known = customer_name(&tid).ok_or_else(|| {
                bad(format!(
                    "The customer tenant '{tid}' is not a customer of this partner."
                ))
            })?;
            Some((tid.to_ascii_lowercase(), name.unwrap_or(known)))
        }
    };
    Ok(Relationship {
        id,
        partner: partner.to_string(),
        display_name,
        duration,
        duration_days: days,
        customer,
        roles,
        auto_extend,
        status: Status::Created,
        created: now,
        modified: now,
        activated: None,
        end: None,
        version: 1,
        requests: Vec::new(),
        assignments: Vec::new(),
        since: now,
        operations: Vec::new(),
    })
}

impl Relationship {
    /// Activate at once (seeded relationships, tests): sets the activation and end dates.
    pub fn activate(&mut self, customer: (String, String), now: i64) {
        self.customer = Some(customer);
        self.enter(Status::Active, now);
        self.touch(now);
    }

    /// The customer's approval: `approvalPending` → `approved`; the clock takes it through
    /// `activating` to `active` ([`Self::apply_clock`]).
    pub fn approve(&mut self, customer: (String, String), now: i64) {
        self.customer = Some(customer);
        self.enter(Status::Approved, now);
        self.touch(now);
    }

    /// A `lockForApproval` request: the relationship stays `created` until the request
    /// succeeds `lock_secs` later, then is `approvalPending`. `None` when one is under way.
    pub fn lock(&mut self, now: i64, t: &GdapTimings) -> Option<RelationshipRequest> {
        if self.requests.iter().any(|r| r.action == "lockForApproval") {
            return None;
        }
        let request = RelationshipRequest::new("lockForApproval", now, now + secs(t.lock_secs));
        self.requests.push(request.clone());
        self.touch(now);
        Some(request)
    }

    /// A `terminate` request: `terminationRequested` now, then `terminating`, then
    /// `terminated`, when the request succeeds.
    pub fn terminate(&mut self, now: i64, t: &GdapTimings) -> RelationshipRequest {
        let done = now + secs(t.termination_requested_secs) + secs(t.terminating_secs);
        let request = RelationshipRequest::new("terminate", now, done);
        self.requests.push(request.clone());
        self.enter(Status::TerminationRequested, now);
        self.touch(now);
        request
    }

    /// The next status the clock moves it to, and when; `Active` → `Active` is an
    /// auto-extension.
    fn next_transition(&self, t: &GdapTimings) -> Option<(i64, Status)> {
        let after = |s: u64, next| Some((self.since + secs(s), next));
        match self.status {
            Status::Created => self
                .requests
                .iter()
                .find(|r| r.action == "lockForApproval")
                .map(|r| (r.done_at, Status::ApprovalPending)),
            Status::Approved => after(t.approved_secs, Status::Activating),
            Status::Activating => after(t.activating_secs, Status::Active),
            Status::Active => {
                let extends = parse_duration_days(&self.auto_extend).unwrap_or(0) > 0;
                Some((
                    self.end?,
                    if extends {
                        Status::Active
                    } else {
                        Status::Expiring
                    },
                ))
            }
            Status::Expiring => after(t.expiring_secs, Status::Expired),
            Status::TerminationRequested => {
                after(t.termination_requested_secs, Status::Terminating)
            }
            Status::Terminating => after(t.terminating_secs, Status::Terminated),
            Status::ApprovalPending | Status::Expired | Status::Terminated => None,
        }
    }

    /// Enter `next` at `at` (or, `Active` again, extend by `autoExtendDuration`).
    fn enter(&mut self, next: Status, at: i64) {
        match (self.status, next) {
            (Status::Active, Status::Active) => {
                let days = parse_duration_days(&self.auto_extend).unwrap_or(0).max(1);
                self.end = self.end.map(|e| e + days * 86_400);
                self.modified = at;
                return;
            }
            (_, Status::Active) => {
                self.activated = Some(at);
                self.end = Some(at + self.duration_days * 86_400);
            }
            (_, Status::Terminated) => self.end = Some(at),
            _ => {}
        }
        self.status = next;
        self.since = at;
        self.modified = at;
    }

    /// When the clock next changes it or one of its assignments, if ever.
    pub fn next_change(&self, t: &GdapTimings) -> Option<i64> {
        let own = self.next_transition(t).map(|(at, _)| at);
        self.assignments
            .iter()
            .filter_map(AccessAssignment::next_change)
            .chain(own)
            .min()
    }

    /// Let the clock act up to `now`: every transition whose time has come, in order
    /// (`approved` → `activating` → `active`; `terminationRequested` → `terminating` →
    /// `terminated`; at `endDateTime` an auto-extension by `autoExtendDuration`, or `expiring`
    /// → `expired`: "PT0S indicates that the relationship expires when the endDateTime is
    /// reached and it isn't automatically extended", resources/delegatedadminrelationship.md),
    /// and the assignments' own transitions.
    pub fn apply_clock(&mut self, now: i64, t: &GdapTimings) -> ClockEffect {
        let was_active = self.status == Status::Active;
        let mut effect = ClockEffect::default();
        let mut changed = false;
        while let Some((at, next)) = self.next_transition(t) {
            if at > now {
                break;
            }
            effect.expiring |= next == Status::Expiring;
            self.enter(next, at);
            changed = true;
        }
        for a in &mut self.assignments {
            changed |= a.apply_clock(now);
        }
        if changed {
            self.version += 1;
        }
        let is_active = self.status == Status::Active;
        effect.activated = !was_active && is_active;
        effect.deactivated = was_active && !is_active;
        effect
    }

    /// Record a change.
    pub fn touch(&mut self, now: i64) {
        self.modified = now;
        self.version += 1;
    }

    /// The customer tenant, when known.
    pub fn customer_tenant(&self) -> Option<&str> {
        self.customer.as_ref().map(|(t, _)| t.as_str())
    }

    /// `@odata.etag`.
    pub fn etag(&self) -> String {
        let inner = crate::model::tokens::b64url(format!("\"{}-{:016x}\"", self.id, self.version));
        format!("W/\"{inner}\"")
    }

    /// Apply `PATCH` (api-reference/v1.0/api/delegatedadminrelationship-update.md): the
    /// relationship is updatable while `created`; only `autoExtendDuration` while `active`.
    /// Only `autoExtendDuration` and `displayName` are modelled; other properties are refused
    /// with a message rather than silently ignored.
    pub fn update(&mut self, body: &Value, now: i64) -> Result<(), Rejected> {
        let obj = body
            .as_object()
            .ok_or_else(|| bad("The request body must be a JSON object."))?;
        for key in obj.keys() {
            match key.as_str() {
                "autoExtendDuration" => {}
                "displayName" if self.status == Status::Created => {}
                other => {
                    return Err(bad(format!(
                        "The property '{other}' cannot be updated while the relationship is '{}' (the emulator updates autoExtendDuration, and displayName while 'created').",
                        self.status.as_str()
                    )));
                }
            }
        }
        if !matches!(self.status, Status::Created | Status::Active) {
            return Err(bad(format!(
                "The relationship is '{}'; autoExtendDuration can only be updated while it is 'created' or 'active'.",
                self.status.as_str()
            )));
        }
        if let Some(v) = obj.get("autoExtendDuration") {
            let v = v
                .as_str()
                .ok_or_else(|| bad("The property 'autoExtendDuration' must be a string."))?;
            if !matches!(v.to_ascii_uppercase().as_str(), "PT0S" | "P0D" | "P180D") {
                return Err(bad(format!(
                    "The autoExtendDuration '{v}' is not valid: use PT0S, P0D or P180D."
                )));
            }
            if v.eq_ignore_ascii_case("P180D")
                && self
                    .roles
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(GLOBAL_ADMINISTRATOR))
            {
                return Err(bad(
                    "A relationship that includes the Global Administrator role cannot be auto-extended: set autoExtendDuration to PT0S.",
                ));
            }
            self.auto_extend = v.to_owned();
        }
        if let Some(v) = obj.get("displayName").and_then(Value::as_str) {
            self.display_name = v.to_owned();
        }
        self.touch(now);
        Ok(())
    }

    /// Roles granted through active access assignments.
    pub fn assigned_roles(&self) -> impl Iterator<Item = &String> {
        self.assignments
            .iter()
            .filter(|a| a.is_active())
            .flat_map(|a| a.roles.iter())
    }
}

/// Parse an access-assignment body: `accessContainer.accessContainerId` (a GUID) and
/// `accessDetails.unifiedRoles`, which must be a subset of the relationship's roles.
pub fn parse_assignment(
    body: &Value,
    relationship_roles: &[String],
) -> Result<(String, Vec<String>), Rejected> {
    let container = body
        .get("accessContainer")
        .ok_or_else(|| bad("The accessContainer property is required."))?;
    let group = container
        .get("accessContainerId")
        .and_then(Value::as_str)
        .filter(|g| uuid::Uuid::parse_str(g).is_ok())
        .ok_or_else(|| bad("accessContainer.accessContainerId must be the object ID (GUID) of a security group."))?;
    if let Some(t) = container.get("accessContainerType").and_then(Value::as_str)
        && !t.eq_ignore_ascii_case("securityGroup")
    {
        return Err(bad(format!(
            "accessContainerType '{t}' is not supported: use 'securityGroup'."
        )));
    }
    let req = CreateRequest::from_json(
        &json!({"accessDetails": body.get("accessDetails").cloned().unwrap_or(Value::Null)}),
    )?;
    let roles = req
        .roles
        .ok_or_else(|| bad("The accessDetails property is required."))?;
    validate_roles(&roles)?;
    if let Some(r) = roles
        .iter()
        .find(|r| !relationship_roles.iter().any(|x| x.eq_ignore_ascii_case(r)))
    {
        return Err(bad(format!(
            "The role '{r}' is not part of the relationship's accessDetails: an access assignment can only use roles the customer approved."
        )));
    }
    Ok((group.to_ascii_lowercase(), roles))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> CreateRequest {
        CreateRequest::from_json(&v).unwrap()
    }

    fn valid() -> Value {
        json!({"displayName": "Fabrikam admin", "duration": "P730D",
               "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"}]}})
    }

    #[test]
    fn durations_parse_as_days() {
        assert_eq!(parse_duration_days("P730D"), Some(730));
        assert_eq!(parse_duration_days("P2Y"), Some(730));
        assert_eq!(parse_duration_days("P1Y6M"), Some(545));
        assert_eq!(parse_duration_days("PT0S"), Some(0));
        assert_eq!(parse_duration_days("730"), None);
        assert_eq!(parse_duration_days("P"), None);
        assert_eq!(parse_duration_days("P5"), None);
    }

    #[test]
    fn create_applies_every_rule() {
        let no_customer = |_: &str| None;
        let ok = create(req(valid()), "p", &[], no_customer, "id".into(), 0).unwrap();
        assert_eq!(ok.status, Status::Created);
        assert_eq!(ok.to_json()["status"], "created");
        let mut long = valid();
        long["displayName"] = json!("x".repeat(51));
        assert!(
            create(req(long), "p", &[], no_customer, "id".into(), 0)
                .unwrap_err()
                .message
                .contains("50 characters")
        );
        let dup = create(
            req(valid()),
            "p",
            &["FABRIKAM ADMIN"],
            no_customer,
            "id".into(),
            0,
        )
        .unwrap_err();
        assert_eq!(dup.status, 409);
        let mut d = valid();
        d["duration"] = json!("P731D");
        assert!(
            create(req(d), "p", &[], no_customer, "id".into(), 0)
                .unwrap_err()
                .message
                .contains("between P1D and P2Y")
        );
        let mut ga = valid();
        ga["autoExtendDuration"] = json!("P180D");
        ga["accessDetails"]["unifiedRoles"] = json!([{"roleDefinitionId": GLOBAL_ADMINISTRATOR}]);
        assert!(
            create(req(ga), "p", &[], no_customer, "id".into(), 0)
                .unwrap_err()
                .message
                .contains("auto-extended")
        );
        let mut unknown = valid();
        unknown["accessDetails"]["unifiedRoles"] =
            json!([{"roleDefinitionId": "00000000-0000-0000-0000-000000000000"}]);
        assert!(
            create(req(unknown), "p", &[], no_customer, "id".into(), 0)
                .unwrap_err()
                .message
                .contains("not a supported")
        );
        let mut foreign = valid();
        foreign["customer"] = json!({"tenantId": "t"});
        assert!(
            create(req(foreign), "p", &[], no_customer, "id".into(), 0)
                .unwrap_err()
                .message
                .contains("not a customer")
        );
    }

    #[test]
    fn activation_sets_end_date_from_duration() {
        let mut r = create(req(valid()), "p", &[], |_: &str| None, "id".into(), 0).unwrap();
        let etag = r.etag();
        r.activate(("c".into(), "C".into()), 100);
        assert_eq!(r.end, Some(100 + 730 * 86_400));
        assert_ne!(r.etag(), etag);
    }

    #[test]
    fn the_clock_expires_or_auto_extends_an_active_relationship() {
        let t = GdapTimings::default();
        let mut r = create(req(valid()), "p", &[], |_: &str| None, "id".into(), 0).unwrap();
        r.activate(("c".into(), "C".into()), 0);
        let end = 730 * 86_400;
        assert_eq!(r.apply_clock(end - 1, &t), ClockEffect::default());
        r.auto_extend = "P180D".into();
        assert!(!r.apply_clock(end, &t).deactivated);
        assert_eq!(r.end, Some(end + 180 * 86_400));
        assert_eq!(r.status, Status::Active);
        r.auto_extend = "PT0S".into();
        assert!(r.apply_clock(end + 180 * 86_400, &t).deactivated);
        assert_eq!(r.status, Status::Expired);
        assert!(
            !r.apply_clock(end + 400 * 86_400, &t).deactivated,
            "expires once"
        );
    }

    #[test]
    fn every_transitional_status_lasts_its_configured_time() {
        let t = GdapTimings {
            lock_secs: 10,
            approved_secs: 20,
            activating_secs: 30,
            expiring_secs: 40,
            termination_requested_secs: 50,
            terminating_secs: 60,
            assignment_secs: 5,
        };
        let mut r = create(req(valid()), "p", &[], |_: &str| None, "id".into(), 0).unwrap();
        let lock = r.lock(0, &t).unwrap();
        assert!(r.lock(1, &t).is_none(), "one lock at a time");
        assert_eq!(lock.status(0), "created");
        assert_eq!(lock.status(5), "pending");
        r.apply_clock(9, &t);
        assert_eq!(r.status, Status::Created);
        r.apply_clock(10, &t);
        assert_eq!(
            (r.status, lock.status(10)),
            (Status::ApprovalPending, "succeeded")
        );
        r.approve(("c".into(), "C".into()), 100);
        let mut seen = vec![r.status];
        for now in [119, 120, 149, 150] {
            r.apply_clock(now, &t);
            seen.push(r.status);
        }
        use Status::*;
        assert_eq!(seen, [Approved, Approved, Activating, Activating, Active]);
        assert_eq!(r.activated, Some(150));
        let request = r.terminate(200, &t);
        assert_eq!(r.status, TerminationRequested);
        r.apply_clock(260, &t);
        assert_eq!((r.status, request.status(260)), (Terminating, "pending"));
        r.apply_clock(310, &t);
        assert_eq!((r.status, request.status(310)), (Terminated, "succeeded"));
        assert_eq!(r.end, Some(310));
        // A jump of the clock goes through every state at once.
        let mut r = create(req(valid()), "p", &[], |_: &str| None, "id2".into(), 0).unwrap();
        r.activate(("c".into(), "C".into()), 0);
        let end = 730 * 86_400;
        let effect = r.apply_clock(end, &t);
        assert!(effect.deactivated && effect.expiring);
        assert_eq!(r.status, Expiring);
        r.apply_clock(end + 40, &t);
        assert_eq!(r.status, Expired);
    }

    #[test]
    fn assignments_are_pending_before_active_and_deleting_before_deleted() {
        let mut a = AccessAssignment::pending("a".into(), "g".into(), vec![], 0, 5);
        assert!(!a.is_active());
        assert_eq!(a.to_json()["status"], "pending");
        assert!(!a.apply_clock(4));
        assert!(a.apply_clock(5));
        assert!(a.is_active());
        a.delete(10, 5);
        assert_eq!(a.to_json()["status"], "deleting");
        assert!(a.apply_clock(15));
        assert_eq!(a.to_json()["status"], "deleted");
        let op = Operation::assignment_update(&a, 10, 15);
        assert_eq!(op.to_json(12)["status"], "running");
        assert_eq!(op.to_json(15)["status"], "succeeded");
    }

    #[test]
    fn an_active_relationship_updates_only_its_auto_extension() {
        let mut r = create(req(valid()), "p", &[], |_: &str| None, "id".into(), 0).unwrap();
        r.activate(("c".into(), "C".into()), 0);
        r.update(&json!({"autoExtendDuration": "P180D"}), 1)
            .unwrap();
        assert_eq!(r.auto_extend, "P180D");
        assert!(
            r.update(&json!({"duration": "P30D"}), 1)
                .unwrap_err()
                .message
                .contains("cannot be updated")
        );
        assert!(
            r.update(&json!({"autoExtendDuration": "P90D"}), 1)
                .unwrap_err()
                .message
                .contains("not valid")
        );
    }

    #[test]
    fn assignments_only_use_approved_roles() {
        let roles = vec!["88d8e3e3-8f55-4a1e-953a-9b9898b8876b".to_string()];
        let body = json!({"accessContainer": {"accessContainerId": "62000000-0000-4000-8000-000000000001", "accessContainerType": "securityGroup"},
                          "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "fe930be7-5e62-47db-91af-98c3a49a38b1"}]}});
        assert!(
            parse_assignment(&body, &roles)
                .unwrap_err()
                .message
                .contains("not part of")
        );
    }
}
