//! The configuration file `setup` edits in place: what the operator added stays, a dry run
//! shows the edit as a diff and writes nothing, a CPV file carries its allowed partners.

use admin::setup::{self, Change, SetupError};
use common::config::AppMode;
use emulator::seed::ids;
use url::Url;

use crate::helpers;

const OTHER_PARTNER: &str = "20000000-0000-4000-8000-000000000002";
const HAND_COMMENT: &str = "# Our reverse proxy terminates TLS in front of partner-consent.";
const HAND_KEY: &str = "format = \"json\" # the log shipper reads JSON";

#[tokio::test]
async fn a_second_setup_keeps_hand_added_keys_and_comments_and_a_dry_run_shows_the_diff() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let session = env.admin_session().await;
    env.setup(&session, &env.options(env.generated())).await;
    let path = env.config_path();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("mode = \"csp\""), "{written}");

    // The operator adds a comment and a key setup does not own.
    let edited = written.replace("[consent]\n", &format!("{HAND_COMMENT}\n[consent]\n"))
        + &format!("\n[log]\n{HAND_KEY}\n");
    std::fs::write(&path, &edited).unwrap();

    // A dry run with a new redirect URL: the diff, and the file untouched.
    let mut moved = env.options(env.generated());
    moved.redirect_url = Url::parse("http://localhost:9090/callback").unwrap();
    let mut dry = moved.clone();
    dry.dry_run = true;
    let plan = setup::run(&session, &dry).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        edited,
        "a dry run writes nothing"
    );
    assert_eq!(plan.config_keys, vec!["consent.redirect_url".to_owned()]);
    let diff = &plan.config_diff;
    assert!(
        diff.contains(&format!("--- {}", path.display()))
            && diff.contains("\n-redirect_url = \"http://localhost:8080/callback\"\n")
            && diff.contains("\n+redirect_url = \"http://localhost:9090/callback\"\n")
            && diff.contains(&format!("\n {HAND_COMMENT}\n")),
        "{diff}"
    );
    let text = plan.render_text();
    assert!(
        text.contains("would change (not written)") && text.contains(diff.as_str()),
        "{text}"
    );

    // The real run changes that key alone and says so.
    let report = env.setup(&session, &moved).await;
    let step = report
        .steps
        .iter()
        .find(|s| s.target == "configuration file")
        .unwrap();
    assert_eq!(step.change, Change::Update, "{}", report.render_text());
    assert!(
        step.detail.ends_with("keys: consent.redirect_url"),
        "{}",
        step.detail
    );
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        after,
        edited.replace("localhost:8080/callback", "localhost:9090/callback"),
        "only the redirect URL changed"
    );
    assert!(
        after.contains(HAND_COMMENT) && after.contains(HAND_KEY),
        "{after}"
    );
    let settings = env.settings(&[]);
    assert_eq!(settings.log.format, common::config::LogFormat::Json);

    // Once more: nothing to change, the file as it was.
    let again = env.setup(&session, &moved).await;
    assert!(!again.has_changes(), "{}", again.render_text());
    assert!(again.config_diff.is_empty() && again.config_keys.is_empty());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
}

#[tokio::test]
async fn a_cpv_setup_writes_its_mode_and_allowed_partners_or_refuses_without_them() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let session = env.admin_session().await;
    let mut cpv = env.options(env.generated());
    cpv.mode = AppMode::Cpv;

    // Without allowed partners partner-consent would refuse the file: setup refuses first.
    let err = setup::run(&session, &cpv).await.unwrap_err();
    assert!(matches!(err, SetupError::Refused(_)), "{err}");
    assert!(
        err.to_string().contains("--allowed-tenant") && err.to_string().contains("partner-consent"),
        "{err}"
    );
    assert!(!env.config_path().exists(), "nothing written");

    // "*" mixed with tenant IDs does not validate: refused, nothing written.
    cpv.allowed_tenants = vec![ids::PARTNER_TENANT.into(), "*".into()];
    let err = setup::run(&session, &cpv).await.unwrap_err();
    assert!(
        err.to_string().contains("was not written")
            && err.to_string().contains("partner.allowed_tenants"),
        "{err}"
    );
    assert!(!env.config_path().exists(), "nothing written");

    cpv.allowed_tenants = vec![ids::PARTNER_TENANT.into(), OTHER_PARTNER.into()];
    env.setup(&session, &cpv).await;
    let written = std::fs::read_to_string(env.config_path()).unwrap();
    assert!(written.contains("mode = \"cpv\""), "{written}");
    let settings = env.settings(&[]);
    assert_eq!(settings.mode, AppMode::Cpv);
    assert_eq!(
        settings.partner.allowed_tenants,
        vec![ids::PARTNER_TENANT.to_owned(), OTHER_PARTNER.to_owned()]
    );
    assert!(settings.refusals().is_empty(), "{:?}", settings.refusals());
}

#[tokio::test]
async fn the_diff_never_shows_a_secret_written_into_the_file() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let session = env.admin_session().await;
    env.setup(&session, &env.options(env.generated())).await;
    let path = env.config_path();
    let written = std::fs::read_to_string(&path).unwrap();
    let with_secret = written.replace(
        "[app]\n",
        "[app]\nclient_secret = \"hand-written-s3cr3t\"\n",
    );
    assert_ne!(with_secret, written);
    std::fs::write(&path, &with_secret).unwrap();
    let mut dry = env.options(env.generated());
    dry.dry_run = true;
    let plan = setup::run(&session, &dry).await.unwrap();
    assert_eq!(plan.config_keys, vec!["app.client_secret".to_owned()]);
    assert!(
        plan.config_diff
            .contains("\n-client_secret = \"[redacted]\"\n"),
        "{}",
        plan.config_diff
    );
    let shown = plan.render_text() + &serde_json::to_string(&plan).unwrap();
    assert!(!shown.contains("hand-written-s3cr3t"), "{shown}");
}

#[tokio::test]
async fn setup_writes_an_audience_only_when_it_is_not_the_clouds_own() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let session = env.admin_session().await;
    let mut options = env.options(env.generated());
    env.setup(&session, &options).await;
    let written = std::fs::read_to_string(env.config_path()).unwrap();
    assert!(
        written.contains("partner_center_url") && !written.contains("audience"),
        "the emulator's URLs are base URLs; the audiences stay Microsoft's: {written}"
    );

    options.cloud.partner_center_audience = "https://pc.contoso.example".into();
    env.setup(&session, &options).await;
    let written = std::fs::read_to_string(env.config_path()).unwrap();
    assert!(
        written.contains("partner_center_audience = \"https://pc.contoso.example\"")
            && !written.contains("graph_audience"),
        "{written}"
    );
    let settings = env.settings(&[]);
    assert_eq!(
        settings.cloud.partner_center_audience,
        "https://pc.contoso.example"
    );
    assert_eq!(settings.cloud.graph_audience, "https://graph.microsoft.com");
}
