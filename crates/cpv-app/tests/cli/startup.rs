//! A start-up failure reads and exits the same in both CLIs (csp-app's twin of this test is in
//! crates/csp-app/tests/cli/startup.rs): both open their run through `cli_kit::Run`.

use crate::helpers::{CONTOSO, LITWARE, spawn, spawn_with, two_partners};

#[tokio::test]
async fn a_corrupt_token_store_fails_at_start_as_a_configuration_error() {
    let app = spawn().await;
    std::fs::write(app.dir.path().join("tokens.enc"), "not a store").unwrap();
    let out = app.run(&["partners", "list"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("cannot start: ") && out.stderr.contains("not a store file"),
        "{}",
        out.stderr
    );
}

/// `config check` runs partner-consent's start-up rule too, and names the binary that refuses.
#[tokio::test]
async fn config_check_names_partner_consent_refusing_a_cpv_file_without_allowed_partners() {
    let app = spawn_with(two_partners()).await;
    let ok = app.run(&["config", "check"]).await;
    ok.assert_code(0);
    assert!(
        ok.stdout.contains("configuration is valid"),
        "{}",
        ok.stdout
    );

    let text = std::fs::read_to_string(&app.config_file).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("allowed_tenants"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&app.config_file, without).unwrap();
    let refused = app.run(&["config", "check"]).await;
    refused.assert_code(2);
    assert!(
        refused
            .stdout
            .contains("partner-consent would refuse to start (partner.allowed_tenants): CPV mode needs partner.allowed_tenants"),
        "{}",
        refused.stdout
    );
}

/// `cpv-app doctor` redeems every allowed partner's stored grant, or only those named with the
/// global `--partner`.
#[tokio::test]
async fn doctor_checks_every_partner_or_the_one_named_with_partner() {
    let app = spawn().await;
    let token_checks = |out: &crate::helpers::Output| -> Vec<(String, String)> {
        out.json()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["id"] == "token.partner_center")
            .map(|c| {
                (
                    c["status"].as_str().unwrap().to_owned(),
                    c["detail"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let all = app.run(&["--output", "json", "doctor"]).await;
    let checks = token_checks(&all);
    assert_eq!(checks.len(), 2, "{}", all.stdout);
    for (partner, (status, detail)) in [CONTOSO, LITWARE].iter().zip(&checks) {
        assert_eq!(status, "pass", "{detail}");
        assert!(
            detail.starts_with(&format!("partner {partner}: ")),
            "{detail}"
        );
    }

    let one = app
        .run(&["--output", "json", "--partner", LITWARE, "doctor"])
        .await;
    let checks = token_checks(&one);
    assert_eq!(checks.len(), 1, "{}", one.stdout);
    assert_eq!(checks[0].0, "pass", "{}", checks[0].1);
}

/// `cpv-app setup` without allowed partners (none in the file, none given, no terminal to ask
/// at) refuses before anyone signs in: partner-consent would refuse the file it would write.
#[tokio::test]
async fn cpv_setup_without_allowed_partners_refuses_before_signing_in() {
    let app = spawn_with(two_partners()).await;
    let text = std::fs::read_to_string(&app.config_file).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("allowed_tenants"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&app.config_file, without).unwrap();
    let target = app.dir.path().join("written.toml");
    let out = app
        .run(&["setup", "--write-config", target.to_str().unwrap()])
        .await;
    out.assert_code(2);
    assert!(!target.exists(), "nothing written");
    assert_eq!(
        app.emu.counter("entra.devicecode"),
        0,
        "nobody was asked to sign in"
    );
}
