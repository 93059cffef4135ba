//! A browser that drops the connection while the callback redeems the code: the consent is
//! stored anyway, and the reload gets the page of that one run (not "already used").

use std::time::Duration;

use emulator::{Fault, Service};

use crate::support::{ADMIN, Decision, PARTNER_TENANT, Returned, spawn_app};

#[tokio::test]
async fn a_connection_dropped_during_the_redemption_loses_nothing_and_the_reload_shows_the_result()
{
    let app = spawn_app().await;
    let walker = app.walker();
    let started = walker.start().await;
    let returned = walker
        .sign_in(&started.authorize_url, ADMIN, Decision::Accept)
        .await;
    // Partner Center answers the check made before storing after a second: the browser gives
    // up after 200 ms, in the middle of the callback's work (the code is already redeemed).
    app.emulator.inject_fault(Fault::latency(
        Service::PartnerCenter,
        Duration::from_secs(1),
    ));
    // The default flow posts the answer (form_post); the code flow would redirect with a query.
    let request = match &returned {
        Returned::Query(url) => app.client.get(url.clone()),
        Returned::FormPost { action, fields } => app.client.post(action).form(fields),
    };
    let dropped = request
        .header("cookie", &started.cookie)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(dropped.is_err(), "the browser gave up: {dropped:?}");
    app.emulator.clear_faults();

    // The reload of the same callback (same cookie) waits for that work and shows its page.
    let reload = walker.callback(&returned, Some(&started.cookie)).await;
    assert_eq!(reload.status(), 200);
    let body = reload.text().await.unwrap();
    assert!(
        body.contains("Consent recorded") && body.contains(PARTNER_TENANT),
        "{body}"
    );
    assert!(!body.contains("already been used"), "{body}");
    assert!(
        app.stored(PARTNER_TENANT).await.is_some(),
        "the consent is stored"
    );

    // Once more: the same page again, and the code was redeemed once.
    let again = walker.callback(&returned, Some(&started.cookie)).await;
    assert_eq!(again.status(), 200);
}
