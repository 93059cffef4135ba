//! Findings that send the partner the right way (issue 26 §3): a consent redirect URI
//! registered as a single-page app's, and the store's secret deleted but recoverable.

use admin::doctor::Status;
use common::cloud::Resource;
use common::config::KeyVaultIdentity;
use common::graph::{ApplicationUpdate, SpaApplication, WebApplication};
use common::secret::ClientSecret;
use emulator::seed::ids;

use crate::helpers::{self, expect};

/// Graph's `spa.redirectUris` holds the consent redirect URI instead of `web.redirectUris`:
/// refresh tokens sent there end after a fixed 24 hours (AADSTS700084), so doctor fails it and
/// says to register it under Web.
#[tokio::test]
async fn doctor_fails_a_redirect_uri_registered_as_a_single_page_app() {
    let env = helpers::spawn(helpers::empty_partner_seed()).await;
    let (session, settings) = env.ready().await;
    expect(
        &env.doctor(&settings, Some(&session)).await,
        "app.redirect_uri",
        Status::Pass,
    );
    let app = session
        .graph
        .get_application_by_app_id(&settings.app.client_id)
        .await
        .unwrap()
        .unwrap();
    let redirect = settings.consent.redirect_url.to_string();
    let moved = ApplicationUpdate {
        web: Some(WebApplication::default()),
        spa: Some(SpaApplication {
            redirect_uris: vec![redirect.clone()],
        }),
        ..ApplicationUpdate::default()
    };
    session
        .graph
        .update_application(&app.id, &moved)
        .await
        .unwrap();
    let read = session
        .graph
        .get_application_by_app_id(&settings.app.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.spa.redirect_uris, vec![redirect.clone()]);
    assert!(read.web.redirect_uris.is_empty());

    let report = env.doctor(&settings, Some(&session)).await;
    let text = expect(&report, "app.redirect_uri", Status::Fail);
    assert!(text.contains("single-page-application"), "{text}");
    assert!(text.contains("AADSTS700084"), "{text}");
    assert!(text.contains("24 hours"), "{text}");
    assert!(text.contains("add it under Web"), "{text}");
    assert!(!text.contains("AADSTS50011"), "{text}");

    // Under both platforms: a warning, with the same fix.
    let both = ApplicationUpdate {
        web: Some(WebApplication {
            redirect_uris: vec![redirect.clone()],
        }),
        ..ApplicationUpdate::default()
    };
    session
        .graph
        .update_application(&app.id, &both)
        .await
        .unwrap();
    let text = expect(
        &env.doctor(&settings, Some(&session)).await,
        "app.redirect_uri",
        Status::Warn,
    );
    assert!(text.contains("remove"), "{text}");
}

/// The partner's secret deleted by an operator: soft delete keeps the name, so the next consent
/// could not be stored (409 ObjectIsDeletedButRecoverable). doctor finds it and says to recover
/// or purge it.
#[tokio::test]
async fn doctor_fails_when_the_stored_secret_is_deleted_but_recoverable() {
    // `list` lets doctor read the deleted secret; `delete` lets the test delete it.
    let (env, session, settings, secret) =
        helpers::consented_in_a_vault_with_a_broad_policy().await;
    assert!(
        env.doctor(&settings, Some(&session))
            .await
            .check("store.deleted_secret")
            .is_none()
    );

    let identity = KeyVaultIdentity::ClientSecret {
        tenant_id: ids::PARTNER_TENANT.into(),
        client_id: ids::KEYVAULT_APP.into(),
        secret: ClientSecret::new(secret.clone()),
    };
    let credential =
        common::keyvault::access_credential(&identity, &settings.cloud, &env.http).unwrap();
    let scope = format!(
        "{}/.default",
        settings.cloud.resource_id(Resource::KeyVault).unwrap()
    );
    let token = credential.get_token(&[scope.as_str()], None).await.unwrap();
    let name = common::tokens::secret_name("sam-rt", ids::PARTNER_TENANT);
    let deleted = env
        .http
        .delete(format!(
            "{}secrets/{name}?api-version=7.5",
            env.emu.vault_url(ids::VAULT)
        ))
        .bearer_auth(token.token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);

    let report = env.doctor(&settings, Some(&session)).await;
    let text = expect(&report, "store.deleted_secret", Status::Fail);
    assert!(text.contains("ObjectIsDeletedButRecoverable"), "{text}");
    assert!(
        text.contains(&format!(
            "az keyvault secret recover --vault-name {} --name {name}",
            ids::VAULT
        )),
        "{text}"
    );
    assert!(text.contains("az keyvault secret purge"), "{text}");
    assert!(!report.render_text().contains(&secret));
}
