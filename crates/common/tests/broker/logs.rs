//! No token, secret, code or key in the logs, even at TRACE.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::cloud::Resource;
use common::config::EndpointVersion;
use common::entra::AuthorizeOptions;
use common::secret::{AuthCode, ExposeSecret as _};
use common::tokens::RefreshTokenStore as _;
use emulator::seed::ids;

use crate::helpers::{ADMIN, Cred, spawn};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process-wide capture. A global subscriber, not a scoped one: tracing caches per-callsite
/// interest process-wide, so a scoped subscriber can miss events whose callsites other tests hit
/// first. Other tests' logs land here too, and they must be as clean.
fn capture() -> Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            let writer = capture.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber");
            capture
        })
        .clone()
}

#[tokio::test]
async fn logs_at_trace_contain_no_token_secret_code_or_key() {
    let capture = capture();
    let env = spawn().await;
    let store = env.local_store();
    let mut secrets: Vec<String> = vec![
        env.emu
            .seed()
            .apps
            .iter()
            .find(|a| a.app_id == ids::CSP_APP)
            .unwrap()
            .secrets[0]
            .clone(),
        env.cert.key_pem.lines().nth(1).unwrap().to_owned(),
    ];
    for (version, cred) in [
        (EndpointVersion::V1, Cred::Secret),
        (EndpointVersion::V2, Cred::Ps256),
    ] {
        let broker = env.broker(version, cred, store.clone());
        let pending = broker.consent_url(AuthorizeOptions::default());
        let code = env.sign_in(&pending, ADMIN).await;
        secrets.push(code.clone());
        secrets.push(pending.code_verifier.expose_secret().to_owned());
        broker
            .store_consent(AuthCode::new(code), &pending)
            .await
            .unwrap();
        secrets.push(
            store
                .get(ids::PARTNER_TENANT)
                .await
                .unwrap()
                .unwrap()
                .refresh_token
                .expose_secret()
                .to_owned(),
        );
        for (tenant, resource) in [
            (ids::PARTNER_TENANT, Resource::PartnerCenter),
            (ids::CUSTOMER_FABRIKAM, Resource::Graph),
        ] {
            let at = broker.access_token(tenant, resource).await.unwrap();
            secrets.push(at.expose_secret().to_owned());
        }
        secrets.push(
            store
                .get(ids::PARTNER_TENANT)
                .await
                .unwrap()
                .unwrap()
                .refresh_token
                .expose_secret()
                .to_owned(),
        );
        let app = broker
            .app_only_token(ids::PARTNER_TENANT, Resource::Graph)
            .await
            .unwrap();
        secrets.push(app.expose_secret().to_owned());
    }
    // Failures too: an expired grant.
    env.emu
        .advance_clock(std::time::Duration::from_secs(91 * 24 * 3600));
    let fresh = env.broker(EndpointVersion::V1, Cred::Secret, store.clone());
    let err = fresh
        .access_token(ids::PARTNER_TENANT, Resource::Graph)
        .await
        .unwrap_err();
    tracing::error!("reported: {err}");
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("token endpoint answered"),
        "TRACE logs were captured"
    );
    for s in &secrets {
        assert!(s.len() > 10);
        // Any 24-character window of a secret must be absent (catches partial leaks).
        let probe = &s[s.len() / 2 - 12..s.len() / 2 + 12];
        assert!(
            !logs.contains(probe),
            "a secret leaked into the logs: …{probe}…"
        );
    }
}
