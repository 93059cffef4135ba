//! Permissions on a resource application, `RESOURCE:PERMISSIONS`: what `consent grant` asks for
//! in customer tenants (`--delegated`, `--application`) and what the configuration expects there
//! (`[customers] delegated_permissions`, `application_permissions`), one parser for both.
//!
//! `RESOURCE` is `graph` (Microsoft Graph, `00000003-0000-0000-c000-000000000000`) or the
//! resource application's ID (a GUID); `PERMISSIONS` is a comma-separated list of permission
//! names, which is also how Partner Center's `applicationGrants[].scope` spells them ("Get
//! customer consent as Control Panel Vendor").

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::cloud::GRAPH_APP_ID;

/// Permissions on one resource application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionGrant {
    /// The resource application's ID, lower case.
    pub resource: String,
    /// Permission names, as given (compared case-insensitively).
    pub scopes: BTreeSet<String>,
}

impl FromStr for PermissionGrant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (resource, scopes) = s.split_once(':').ok_or_else(|| {
            format!("`{s}` is not RESOURCE:SCOPES (e.g. graph:User.Read.All,Directory.Read.All)")
        })?;
        let resource = match resource.trim() {
            r if r.eq_ignore_ascii_case("graph") => GRAPH_APP_ID.to_owned(),
            r if uuid::Uuid::parse_str(r).is_ok() => r.to_ascii_lowercase(),
            r => {
                return Err(format!(
                    "unknown resource `{r}`: use `graph` or the resource application's ID (a GUID)"
                ));
            }
        };
        let scopes: BTreeSet<String> = scopes
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect();
        if scopes.is_empty() {
            return Err(format!(
                "`{s}` names no permission (e.g. graph:User.Read.All)"
            ));
        }
        Ok(Self { resource, scopes })
    }
}

impl fmt::Display for PermissionGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.resource == GRAPH_APP_ID {
            "graph"
        } else {
            &self.resource
        };
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        write!(f, "{name}:{}", scopes.join(","))
    }
}

impl Serialize for PermissionGrant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What the application is expected to hold in the partners' customer tenants
/// (`[customers] delegated_permissions`, `application_permissions`): `consent grant`'s
/// permissions when the command line names none, and what `cpv-app doctor` compares the
/// application permissions it finds there with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CustomerPermissions {
    /// Delegated permissions (Partner Center's application consent).
    pub delegated: Vec<PermissionGrant>,
    /// Application permissions (app-role assignments).
    pub application: Vec<PermissionGrant>,
}

impl CustomerPermissions {
    /// Whether nothing is configured.
    pub fn is_empty(&self) -> bool {
        self.delegated.is_empty() && self.application.is_empty()
    }
}
