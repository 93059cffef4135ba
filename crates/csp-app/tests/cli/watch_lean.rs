//! The watch is lean and green on least privilege: a cycle redeems each partner's refresh token
//! once (the keepalive, whose Graph token the other checks reuse), read from the emulator's
//! request counters; on the app as `setup` registers it (no Application.Read.All) the checks that
//! would read the registration are `skipped`, with the way to turn them on, and `watch --once`
//! exits 0.

use std::sync::Arc;

use common::config::LoadOptions;
use common::entra::AuthorizeOptions;
use common::secret::AuthCode;
use common::tokens::TokenBroker;
use csp_app::watch::notify::WebhookFormat;
use csp_app::watch::{State, Watcher};
use emulator::EmulatorConfig;
use emulator::browser::ConsentAnswer;
use emulator::seed::{TenantKind, TenantSeed, UserSeed};

use crate::helpers::{ADMIN, PARTNER, TestApp, spawn, spawn_key_vault, spawn_with};
use crate::watch::{EmulatorTime, Receiver, grant_read_permissions, options};

const REDEMPTIONS: &str = "entra.token.refresh_token";

/// Two more CSP partners, each with an admin agent who signs in with MFA.
const OTHERS: [(&str, &str); 2] = [
    (
        "13000000-0000-4000-8000-000000000001",
        "admin@litware-partner.onmicrosoft.com",
    ),
    (
        "13000000-0000-4000-8000-000000000002",
        "admin@adatum-partner.onmicrosoft.com",
    ),
];

fn three_partners() -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    for (n, (tenant, upn)) in OTHERS.iter().enumerate() {
        let domain = upn.split('@').nth(1).unwrap();
        config.seed.tenants.push(TenantSeed {
            id: (*tenant).into(),
            domain: domain.into(),
            display_name: format!("Partner {n}"),
            kind: TenantKind::Partner,
            delegated_admin: Vec::new(),
        });
        config.seed.users.push(UserSeed {
            id: format!("31300000-0000-4000-8000-00000000000{n}"),
            tenant: (*tenant).into(),
            upn: (*upn).into(),
            display_name: format!("Partner {n} admin"),
            password: "Partner-Admin-Passw0rd!".into(),
            mfa_code: Some("424242".into()),
            roles: vec!["Global Administrator".into()],
            admin_agent: true,
        });
    }
    config
}

/// A consent by another partner's admin agent into the same store. A CSP app stores only its
/// own partner's consent, so this one is stored as a CPV deployment sharing the store would.
async fn consent_other_partner(app: &TestApp, upn: &str) {
    let text = std::fs::read_to_string(&app.config_file).unwrap();
    let allowed: Vec<String> = std::iter::once(PARTNER)
        .chain(OTHERS.iter().map(|(t, _)| *t))
        .map(|t| format!("\"{t}\""))
        .collect();
    let cpv = text
        .replacen("mode = \"csp\"", "mode = \"cpv\"", 1)
        .replacen(
            "[partner]\n",
            &format!("[partner]\nallowed_tenants = [{}]\n", allowed.join(", ")),
            1,
        );
    let file = app.dir.path().join("cpv.toml");
    std::fs::write(&file, cpv).unwrap();
    let settings = common::config::load_settings(&LoadOptions {
        config_dir: app.dir.path().to_path_buf(),
        config_file: Some(file),
        ..LoadOptions::default()
    })
    .expect("valid CPV configuration");
    let broker = TokenBroker::from_settings(&settings, app.http.clone())
        .await
        .unwrap();
    let pending = broker.consent_url(AuthorizeOptions {
        prompt: Some("consent".into()),
        ..AuthorizeOptions::default()
    });
    let location = app
        .emu
        .sign_in(&app.http, &pending.url, upn, ConsentAnswer::Accept)
        .await
        .unwrap_or_else(|e| panic!("sign-in of {upn}: {e}"));
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    broker
        .store_consent(AuthCode::new(code), &pending)
        .await
        .expect("consent stored");
    broker.flush().await;
}

/// One cycle on a fresh context; the refresh-token redemptions it sent and the rotations it
/// stored for `partner`.
async fn counted_cycle(app: &TestApp) -> (csp_app::watch::CycleReport, u64, u64) {
    let hook = Receiver::start();
    let ctx = app.context().await;
    let clock = Arc::new(EmulatorTime(app.emu.clock()));
    let watcher = Watcher::new(&ctx, options(app, &hook, WebhookFormat::Generic), clock).unwrap();
    let before = app.emu.counter(REDEMPTIONS);
    let report = watcher.cycle().await;
    ctx.broker.flush().await;
    let redeemed = app.emu.counter(REDEMPTIONS) - before;
    let rotated = ctx.broker.status(PARTNER).await.rotations_stored;
    (report, redeemed, rotated)
}

#[tokio::test]
async fn a_cycle_redeems_and_rotates_the_partners_refresh_token_once() {
    // On least privilege, and with the registration readable: the same single redemption.
    let app = spawn().await;
    let (report, redeemed, rotated) = counted_cycle(&app).await;
    assert_eq!((redeemed, rotated), (1, 1), "{:#?}", report.findings);
    grant_read_permissions(&app);
    let (report, redeemed, rotated) = counted_cycle(&app).await;
    assert_eq!((redeemed, rotated), (1, 1), "{:#?}", report.findings);
    assert!(report.errors.is_empty(), "{:#?}", report.findings);
}

#[tokio::test]
async fn a_cycle_over_three_partners_redeems_once_per_partner() {
    let app = spawn_with(three_partners()).await;
    app.consent(ADMIN).await;
    for (_, upn) in OTHERS {
        consent_other_partner(&app, upn).await;
    }
    let (report, redeemed, _) = counted_cycle(&app).await;
    let kept: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.check == "keepalive" && f.state == State::Ok)
        .map(|f| &*f.subject)
        .collect();
    assert_eq!(kept.len(), 3, "{:#?}", report.findings);
    assert_eq!(redeemed, 3, "{:#?}", report.findings);
}

#[tokio::test]
async fn on_least_privilege_the_registration_checks_are_skipped_with_their_opt_in() {
    let app = spawn().await;
    let (report, _, _) = counted_cycle(&app).await;
    assert!(report.errors.is_empty(), "{:#?}", report.findings);
    assert!(
        report.findings.iter().all(|f| f.state != State::Unknown),
        "{:#?}",
        report.findings
    );
    let skipped: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.state == State::Skipped)
        .collect();
    assert!(!skipped.is_empty(), "{:#?}", report.findings);
    for f in skipped {
        assert!(!f.message.contains('\n'), "one line: {f:?}");
        assert!(f.message.contains("Application.Read.All"), "{f:?}");
        assert!(f.message.contains("consent again"), "{f:?}");
    }
    let scopes = report
        .findings
        .iter()
        .find(|f| f.check == "permissions" && &*f.subject == "token.graph")
        .expect("the Graph token's scopes are checked");
    assert_eq!(scopes.state, State::Ok, "{scopes:?}");
}

/// The local demo as its README runs it (`partner-consent --local`: the emulated cloud, the
/// demo app with its certificate, the `local` profile), the admin agent's consent (the browser's
/// part walked over HTTP), then `csp-app --profile local watch --once`: exit 0, no `unknown`
/// finding, the app's certificate watched, the access check green, and one redemption (plus one
/// token per customer whose access is checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_demos_watch_once_is_green_and_redeems_once() {
    use partner_consent::local::{Ports, prepare};
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("config");
    let mut options = LoadOptions {
        config_dir: config_dir.clone(),
        ..LoadOptions::default()
    };
    let ports = Ports {
        emulator: 0,
        sign_in: 0,
    };
    let local = dir.path().join(".sam-local");
    let cloud = prepare(&mut options, ports, Some(&local), false)
        .await
        .expect("the local cloud starts");
    let settings = common::config::load_settings(&options).expect("the local profile loads");
    let http = common::http::build_client(&settings.http).unwrap();
    let broker = TokenBroker::from_settings(&settings, http.clone())
        .await
        .unwrap();
    let pending = broker.consent_url(AuthorizeOptions {
        prompt: Some("consent".into()),
        ..AuthorizeOptions::default()
    });
    let location = cloud
        .emulator()
        .sign_in(&http, &pending.url, ADMIN, ConsentAnswer::Accept)
        .await
        .expect("the demo admin signs in and consents");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    broker
        .store_consent(AuthCode::new(code), &pending)
        .await
        .expect("consent stored");
    broker.flush().await;

    let config_dir = config_dir.display().to_string();
    let state = dir.path().join("watch-state.json").display().to_string();
    let mut argv = vec!["csp-app", "--profile", "local", "--config-dir", &config_dir];
    for set in &options.set {
        argv.extend(["--set", set.as_str()]);
    }
    argv.extend(["-o", "json", "watch", "--once", "--listen", "off"]);
    argv.extend(["--state-file", &state]);
    let cli = <csp_app::Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let before = cloud.emulator().counter(REDEMPTIONS);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = csp_app::run(cli, &mut out, &mut err).await;
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert_eq!(code, std::process::ExitCode::SUCCESS, "{out}\n{err}");
    let findings: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(
        findings.iter().all(|f| f["state"] != "unknown"),
        "{findings:#?}"
    );
    assert!(
        findings.iter().any(|f| f["check"] == "credentials"
            && f["subject"].as_str().unwrap().contains("/certificate/")
            && f["state"] == "ok"),
        "the app's own certificate is watched: {findings:#?}"
    );
    // The access check (on by default) is green on the demo's least privilege too: each
    // customer with a GDAP relationship works from its side.
    let access: Vec<&serde_json::Value> =
        findings.iter().filter(|f| f["check"] == "access").collect();
    assert!(access.len() >= 2, "{findings:#?}");
    assert!(access.iter().all(|f| f["state"] == "ok"), "{access:#?}");
    // One redemption by the keepalive, whose Graph token the other checks reuse; and one token
    // at each checked customer's authority (the access check's cost, once per
    // --access-check-every).
    assert_eq!(
        cloud.emulator().counter(REDEMPTIONS) - before,
        1 + access.len() as u64
    );
}

/// `watch --once` as a table: one line per finding and nothing said twice. With a Key Vault
/// store signing in with its own app, three findings are skipped for the same reason: the
/// reason is written once, as a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_once_table_has_one_line_per_finding_and_no_repetition() {
    let app = spawn_key_vault().await;
    let state = app.dir.path().join("table-state.json");
    let state = state.display().to_string();
    let args = ["watch", "--once", "--listen", "off", "--state-file", &state];
    let json = app.run(&[&["-o", "json"][..], &args[..]].concat()).await;
    json.assert_code(0);
    let findings = json.json().as_array().unwrap().clone();
    let table = app.run(&args).await;
    table.assert_code(0);
    let text = &table.stdout;
    let rows: Vec<&str> = text.lines().skip(1).take_while(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), findings.len(), "one line per finding:\n{text}");
    let skipped = "reading the app registration needs Application.Read.All";
    assert!(
        findings
            .iter()
            .filter(|f| f["message"].as_str().unwrap().contains(skipped))
            .count()
            >= 3,
        "{findings:#?}"
    );
    assert_eq!(text.matches(skipped).count(), 1, "said once:\n{text}");
    assert!(!text.contains("SECONDS LEFT"), "{text}");
    for row in &rows {
        assert!(
            row.chars().count() <= 250,
            "{} characters: {row}",
            row.chars().count()
        );
        assert!(
            !row.contains("skipped: "),
            "the STATE column says it: {row}"
        );
    }
    for f in &findings {
        let message = f["message"].as_str().unwrap();
        let subject = f["subject"].as_str().unwrap();
        // The IDs in the subject (app ID, key ID, thumbprint), not its words.
        let ids = subject
            .split('/')
            .filter(|p| p.len() >= 8 && p.chars().any(|c| c.is_ascii_digit()));
        for part in ids {
            assert!(
                !message.contains(part),
                "the message repeats the subject's {part}: {message}"
            );
        }
    }
}
