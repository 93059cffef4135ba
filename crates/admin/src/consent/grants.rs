//! The permissions a Control Panel Vendor asks for in customer tenants: `--grant RESOURCE:SCOPES`.
//!
//! `RESOURCE` is `graph` (Microsoft Graph, `00000003-0000-0000-c000-000000000000`) or the
//! resource application's ID (a GUID); `SCOPES` is a comma-separated list of permission names,
//! which is also how Partner Center's `applicationGrants[].scope` spells them ("Get customer
//! consent as Control Panel Vendor").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use common::partner_center::consents::ApplicationGrant;

/// Application ID of Microsoft Graph.
pub use common::cloud::GRAPH_APP_ID;

/// Permissions on one resource application: `RESOURCE:SCOPES` (the configuration's parser, so
/// `[customers] delegated_permissions` / `application_permissions` read as the flags do).
pub use common::config::PermissionGrant as Grant;

fn join(scopes: &BTreeSet<String>) -> String {
    scopes
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// Every `--grant`, merged per resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants(BTreeMap<String, BTreeSet<String>>);

impl Grants {
    /// Merges the grants given on the command line (one resource may be named twice).
    pub fn new(grants: &[Grant]) -> Self {
        let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for g in grants {
            map.entry(g.resource.clone())
                .or_default()
                .extend(g.scopes.iter().cloned());
        }
        Self(map)
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `applicationGrants` of the Partner Center request.
    pub fn to_application_grants(&self) -> Vec<ApplicationGrant> {
        self.0
            .iter()
            .map(|(resource, scopes)| ApplicationGrant {
                enterprise_application_id: resource.clone(),
                scope: join(scopes),
            })
            .collect()
    }

    /// The permissions asked for on Microsoft Graph.
    pub fn graph(&self) -> Option<&BTreeSet<String>> {
        self.0.get(GRAPH_APP_ID)
    }

    /// Whether permissions on resources other than Microsoft Graph are asked for.
    pub fn has_other_resources(&self) -> bool {
        self.0.keys().any(|r| r != GRAPH_APP_ID)
    }

    /// Each resource with its permissions.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &BTreeSet<String>)> {
        self.0.iter().map(|(r, s)| (r.as_str(), s))
    }

    /// Why these delegated permissions cannot add application permissions through Graph
    /// (`POST servicePrincipals/{id}/appRoleAssignedTo` needs `AppRoleAssignment.ReadWrite.All`
    /// and `Application.Read.All` or a higher read permission), or `None` when they can.
    pub fn cannot_assign_app_roles(&self) -> Option<String> {
        const READ: [&str; 4] = [
            "Application.Read.All",
            "Application.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ];
        let held = |p: &str| {
            self.graph()
                .is_some_and(|s| s.iter().any(|x| x.eq_ignore_ascii_case(p)))
        };
        let mut missing = Vec::new();
        if !held("AppRoleAssignment.ReadWrite.All") {
            missing.push("AppRoleAssignment.ReadWrite.All");
        }
        if !READ.iter().any(|p| held(p)) {
            missing.push("Application.Read.All");
        }
        (!missing.is_empty()).then(|| {
            format!(
                "--application permissions are added through Microsoft Graph with the partner's delegated token in each customer tenant, which needs the delegated permissions {list}: add `--delegated graph:{list}` (the partner's user also needs a GDAP role that may assign app roles, such as Cloud Application Administrator)",
                list = missing.join(",")
            )
        })
    }

    /// Compares the Graph permissions asked for with those held: the `scp` of a delegated token
    /// or the `roles` of an app-only token in the customer tenant.
    pub fn compare_graph(&self, roles: &[String]) -> GrantMatch {
        let held: BTreeSet<String> = roles.iter().map(|r| r.to_ascii_lowercase()).collect();
        let wanted: BTreeSet<String> = self
            .graph()
            .map(|s| s.iter().map(|r| r.to_ascii_lowercase()).collect())
            .unwrap_or_default();
        if held == wanted {
            return GrantMatch::Same;
        }
        GrantMatch::Different {
            missing: self
                .graph()
                .into_iter()
                .flatten()
                .filter(|r| !held.contains(&r.to_ascii_lowercase()))
                .cloned()
                .collect(),
            extra: roles
                .iter()
                .filter(|r| !wanted.contains(&r.to_ascii_lowercase()))
                .cloned()
                .collect(),
        }
    }
}

impl fmt::Display for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (resource, scopes) in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            Grant {
                resource: resource.clone(),
                scopes: scopes.clone(),
            }
            .fmt(f)?;
        }
        Ok(())
    }
}

/// How an existing consent compares with the one asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantMatch {
    /// The same Graph permissions.
    Same,
    /// Different ones.
    Different {
        /// Asked for but not held.
        missing: Vec<String>,
        /// Held but not asked for.
        extra: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(s: &str) -> Grant {
        s.parse().unwrap()
    }

    #[test]
    fn graph_is_spelled_by_name_and_scopes_are_comma_separated() {
        let g = grant("graph:User.Read.All, Directory.Read.All");
        assert_eq!(g.resource, GRAPH_APP_ID);
        assert_eq!(
            g.scopes.iter().collect::<Vec<_>>(),
            ["Directory.Read.All", "User.Read.All"]
        );
        assert_eq!(g.to_string(), "graph:Directory.Read.All,User.Read.All");
    }

    #[test]
    fn a_resource_may_be_a_guid_and_nothing_else() {
        let g = grant("797F4846-BA00-4FD7-BA43-DAC1F8F63013:user_impersonation");
        assert_eq!(g.resource, "797f4846-ba00-4fd7-ba43-dac1f8f63013");
        assert_eq!(
            "arm:user_impersonation".parse::<Grant>().unwrap_err(),
            "unknown resource `arm`: use `graph` or the resource application's ID (a GUID)"
        );
        assert!("graph".parse::<Grant>().is_err());
        assert!("graph: , ".parse::<Grant>().is_err());
    }

    #[test]
    fn grants_merge_per_resource_into_the_partner_center_body() {
        let grants = Grants::new(&[
            grant("graph:User.Read.All"),
            grant("797f4846-ba00-4fd7-ba43-dac1f8f63013:user_impersonation"),
            grant("graph:Directory.Read.All"),
        ]);
        let body = grants.to_application_grants();
        assert_eq!(body.len(), 2);
        assert_eq!(body[0].enterprise_application_id, GRAPH_APP_ID);
        assert_eq!(body[0].scope, "Directory.Read.All,User.Read.All");
        assert_eq!(body[1].scope, "user_impersonation");
        assert!(grants.has_other_resources());
    }

    #[test]
    fn existing_roles_compare_case_insensitively() {
        let grants = Grants::new(&[grant("graph:User.Read.All,Directory.Read.All")]);
        assert_eq!(
            grants.compare_graph(&["directory.read.all".into(), "User.Read.All".into()]),
            GrantMatch::Same
        );
        assert_eq!(
            grants.compare_graph(&["User.Read.All".into(), "Mail.Read".into()]),
            GrantMatch::Different {
                missing: vec!["Directory.Read.All".into()],
                extra: vec!["Mail.Read".into()],
            }
        );
    }
}
