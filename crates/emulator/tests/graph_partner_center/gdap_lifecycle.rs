//! GDAP's lifecycle on the emulator's clock (docs/microsoft-behaviour.md §6.2a): every
//! transitional status lasts its configured time, advanced through the clock (no real waits).

use crate::helpers::*;
use emulator::partner_data::gdap::GdapTimings;
use emulator::partner_data::ids as pids;
use emulator::seed::ids;
use serde_json::{Value, json};
use std::time::Duration;

const REL: &str = "/tenantRelationships/delegatedAdminRelationships";
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";
const STEP: u64 = 60;

impl Emu {
    fn advance(&self, secs: u64) {
        self.handle.advance_clock(Duration::from_secs(secs));
    }
    async fn status(&self, url: &str, token: &str) -> String {
        let r = self.get(url, token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["status"].as_str().unwrap().to_owned()
    }
    fn tailspin_access(&self) -> bool {
        self.handle
            .state()
            .has_delegated_access(ids::CUSTOMER_TAILSPIN, ids::PARTNER_TENANT)
    }
}

#[tokio::test]
async fn every_relationship_status_comes_in_turn_and_access_only_while_active() {
    let emu = spawn().await;
    // Lengths through the admin API.
    let r = emu
        .client
        .put(emu.url("/_admin/gdap/timings"))
        .json(&GdapTimings::uniform(STEP))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let body = json!({
        "displayName": "Tailspin lifecycle", "duration": "P30D",
        "customer": {"tenantId": ids::CUSTOMER_TAILSPIN},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": DIRECTORY_READERS}]},
    });
    let r = emu.post(&emu.graph(REL), &token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let rel = emu.graph(&format!("{REL}/{id}"));
    // lockForApproval: the request is created, pending, then succeeded; the relationship is
    // approvalPending only then.
    let r = emu
        .post(
            &format!("{rel}/requests"),
            &token,
            json!({"action": "lockForApproval"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (201, Some("created"))
    );
    let lock = format!("{rel}/requests/{}", r.body["id"].as_str().unwrap());
    assert_eq!(emu.status(&rel, &token).await, "created");
    assert!(emu.handle.approve_gdap_relationship(&id, None).is_err());
    emu.advance(STEP / 2);
    assert_eq!(emu.status(&lock, &token).await, "pending");
    emu.advance(STEP / 2);
    assert_eq!(emu.status(&lock, &token).await, "succeeded");
    assert_eq!(emu.status(&rel, &token).await, "approvalPending");
    // Approval: approved → activating → active; delegated access only when active.
    emu.handle.approve_gdap_relationship(&id, None).unwrap();
    assert_eq!(emu.status(&rel, &token).await, "approved");
    assert!(!emu.tailspin_access());
    emu.advance(STEP);
    assert_eq!(emu.status(&rel, &token).await, "activating");
    assert!(!emu.tailspin_access());
    let r = emu
        .post(
            &format!("{rel}/accessAssignments"),
            &token,
            json!({"accessContainer": {"accessContainerId": pids::ADMIN_AGENTS_GROUP},
                   "accessDetails": {"unifiedRoles": [{"roleDefinitionId": DIRECTORY_READERS}]}}),
        )
        .await;
    assert_eq!(r.status, 400, "no assignment before active: {}", r.body);
    emu.advance(STEP);
    let r = emu.get(&rel, &token).await;
    assert_eq!(r.body["status"], "active");
    assert!(r.body["activatedDateTime"].is_string());
    assert!(emu.tailspin_access());
    // terminate: terminationRequested (access ends) → terminating → terminated; the request
    // succeeds with it.
    let r = emu
        .post(
            &format!("{rel}/requests"),
            &token,
            json!({"action": "terminate"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (201, Some("created"))
    );
    let terminate = format!("{rel}/requests/{}", r.body["id"].as_str().unwrap());
    assert_eq!(emu.status(&rel, &token).await, "terminationRequested");
    assert!(!emu.tailspin_access());
    emu.advance(STEP);
    assert_eq!(emu.status(&rel, &token).await, "terminating");
    assert_eq!(emu.status(&terminate, &token).await, "pending");
    emu.advance(STEP);
    let r = emu.get(&rel, &token).await;
    assert_eq!(r.body["status"], "terminated");
    assert!(r.body["endDateTime"].is_string());
    assert_eq!(emu.status(&terminate, &token).await, "succeeded");
    let r = emu
        .get(
            &emu.graph(&format!("{REL}?$filter=status eq 'terminated'")),
            &token,
        )
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1, "{}", r.body);
}

#[tokio::test]
async fn a_relationship_without_auto_extension_is_expiring_before_expired() {
    let mut config = config();
    config.seed.gdap_timings = Some(GdapTimings::uniform(STEP));
    let emu = spawn_with(config).await;
    // Northwind: P365D without auto-extension.
    emu.advance(365 * 86_400);
    let token = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let rel = emu.graph(&format!("{REL}/{}", pids::GDAP_NORTHWIND));
    assert_eq!(emu.status(&rel, &token).await, "expiring");
    assert!(
        !emu.handle
            .state()
            .has_delegated_access(ids::CUSTOMER_NORTHWIND, ids::PARTNER_TENANT)
    );
    emu.advance(STEP);
    assert_eq!(emu.status(&rel, &token).await, "expired");
}

#[tokio::test]
async fn access_assignments_are_pending_then_active_and_deleting_then_deleted_with_operations() {
    let mut config = config();
    config.seed.gdap_timings = Some(GdapTimings::uniform(STEP));
    let emu = spawn_with(config).await;
    let partner = emu.user_token(ADMIN, ids::PARTNER_TENANT, GRAPH).await;
    let rel = emu.graph(&format!("{REL}/{}", pids::GDAP_NORTHWIND));
    let users = emu.graph("/users");
    let at_northwind = emu.user_token(ADMIN, ids::CUSTOMER_NORTHWIND, GRAPH).await;
    // Deleting the Admin Agents assignment: deleting (no role any more), then deleted.
    let seeded = format!("{rel}/accessAssignments/{}", pids::ASSIGNMENT_NORTHWIND);
    assert_eq!(emu.delete(&seeded, &partner).await.status, 204);
    assert_eq!(emu.status(&seeded, &partner).await, "deleting");
    assert_eq!(emu.get(&users, &at_northwind).await.status, 403);
    // The helpdesk group (the admin is a member): pending, no role yet.
    let r = emu
        .post(
            &format!("{rel}/accessAssignments"),
            &partner,
            json!({"accessContainer": {"accessContainerId": pids::HELPDESK_GROUP, "accessContainerType": "securityGroup"},
                   "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "f2ef992c-3afb-46b9-b7cf-a126ee74c451"}]}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (201, Some("pending"))
    );
    let created = format!("{rel}/accessAssignments/{}", r.body["id"].as_str().unwrap());
    assert_eq!(emu.get(&users, &at_northwind).await.status, 403);
    let ops = emu.get(&format!("{rel}/operations"), &partner).await;
    let ops: Vec<Value> = ops.body["value"].as_array().unwrap().clone();
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(ops.iter().all(|o| o["status"] == "running"
        && o["operationType"] == "delegatedAdminAccessAssignmentUpdate"));
    let op = format!("{rel}/operations/{}", ops[1]["id"].as_str().unwrap());
    let unknown = emu
        .get(&format!("{rel}/operations/no-such-operation"), &partner)
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.body["error"]["code"], "itemNotFound",
        "{:?}",
        unknown.body
    );
    emu.advance(STEP);
    assert_eq!(emu.status(&created, &partner).await, "active");
    assert_eq!(emu.status(&seeded, &partner).await, "deleted");
    assert_eq!(emu.status(&op, &partner).await, "succeeded");
    assert_eq!(emu.get(&users, &at_northwind).await.status, 200);
}
