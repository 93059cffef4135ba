//! The console under test: the emulator (with its plain-HTTP sign-in pages), the partner's
//! consent stored, a watcher whose endpoints serve the console, its redirect URL registered on
//! the demo console app; axe-core and screenshots.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::config::ConsoleSettings;
use common::secret::ClientSecret;
use csp_app::context::Context;
use csp_app::onboard::journal::{Entry, Step};
use csp_app::watch::access_check::CustomerWatch;
use csp_app::watch::console::Console;
use csp_app::watch::{SystemClock, Thresholds, WatchOptions, Watcher};
use emulator::EmulatorConfig;

use crate::driver::Browser;
use crate::helpers::{ADMIN, NORTHWIND, TAILSPIN, TestApp, spawn_with};
use common::cloud::{GRAPH_APP_ID, PARTNER_CENTER_APP_ID};
use emulator::seed::{PermissionSeed, ServicePrincipalSeed, ids};

/// The demo console app of the emulator's seed.
pub const CONSOLE_APP: &str = "40000000-0000-4000-8000-000000000005";
/// Its client secret (the seed's demo value).
pub const CONSOLE_SECRET: &str = "console-demo-secret-NOT-A-REAL-SECRET";

/// A user of the emulator's seed.
#[derive(Clone, Copy, Debug)]
pub struct User {
    pub upn: &'static str,
    pub password: &'static str,
    pub mfa_code: &'static str,
}

/// Holds Console.Read and Console.Operate.
pub const OPERATOR: User = User {
    upn: "operator@contoso-partner.onmicrosoft.com",
    password: "Demo-Operator-Passw0rd!",
    mfa_code: "424242",
};

/// Holds neither.
pub const NO_ROLE: User = User {
    upn: "user@contoso-partner.onmicrosoft.com",
    password: "Demo-User-Passw0rd!",
    mfa_code: "654321",
};

/// The emulator with sign-in pages on plain HTTP, the partner's admin consented.
pub async fn spawn() -> TestApp {
    // The partner tenant as `setup` leaves it: the Partner Center service principal present
    // (the doctor's registration checks, which the console's demo shows, look for it).
    let emulator = EmulatorConfig {
        sign_in_port: Some(0),
        ..EmulatorConfig::default()
    }
    .with_service_principal(ServicePrincipalSeed {
        tenant: crate::helpers::PARTNER.into(),
        app_id: PARTNER_CENTER_APP_ID.into(),
        object_id: "50000000-0000-4000-8000-0000000000fc".into(),
        app_roles: Vec::new(),
    });
    let app = spawn_with(emulator).await;
    let mut config = std::fs::read_to_string(&app.config_file).unwrap();
    config = config.replace(
        "[consent]",
        &format!(
            "[entra]\nsign_in_host = \"{}\"\n[consent]",
            app.emu.sign_in_host()
        ),
    );
    std::fs::write(&app.config_file, config).unwrap();
    app.consent(ADMIN).await;
    app
}

/// Gives the demo things to show: the app's token may read its registration (so its
/// credentials are watched), a certificate of the app expiring in 25 days, and a GDAP
/// relationship with Northwind ending in 20 days without auto-extension.
pub async fn add_upcoming_expiries(app: &TestApp) {
    app.emu.state().grant_consent(
        crate::helpers::PARTNER,
        ids::CSP_APP,
        None,
        &[PermissionSeed {
            resource: GRAPH_APP_ID.into(),
            scopes: vec![
                "Application.Read.All".into(),
                "DelegatedPermissionGrant.Read.All".into(),
            ],
        }],
    );
    let now = time::OffsetDateTime::from_unix_timestamp(app.emu.now()).unwrap();
    let cert = certgen::self_signed(&certgen::Request {
        common_name: "console demo",
        days: 25,
        not_before: Some(now),
        key_pem: None,
    })
    .unwrap();
    app.emu
        .add_certificate(ids::CSP_APP, &cert.certificate_pem)
        .unwrap();
    let out = app
        .run(&[
            "-o",
            "json",
            "gdap",
            "create",
            "--display-name",
            "Contoso - Northwind helpdesk",
            "--customer",
            NORTHWIND,
            "--duration",
            "P20D",
            "--role",
            "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
        ])
        .await;
    out.assert_code(0);
    let id = out.json()["id"].as_str().unwrap().to_owned();
    app.run(&["gdap", "lock-for-approval", &id])
        .await
        .assert_code(0);
    app.emu.approve_gdap_relationship(&id, None).unwrap();
}

/// The onboarding journal the console reads: Tailspin awaiting its Global Administrator's
/// approval for three days (as `onboard` records it).
pub fn add_onboarding_journal(app: &TestApp) {
    let entry = Entry {
        tenant_id: TAILSPIN.into(),
        template: "helpdesk".into(),
        step: Step::Approval,
        failed_at: None,
        display_name: "helpdesk-30000000".into(),
        relationship_id: Some("rel-tailspin".into()),
        approval_link: Some("https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/rel-tailspin".into()),
        assignments: Default::default(),
        since: time::OffsetDateTime::now_utc().unix_timestamp() - 3 * 86_400,
        error: None,
        remedy: None,
        note: None,
    };
    let mut line = serde_json::to_string(&entry).unwrap();
    line.push('\n');
    std::fs::write(journal(app), line).unwrap();
}

fn journal(app: &TestApp) -> PathBuf {
    app.dir.path().join("onboard-journal.ndjson")
}

/// A watcher over `ctx` (state file in the test's directory, no webhook), every customer, the
/// access check on, the test's onboarding journal.
pub fn watcher<'a>(app: &TestApp, ctx: &'a Context) -> Watcher<'a> {
    let options = WatchOptions {
        thresholds: Thresholds {
            warn: 30 * 86_400,
            critical: 7 * 86_400,
            gdap_stuck: 3_600,
        },
        state_file: app.dir.path().join("watch-state.json"),
        webhook: None,
    };
    let mut customers = CustomerWatch::from_settings(&ctx.settings);
    customers.access_every = Some(86_400);
    customers.journal = journal(app);
    Watcher::new(ctx, options, Arc::new(SystemClock))
        .unwrap()
        .with_customers(customers)
}

/// Serves `watcher`'s endpoints with the console on a free port; returns the console's origin.
pub fn serve(app: &TestApp, ctx: &Context, watcher: &Watcher<'_>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let redirect = format!("{origin}/auth/callback");
    app.emu.add_redirect_uri(CONSOLE_APP, &redirect).unwrap();
    let mut settings = ctx.settings.clone();
    settings.watch.console = Some(ConsoleSettings {
        redirect_url: redirect.parse().unwrap(),
        client: Some((CONSOLE_APP.into(), ClientSecret::new(CONSOLE_SECRET))),
        read_access: "Console.Read".into(),
        write_access: "Console.Operate".into(),
        idle_timeout: Duration::from_secs(900),
    });
    let console = Console::from_settings(&settings, &ctx.http, ctx.broker.entra(), &ctx.partner);
    assert!(console.is_some());
    let (_, server) =
        csp_app::watch::server::start_with_console(listener, watcher.shared(), console).unwrap();
    tokio::spawn(server);
    origin
}

/// Walks the emulator's sign-in (and MFA) pages as `user`.
pub async fn sign_in(browser: &Browser, user: User) {
    browser.fill("#login", user.upn).await;
    browser.fill("#passwd", user.password).await;
    browser.click("#idSIButton9").await;
    browser.fill("#otc", user.mfa_code).await;
    browser.click("#idSubmit_SAOTCC_Continue").await;
}

/// A page of another origin whose form posts the action to the console (no script: the test
/// presses its button).
pub fn serve_cross_site_form(console_origin: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><title>elsewhere</title></head><body>\
         <form method=\"post\" action=\"{console_origin}/actions/run-cycle\">\
         <input type=\"hidden\" name=\"csrf\" value=\"guessed\">\
         <button type=\"submit\" id=\"forged\">Win a prize</button></form></body></html>"
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 4096];
            drop(stream.read(&mut buf));
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            drop(stream.write_all(response.as_bytes()));
        }
    });
    origin
}

fn axe_source() -> String {
    let path = std::env::var_os("SAM_TEST_AXE").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../.test-node/node_modules/axe-core/axe.min.js")
        },
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is needed at {} ({e}): run scripts/test, which installs it from npm, or set SAM_TEST_AXE to axe.min.js",
            path.display()
        )
    })
}

/// Runs axe-core on the browser's page; fails with every serious or critical violation.
pub async fn assert_accessible(browser: &Browser, page: &str) {
    browser
        .client
        .execute(&axe_source(), vec![])
        .await
        .expect("axe-core loads");
    let script = r"
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] })
          .then(r => done(JSON.stringify(r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target) })))))
          .catch(e => done('axe failed: ' + e));
    ";
    let result = browser
        .client
        .execute_async(script, vec![])
        .await
        .expect("axe-core runs");
    let text = result.as_str().unwrap_or_default().to_owned();
    assert_eq!(
        text, "[]",
        "{page}: serious or critical accessibility violations"
    );
}

/// Saves a screenshot of the browser's page as `crates/csp-app/docs/console-{name}.png`.
pub async fn screenshot(browser: &Browser, name: &str) {
    let png = browser.client.screenshot().await.expect("screenshot");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("console-{name}.png")), png).unwrap();
}
