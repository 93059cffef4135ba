//! GDAP: `delegatedAdminRelationship` and its creation rules
//! ("delegatedAdminRelationship resource type", resources/delegatedadminrelationship.md;
//! "Create delegatedAdminRelationship", tenantrelationship-post-delegatedadminrelationships.md).

use serde::{Deserialize, Serialize};

/// Role template ID of Global Administrator, which Microsoft does not allow with auto-extension.
pub const GLOBAL_ADMINISTRATOR_ROLE: &str = "62e90394-69f5-4237-9190-012177145e10";

/// The longest display name Graph accepts.
const MAX_DISPLAY_NAME: usize = 50;
/// The documented bounds of `duration`: `P1D` … `P2Y` (730 days).
const MIN_DAYS: f64 = 1.0;
const MAX_DAYS: f64 = 730.0;
/// The documented values of `autoExtendDuration`.
const AUTO_EXTEND: [&str; 3] = ["PT0S", "P0D", "P180D"];

/// A role granted by a relationship.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedRole {
    /// Role template ID (e.g. `88d8e3e3-8f55-4a1e-953a-9b9898b8876b`, Directory Readers).
    pub role_definition_id: String,
}

/// `accessDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessDetails {
    /// The roles.
    #[serde(default)]
    pub unified_roles: Vec<UnifiedRole>,
}

/// `customer` of a relationship.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminRelationshipCustomer {
    /// The customer's tenant ID.
    #[serde(default)]
    pub tenant_id: String,
    /// Its display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A GDAP relationship as Graph returns it; fields not named here are in [`Self::other`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminRelationship {
    /// `{partner-guid}-{guid}`.
    pub id: String,
    /// Display name (unique among the partner's relationships).
    #[serde(default)]
    pub display_name: String,
    /// `created`, `approvalPending`, `active`, `expired`, `terminated`, …
    #[serde(default)]
    pub status: String,
    /// ISO 8601 duration.
    #[serde(default)]
    pub duration: String,
    /// The customer, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<DelegatedAdminRelationshipCustomer>,
    /// Roles.
    #[serde(default)]
    pub access_details: AccessDetails,
    /// `PT0S` (none) or `P180D`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_extend_duration: Option<String>,
    /// When it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    /// `@odata.etag`, for `If-Match`.
    #[serde(
        rename = "@odata.etag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub etag: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// A request on a relationship (`lockForApproval`, `approve`, `terminate`) as Graph returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminRelationshipRequest {
    /// Request ID.
    #[serde(default)]
    pub id: String,
    /// The action.
    #[serde(default)]
    pub action: String,
    /// `created`, `pending`, `succeeded`, `failed`.
    #[serde(default)]
    pub status: String,
    /// Everything else.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The body of "Create delegatedAdminRelationship".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewDelegatedAdminRelationship {
    /// Display name: required, at most 50 characters, unique among the partner's relationships.
    pub display_name: String,
    /// ISO 8601 duration between `P1D` and `P2Y` (e.g. `P730D`).
    pub duration: String,
    /// The customer (optional: without it, any customer may approve the invitation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<DelegatedAdminRelationshipCustomer>,
    /// The roles (at least one).
    pub access_details: AccessDetails,
    /// `PT0S` (default, no auto-extension), `P0D` or `P180D`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_extend_duration: Option<String>,
}

impl NewDelegatedAdminRelationship {
    /// Checks the documented creation rules and returns every rule broken.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let name = self.display_name.trim();
        if name.is_empty() {
            problems.push("the display name is required".to_owned());
        } else if self.display_name.chars().count() > MAX_DISPLAY_NAME {
            problems.push(format!(
                "the display name has {} characters; Graph accepts at most {MAX_DISPLAY_NAME}",
                self.display_name.chars().count()
            ));
        }
        match iso8601_days(&self.duration) {
            None => problems.push(format!(
                "the duration {:?} is not an ISO 8601 duration such as P730D",
                self.duration
            )),
            Some(days) if !(MIN_DAYS..=MAX_DAYS).contains(&days) => problems.push(format!(
                "the duration {} is outside P1D..P2Y (1 to 730 days)",
                self.duration
            )),
            Some(_) => {}
        }
        if self.access_details.unified_roles.is_empty() {
            problems.push("at least one role (roleDefinitionId) is required".to_owned());
        }
        for role in &self.access_details.unified_roles {
            if uuid::Uuid::parse_str(&role.role_definition_id).is_err() {
                problems.push(format!(
                    "the role {:?} is not a role template ID (a GUID)",
                    role.role_definition_id
                ));
            }
        }
        if let Some(extend) = &self.auto_extend_duration {
            if !AUTO_EXTEND.contains(&extend.as_str()) {
                problems.push(format!(
                    "the auto-extend duration {extend:?} must be one of PT0S, P0D or P180D"
                ));
            } else if extend == "P180D"
                && self.access_details.unified_roles.iter().any(|r| {
                    r.role_definition_id
                        .eq_ignore_ascii_case(GLOBAL_ADMINISTRATOR_ROLE)
                })
            {
                problems.push(
                    "a relationship with the Global Administrator role cannot auto-extend: use PT0S"
                        .to_owned(),
                );
            }
        }
        if let Some(customer) = &self.customer
            && uuid::Uuid::parse_str(&customer.tenant_id).is_err()
        {
            problems.push(format!(
                "the customer tenant ID {:?} is not a GUID",
                customer.tenant_id
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Where the customer's Global Administrator approves a relationship locked for approval.
pub fn approval_link(relationship_id: &str) -> String {
    format!(
        "https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/{relationship_id}"
    )
}

/// The length of an ISO 8601 duration (`PnYnMnWnDTnHnMnS`) in days, counting a year as 365 days
/// and a month as 30 (how Graph reads `P2Y` as 730 days); `None` if it is not one.
pub fn iso8601_days(duration: &str) -> Option<f64> {
    let rest = duration.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut days = 0.0;
    let mut number = String::new();
    for c in date.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        days += n * match c {
            'Y' => 365.0,
            'M' => 30.0,
            'W' => 7.0,
            'D' => 1.0,
            _ => return None,
        };
    }
    if !number.is_empty() {
        return None;
    }
    for c in time.unwrap_or_default().chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        days += n / match c {
            'H' => 24.0,
            'M' => 1_440.0,
            'S' => 86_400.0,
            _ => return None,
        };
    }
    if !number.is_empty() {
        return None;
    }
    Some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(
        name: &str,
        duration: &str,
        roles: &[&str],
        extend: Option<&str>,
    ) -> NewDelegatedAdminRelationship {
        NewDelegatedAdminRelationship {
            display_name: name.into(),
            duration: duration.into(),
            customer: None,
            access_details: AccessDetails {
                unified_roles: roles
                    .iter()
                    .map(|r| UnifiedRole {
                        role_definition_id: (*r).into(),
                    })
                    .collect(),
            },
            auto_extend_duration: extend.map(Into::into),
        }
    }

    const READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

    #[test]
    fn durations_are_read_in_days() {
        assert_eq!(iso8601_days("P730D"), Some(730.0));
        assert_eq!(iso8601_days("P2Y"), Some(730.0));
        assert_eq!(iso8601_days("PT0S"), Some(0.0));
        assert_eq!(iso8601_days("P1DT12H"), Some(1.5));
        assert_eq!(iso8601_days("730"), None);
        assert_eq!(iso8601_days("P"), None);
        assert_eq!(iso8601_days("P5X"), None);
    }

    #[test]
    fn a_relationship_within_the_rules_is_accepted() {
        assert_eq!(
            new("Contoso admin", "P730D", &[READERS], Some("P180D")).validate(),
            Ok(())
        );
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let problems = new(&"x".repeat(51), "P731D", &[], Some("P90D"))
            .validate()
            .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "the display name has 51 characters; Graph accepts at most 50".to_owned(),
                "the duration P731D is outside P1D..P2Y (1 to 730 days)".to_owned(),
                "at least one role (roleDefinitionId) is required".to_owned(),
                "the auto-extend duration \"P90D\" must be one of PT0S, P0D or P180D".to_owned(),
            ]
        );
    }

    #[test]
    fn global_administrator_cannot_auto_extend() {
        let problems = new("GA", "P30D", &[GLOBAL_ADMINISTRATOR_ROLE], Some("P180D"))
            .validate()
            .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "a relationship with the Global Administrator role cannot auto-extend: use PT0S"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn the_body_has_graphs_field_names() {
        let body = serde_json::to_value(new("A", "P1D", &[READERS], None)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"displayName": "A", "duration": "P1D", "accessDetails": {"unifiedRoles": [{"roleDefinitionId": READERS}]}})
        );
    }
}
