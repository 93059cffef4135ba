//! `consent grant` against Microsoft's timing: the consent's service principal and grant
//! replicate after a delay (the client waits with back-off, saying so on standard error), and
//! Graph throttles each application per tenant (the client honours `Retry-After`).

use std::time::Duration;

use emulator::{EmulatorConfig, GraphThrottleSettings, ReplicationSettings};

use crate::helpers::*;

/// The delegated permissions that let `consent grant` add application permissions.
const ASSIGNER: &str = "graph:User.Read.All,AppRoleAssignment.ReadWrite.All,Application.Read.All";

/// Cloud Application Administrator: may assign app roles.
const CLOUD_APP_ADMIN: &str = "158c047a-c907-4556-b7ef-446551a6b5f7";

fn grant<'a>(customers: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["consent", "grant", "--partner", CONTOSO];
    for c in customers {
        args.extend(["--customer", c]);
    }
    args.extend([
        "--delegated",
        ASSIGNER,
        "--application",
        "graph:User.Read.All",
        "--output",
        "json",
    ]);
    args.extend(extra);
    args
}

async fn replicating(delay: Duration) -> TestApp {
    let app = spawn_with(two_partners().with_replication(ReplicationSettings::fixed(delay))).await;
    app.consent(CONTOSO_ADMIN).await;
    app
}

#[tokio::test]
async fn grant_waits_for_the_consent_to_replicate_before_adding_application_permissions() {
    let app = replicating(Duration::from_secs(2)).await;
    let out = app.run(&grant(&[FABRIKAM], &["--wait-for-roles"])).await;
    out.assert_code(0);
    let r = &out.results()[0];
    assert_eq!(r["outcome"], "granted", "{r}");
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .ends_with("application permissions: added User.Read.All"),
        "{r}"
    );
    assert!(
        out.stderr.contains(&format!(
            "waiting for the service principal to replicate in {FABRIKAM}…"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("waiting for the application permissions to replicate in"),
        "{}",
        out.stderr
    );
    assert_eq!(app.emu.pending_replication(), 0);
}

#[tokio::test]
async fn without_waiting_the_same_grant_fails_within_the_replication_window() {
    let app = replicating(Duration::from_secs(60)).await;
    let out = app
        .run(&grant(&[FABRIKAM], &["--replication-wait", "0"]))
        .await;
    out.assert_code(1);
    let r = &out.results()[0];
    assert_eq!(r["outcome"], "failed", "{r}");
    assert_eq!(r["remedy"], "retry-later", "{r}");
    let detail = r["detail"].as_str().unwrap();
    assert!(
        detail.contains("the service principal has not replicated in"),
        "{detail}"
    );
    assert!(detail.contains("AADSTS65001"), "{detail}");
}

#[tokio::test]
async fn a_fan_out_over_a_throttled_graph_honours_retry_after_without_failures() {
    // Three Graph requests per application and tenant in each 2 seconds: every customer's
    // app-role step (five requests) meets a 429 with Retry-After.
    let mut config = two_partners()
        .with_graph_throttling(GraphThrottleSettings {
            requests_per_window: 3,
            window_secs: 2,
        })
        .with_replication(ReplicationSettings::range(
            Duration::from_millis(200),
            Duration::from_millis(800),
        ));
    allow_app_role_assignment(&mut config, NORTHWIND);
    let app = spawn_with(config).await;
    app.consent(CONTOSO_ADMIN).await;
    let out = app
        .run(&grant(&[FABRIKAM, NORTHWIND], &["--concurrency", "1"]))
        .await;
    out.assert_code(0);
    assert_eq!(
        outcomes(&out.results()),
        [FABRIKAM, NORTHWIND].map(|c| (CONTOSO.to_owned(), c.to_owned(), "granted".to_owned()))
    );
    assert!(
        app.emu.counter("graph.throttled") >= 2,
        "every customer is throttled"
    );
    let summary = &out.json()["summary"];
    assert!(summary["throttled"].as_u64().unwrap() >= 2, "{summary}");
}

/// The partner's admin agents get Cloud Application Administrator in `customer` through GDAP.
fn allow_app_role_assignment(config: &mut EmulatorConfig, customer: &str) {
    for rel in &mut config.seed.gdap_relationships {
        if rel.customer == customer {
            rel.roles.push(CLOUD_APP_ADMIN.into());
            for a in &mut rel.access_assignments {
                a.roles.push(CLOUD_APP_ADMIN.into());
            }
        }
    }
}
