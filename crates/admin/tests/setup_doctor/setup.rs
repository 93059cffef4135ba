use admin::doctor::Status;
use admin::setup::{self, Change};

use crate::helpers::{self, DISPLAY_NAME, Env, expect};

#[tokio::test]
async fn setup_from_an_empty_partner_tenant_reaches_a_working_consent_and_a_clean_doctor() {
    let env: Env = helpers::spawn(helpers::empty_partner_seed()).await;
    let session = env.admin_session().await;

    // The plan: everything to create, nothing changed.
    let mut dry = env.options(env.generated());
    dry.dry_run = true;
    let plan = setup::run(&session, &dry).await.unwrap();
    assert!(plan.dry_run && plan.has_changes());
    assert!(plan.app_id.is_none());
    let text = plan.render_text();
    assert!(
        text.contains("would create  Partner Center service principal"),
        "{text}"
    );
    assert!(text.contains("would create  app registration"), "{text}");
    assert!(!env.config_path().exists(), "a dry run writes nothing");
    assert!(
        session
            .graph
            .get_service_principal_by_app_id(common::cloud::PARTNER_CENTER_APP_ID)
            .await
            .unwrap()
            .is_none()
    );

    // The real run.
    let report = env.setup(&session, &env.options(env.generated())).await;
    let app_id = report.app_id.clone().expect("app created");
    for target in [
        "Partner Center service principal",
        "app registration",
        "certificate",
        "app service principal",
        "configuration file",
    ] {
        let step = report.steps.iter().find(|s| s.target == target).unwrap();
        assert_eq!(
            step.change,
            Change::Create,
            "{target}: {}",
            report.render_text()
        );
    }
    let app = session
        .graph
        .get_application_by_app_id(&app_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.sign_in_audience, "AzureADMultipleOrgs");
    assert_eq!(app.display_name.as_deref(), Some(DISPLAY_NAME));
    assert_eq!(app.web.redirect_uris[0], helpers::REDIRECT);
    let perms = setup::registered_permissions(&app);
    assert_eq!(perms.len(), 3, "{perms:?}");
    assert!(perms.iter().all(|(_, _, t)| t == "Scope"));
    assert_eq!(app.key_credentials.len(), 1);

    // The written configuration: no secret, the key file private.
    let written = std::fs::read_to_string(env.config_path()).unwrap();
    assert!(
        written.contains(&app_id)
            && !written.contains("PRIVATE KEY")
            && !written.contains("client_secret ="),
        "{written}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = env.dir.path().join("secrets").join("app.key");
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(report.render_text().contains("Consent link"));
    assert_eq!(report.consent_page.as_str(), "http://localhost:8080/");

    // Second run: nothing to do, and it says so.
    let again = env.setup(&session, &env.options(env.generated())).await;
    assert!(!again.has_changes(), "{}", again.render_text());
    assert!(again.render_text().contains("No changes"));
    assert_eq!(again.app_id.as_deref(), Some(app_id.as_str()));

    // Before consent, doctor does not say "fine": the grants are missing.
    let settings = env.settings(&[]);
    let before = env.doctor(&settings, Some(&session)).await;
    expect(&before, "app.permissions", Status::Pass);
    let text = expect(&before, "consent.admin_grants", Status::Fail);
    assert!(
        text.contains("not granted") && text.contains("consent"),
        "{text}"
    );
    expect(&before, "token.partner_center", Status::Fail);
    assert_eq!(before.exit(), cli_kit::Exit::Failure);

    // The consent link works with the app setup made; then every check passes.
    env.consent(&settings).await;
    let after = env.doctor(&settings, Some(&session)).await;
    assert_eq!(after.status, Status::Pass, "{}", after.render_text());
    assert_eq!(after.exit(), cli_kit::Exit::Success);
    expect(&after, "token.mfa", Status::Pass);
    expect(&after, "token.partner_center_mfa", Status::Pass);
    expect(&after, "store.set", Status::Pass);
    let json = serde_json::to_value(&after).unwrap();
    assert_eq!(json["status"], "pass");
    assert!(json["checks"].as_array().unwrap().len() >= 14);
}

#[tokio::test]
async fn doctor_without_an_admin_sign_in_skips_the_registration_checks_instead_of_passing_them() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let (_session, settings) = env.ready().await;
    let report = env.doctor(&settings, None).await;
    for id in [
        "app.registration",
        "partner_center.service_principal",
        "consent.admin_grants",
    ] {
        let text = expect(&report, id, Status::Skip);
        assert!(text.contains("--sign-in"), "{text}");
    }
    expect(&report, "token.graph", Status::Pass);
    assert!(
        report.render_text().contains("SKIP  app.registration"),
        "{}",
        report.render_text()
    );
}

/// "Consent on behalf of your organization" is the admin's choice: left unchecked, the grant
/// covers the signing-in user only. The stored consent works either way; doctor says which.
#[tokio::test]
async fn doctor_reports_a_consent_granted_for_the_signing_in_user_only() {
    let env: Env = helpers::spawn(helpers::empty_partner_seed()).await;
    let session = env.admin_session().await;
    env.setup(&session, &env.options(env.generated())).await;
    let settings = env.settings(&[]);
    env.consent_answering(&settings, emulator::browser::ConsentAnswer::AcceptForMe)
        .await;
    let report = env.doctor(&settings, Some(&session)).await;
    expect(&report, "token.partner_center", Status::Pass);
    expect(&report, "token.partner_center_mfa", Status::Pass);
    let text = expect(&report, "consent.for_organization", Status::Warn);
    assert!(text.contains("signing-in user only"), "{text}");
    assert!(
        text.contains("Consent on behalf of your organization"),
        "{text}"
    );

    env.consent(&settings).await;
    let report = env.doctor(&settings, Some(&session)).await;
    expect(&report, "consent.for_organization", Status::Pass);
}
