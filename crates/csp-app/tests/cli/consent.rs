//! `consent grant | verify` for the CSP's own app, and the fan-out telling a customer that needs
//! the app's consent apart from one the partner has no GDAP access to.

use emulator::EmulatorConfig;
use emulator::seed::{TenantKind, TenantSeed};

use crate::helpers::{ADMIN, FABRIKAM, NORTHWIND, PARTNER, TAILSPIN, spawn, spawn_with};

const WINGTIP: &str = "20000000-0000-4000-8000-0000000000a1";

#[tokio::test]
async fn verify_reads_the_seeded_consents_back_and_names_the_customer_without_gdap() {
    let app = spawn().await;
    app.consent(ADMIN).await;
    let out = app
        .run(&[
            "consent",
            "verify",
            "--all-customers",
            "--delegated",
            "graph:User.Read.All",
            "-o",
            "json",
        ])
        .await;
    out.assert_code(4);
    let results = out.json()["results"].as_array().unwrap().clone();
    let by = |c: &str| {
        results
            .iter()
            .find(|r| r["customer"] == c)
            .unwrap_or_else(|| panic!("{c} in {results:?}"))
            .clone()
    };
    for c in [FABRIKAM, NORTHWIND] {
        let r = by(c);
        assert_eq!(r["outcome"], "verified", "{r}");
        assert_eq!(r["partner"], PARTNER);
        assert_eq!(r["detail"], "delegated: User.Read.All; application: none");
    }
    let r = by(TAILSPIN);
    assert_eq!(
        (r["outcome"].as_str(), r["remedy"].as_str()),
        (Some("failed"), Some("gdap-access")),
        "{r}"
    );
}

#[tokio::test]
async fn verify_all_customers_says_each_failure_and_each_remedy_once() {
    let app = spawn().await;
    app.consent(ADMIN).await;
    let out = app
        .run(&[
            "consent",
            "verify",
            "--all-customers",
            "--delegated",
            "graph:User.Read.All",
            "--application",
            "graph:User.Read.All",
        ])
        .await;
    let text = &out.stdout;
    let count = |needle: &str| text.matches(needle).count();
    // Fabrikam and Northwind fail the same way (the application permission is missing),
    // Tailspin differently (no GDAP): two texts and two remedies, each written once.
    assert_eq!(count("application User.Read.All missing"), 1, "{text}");
    assert_eq!(count("has no delegated admin (GDAP) access"), 1, "{text}");
    let row = |c: &str| {
        text.lines()
            .find(|l| l.contains(c) && l.contains("failed"))
            .unwrap_or_else(|| panic!("{c} in:\n{text}"))
    };
    assert!(
        row(NORTHWIND).ends_with(&format!("same failure as {FABRIKAM} above")),
        "{text}"
    );
    for remedy in [
        common::remedy::Remedy::CustomerConsent,
        common::remedy::Remedy::GdapAccess,
    ] {
        assert_eq!(count(remedy.advice().unwrap()), 1, "{text}");
    }
    assert!(
        text.contains("remedy (2 failures): the application is not consented"),
        "{text}"
    );
    assert!(!text.contains(&format!("partner {PARTNER}: ")), "{text}");
}

#[tokio::test]
async fn users_of_all_customers_tell_missing_consent_from_missing_gdap_and_grant_fixes_consent() {
    let mut config = EmulatorConfig::default();
    // Tailspin: the partner has delegated access, but the app was never consented there.
    let tailspin = config
        .seed
        .tenants
        .iter_mut()
        .find(|t| t.id == TAILSPIN)
        .unwrap();
    tailspin.delegated_admin = vec![PARTNER.into()];
    // Wingtip: neither delegated access nor consent.
    config.seed.tenants.push(TenantSeed {
        id: WINGTIP.into(),
        domain: "wingtip-demo.onmicrosoft.com".into(),
        display_name: "Wingtip Toys (demo)".into(),
        kind: TenantKind::Customer,
        delegated_admin: Vec::new(),
    });
    let app = spawn_with(config).await;
    app.consent(ADMIN).await;

    let before = app.run(&["users", "list", "--all-customers"]).await;
    before.assert_code(4);
    let line = |tenant: &str| {
        let mut lines = before.stderr.lines();
        let first = lines
            .find(|l| l.trim_start().starts_with(tenant))
            .unwrap_or_else(|| panic!("{tenant} in:\n{}", before.stderr))
            .to_owned();
        format!("{first}\n{}", lines.next().unwrap_or_default())
    };
    let tailspin = line(TAILSPIN);
    assert!(
        tailspin.contains("the application is not consented in customer tenant")
            && tailspin.contains("remedy: the application is not consented in the customer tenant")
            && tailspin.contains("csp-app consent grant --customer ID"),
        "{tailspin}"
    );
    let wingtip = line(WINGTIP);
    assert!(
        wingtip.contains("has no delegated admin (GDAP) access")
            && wingtip.contains("remedy: the partner has no active GDAP relationship")
            && !wingtip.contains("consent grant"),
        "{wingtip}"
    );

    app.run(&[
        "consent",
        "grant",
        "--customer",
        TAILSPIN,
        "--delegated",
        "graph:User.Read.All",
    ])
    .await
    .assert_code(0);
    let verified = app
        .run(&[
            "consent",
            "verify",
            "--customer",
            TAILSPIN,
            "--delegated",
            "graph:User.Read.All",
            "-o",
            "json",
        ])
        .await;
    verified.assert_code(0);
    assert_eq!(verified.json()["results"][0]["outcome"], "verified");

    let after = app
        .run(&["users", "list", "--all-customers", "-o", "json"])
        .await;
    after.assert_code(4);
    assert!(
        after.stdout.contains("admin@tailspin-demo.onmicrosoft.com"),
        "{}",
        after.stdout
    );
    assert!(!after.stderr.contains(TAILSPIN), "{}", after.stderr);
    assert!(after.stderr.contains(WINGTIP), "{}", after.stderr);
}
