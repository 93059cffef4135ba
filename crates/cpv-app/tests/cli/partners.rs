//! `partners list`, and one partner's expired token never blocking the others.

use crate::helpers::{
    CONTOSO, CONTOSO_ADMIN, FABRIKAM, LITWARE, LITWARE_ADMIN, LITWARE_CUSTOMERS, NORTHWIND,
    TAILSPIN, UNCONSENTED, outcomes, spawn,
};

#[tokio::test]
async fn partners_list_shows_each_consent_with_its_user_and_mfa() {
    let app = spawn().await;
    let listed = app.run(&["partners", "list", "--output", "json"]).await;
    listed.assert_code(0);
    let rows = listed.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, (partner, user)) in rows
        .iter()
        .zip([(CONTOSO, CONTOSO_ADMIN), (LITWARE, LITWARE_ADMIN)])
    {
        assert_eq!(row["partner"], partner);
        assert_eq!(row["consented_by"], user);
        assert_eq!(row["mfa"], true);
        assert_eq!(row["token"], "works");
        assert_eq!(row["ok"], true);
        assert!(row["consented_at"].as_str().unwrap().ends_with('Z'));
    }

    let table = app.run(&["partners", "list"]).await;
    table.assert_code(0);
    let header = table.stdout.lines().next().unwrap();
    assert!(header.starts_with("PARTNER"), "{header}");
    assert!(header.contains("CONSENTED") && header.contains("MFA") && header.contains("TOKEN"));
    assert!(table.stdout.contains(LITWARE_ADMIN));
}

#[tokio::test]
async fn a_partner_never_consented_is_listed_with_the_consent_link() {
    let app = spawn().await;
    let listed = app
        .run(&[
            "partners",
            "list",
            "--partner",
            CONTOSO,
            "--partner",
            UNCONSENTED,
            "--output",
            "ndjson",
        ])
        .await;
    listed.assert_code(3);
    let rows = listed.ndjson();
    assert_eq!(rows[0]["token"], "works");
    assert_eq!(rows[1]["partner"], UNCONSENTED);
    assert_eq!(rows[1]["token"], "not consented");
    assert_eq!(rows[1]["consent_url"], "http://127.0.0.1:8080/");
    assert_eq!(
        rows[1]["detail"],
        format!(
            "partner {UNCONSENTED}: no consent is stored for partner tenant {UNCONSENTED}: an admin agent must consent at http://127.0.0.1:8080/"
        )
    );
}

#[tokio::test]
async fn an_expired_partner_is_reported_with_its_reconsent_link_while_the_other_keeps_working() {
    let app = spawn().await;
    // A password reset revokes Litware's refresh tokens (AADSTS50173).
    assert!(app.emu.revoke_user_sessions(LITWARE_ADMIN));

    let listed = app.run(&["partners", "list", "--output", "json"]).await;
    listed.assert_code(3);
    let rows = listed.json();
    assert_eq!(rows[0]["partner"], CONTOSO);
    assert_eq!(rows[0]["token"], "works");
    assert_eq!(rows[1]["partner"], LITWARE);
    assert_eq!(rows[1]["token"], "re-consent needed");
    assert_eq!(rows[1]["remedy"], "reconsent");
    assert_eq!(rows[1]["consent_url"], "http://127.0.0.1:8080/");
    let detail = rows[1]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "partner {LITWARE}: re-consent needed for partner tenant {LITWARE}"
        )) && detail.contains("AADSTS50173")
            && detail.ends_with("An admin agent must consent again at http://127.0.0.1:8080/"),
        "{detail}"
    );

    let granted = app
        .run(&[
            "consent",
            "grant",
            "--all-customers",
            "--grant",
            "graph:User.Read.All",
            "--output",
            "json",
        ])
        .await;
    granted.assert_code(3);
    let results = granted.results();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        outcomes(&results),
        [
            (s(CONTOSO), s(FABRIKAM), s("granted")),
            (s(CONTOSO), s(NORTHWIND), s("granted")),
            (s(CONTOSO), s(TAILSPIN), s("granted")),
            (s(LITWARE), s("(partner)"), s("failed")),
        ]
    );
    assert_eq!(results[3]["remedy"], "reconsent");
    assert_eq!(results[3]["consent_url"], "http://127.0.0.1:8080/");

    // Consenting again puts Litware back (a moment later: revocation has a one-second grain).
    app.emu.advance_clock(std::time::Duration::from_secs(2));
    app.consent(LITWARE_ADMIN).await;
    let regrant = app
        .run(&[
            "consent",
            "grant",
            "--partner",
            LITWARE,
            "--all-customers",
            "--grant",
            "graph:User.Read.All",
            "--output",
            "json",
        ])
        .await;
    regrant.assert_code(0);
    assert_eq!(regrant.results().len(), LITWARE_CUSTOMERS.len());
}

#[tokio::test]
async fn a_partner_consented_without_mfa_is_told_to_consent_again_with_mfa() {
    let mut config = crate::helpers::two_partners();
    // Entra lets the non-MFA sign-in through; Partner Center itself refuses it (401, MFA required).
    config.seed.partner_center.entra_requires_mfa = false;
    let app = crate::helpers::spawn_with(config).await;
    // Consents without MFA are no longer stored; a grant stored before that rule still is.
    app.store_grant_without_mfa("nomfa-admin@contoso-partner.onmicrosoft.com")
        .await;
    app.consent(LITWARE_ADMIN).await;

    let listed = app.run(&["partners", "list", "--output", "json"]).await;
    listed.assert_code(3);
    let rows = listed.json();
    assert_eq!(rows[0]["partner"], CONTOSO);
    assert_eq!(rows[0]["mfa"], false);
    assert_eq!(rows[0]["token"], "mfa required");
    assert_eq!(rows[0]["remedy"], "mfa");
    assert_eq!(rows[0]["consent_url"], "http://127.0.0.1:8080/");
    assert_eq!(rows[1]["token"], "works");

    let granted = app
        .run(&[
            "consent",
            "grant",
            "--all-customers",
            "--grant",
            "graph:User.Read.All",
            "--output",
            "json",
        ])
        .await;
    granted.assert_code(3);
    let results = granted.results();
    assert_eq!(results[0]["partner"], CONTOSO);
    assert_eq!(results[0]["customer"], serde_json::Value::Null);
    assert_eq!(results[0]["remedy"], "mfa");
    assert_eq!(results[0]["consent_url"], "http://127.0.0.1:8080/");
    let detail = results[0]["detail"].as_str().unwrap().to_ascii_lowercase();
    assert!(
        detail.contains("mfa") || detail.contains("multi-factor"),
        "{detail}"
    );
    assert_eq!(
        results.iter().filter(|r| r["outcome"] == "granted").count(),
        LITWARE_CUSTOMERS.len()
    );
}

#[tokio::test]
async fn without_an_allow_list_every_partner_whose_consent_is_stored_is_listed() {
    let app = spawn().await;
    // Any partner may consent (empty allow-list): the store is the list of partners.
    let listed = app
        .run(&[
            "--set",
            "partner.allowed_tenants=",
            "partners",
            "list",
            "--output",
            "json",
        ])
        .await;
    listed.assert_code(0);
    let rows = listed.json();
    let partners: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["partner"].as_str().unwrap())
        .collect();
    assert_eq!(partners, [CONTOSO, LITWARE]);
}
