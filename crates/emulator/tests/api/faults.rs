//! Injected faults: an answer instead of the handler's, a dropped connection, a latency before
//! the handler and a response time after it.

use crate::helpers::spawn;
use emulator::seed::ids;
use emulator::{Fault, Service};
use std::time::Duration;

/// The Key Vault app's client-credentials token request.
fn vault_credentials(secret: &str) -> [(&'static str, &str); 4] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", ids::KEYVAULT_APP),
        ("client_secret", secret),
        ("scope", "https://vault.azure.net/.default"),
    ]
}

#[tokio::test]
async fn injected_faults_fail_the_next_request_then_clear() {
    let emu = spawn().await;
    emu.handle.inject_fault(
        Fault::status(Service::Entra, 503)
            .on_route("/oauth2/v2.0/token")
            .retry_after(2)
            .times(1),
    );
    let secret = emu.secret_of(ids::KEYVAULT_APP);
    let form = vault_credentials(&secret);
    let r = emu
        .client
        .post(emu.url(&format!("/{}/oauth2/v2.0/token", ids::PARTNER_TENANT)))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "2");
    let (s, _) = emu.token(ids::PARTNER_TENANT, true, &form).await;
    assert_eq!(s, 200);
    emu.handle
        .inject_fault(Fault::drop_connection(Service::Entra));
    let r = emu
        .client
        .post(emu.url(&format!("/{}/oauth2/v2.0/token", ids::PARTNER_TENANT)))
        .form(&form)
        .send()
        .await;
    assert!(r.is_err() || r.unwrap().bytes().await.is_err());
    emu.handle.clear_faults();
    let (s, _) = emu.token(ids::PARTNER_TENANT, true, &form).await;
    assert_eq!(s, 200);
}

/// A latency holds the request before the handler (the token is not issued yet while it
/// waits); a response time handles it at once and holds the answer back. Both answer no sooner
/// than asked. The counter the token endpoint bumps tells which ran when.
#[tokio::test]
async fn a_latency_waits_before_the_handler_and_a_response_time_after_it() {
    let emu = spawn().await;
    let secret = emu.secret_of(ids::KEYVAULT_APP);
    let form = vault_credentials(&secret);
    let wait = Duration::from_millis(800);
    for (fault, handled_while_waiting) in [
        (Fault::latency(Service::Entra, wait), false),
        (Fault::response_time(Service::Entra, wait), true),
    ] {
        let label = format!("{fault:?}");
        emu.handle.clear_faults();
        emu.handle.inject_fault(fault.times(1));
        let before = emu.handle.counter("entra.token.client_credentials");
        let started = std::time::Instant::now();
        let request = emu.token(ids::PARTNER_TENANT, true, &form);
        tokio::pin!(request);
        // Well inside the wait: the handler has run (or not) by now.
        let peek = tokio::time::sleep(Duration::from_millis(400));
        tokio::select! {
            _ = &mut request => panic!("answered before the injected time"),
            () = peek => {}
        }
        let handled = emu.handle.counter("entra.token.client_credentials") > before;
        assert_eq!(handled, handled_while_waiting, "{label}");
        let (status, _) = request.await;
        assert_eq!(status, 200);
        assert!(
            started.elapsed() >= wait,
            "{label}: {:?}",
            started.elapsed()
        );
    }
}
