use crate::helpers::spawn;
use emulator::seed::ids;
use serde_json::{Value, json};

#[tokio::test]
async fn unauthenticated_request_gets_the_challenge_then_secrets_round_trip() {
    let emu = spawn().await;
    let vault = emu.handle.vault_url(ids::VAULT);
    let r = emu
        .client
        .get(format!("{vault}secrets/x?api-version=2025-07-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let port = emu.handle.port();
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        format!(
            r#"Bearer authorization="https://127.0.0.1:{port}/{}", resource="https://vault.localhost:{port}""#,
            ids::PARTNER_TENANT
        )
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Unauthorized");

    let (_, token) = emu.vault_token().await;
    let put = |name: &str, value: &str| {
        emu.client
            .put(format!("{vault}secrets/{name}?api-version=7.4"))
            .bearer_auth(&token)
            .json(&json!({"value": value, "contentType": "text/plain", "tags": {"a": "b"}}))
            .send()
    };
    let v1: Value = put("rt-partner", "one")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v2: Value = put("rt-partner", "two")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(v1["id"], v2["id"]);
    let got: Value = emu
        .client
        .get(format!("{vault}secrets/rt-partner?api-version=7.4"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["value"], "two");
    let old: Value = emu
        .client
        .get(format!("{}?api-version=7.4", v1["id"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(old["value"], "one");
    for i in 0..3 {
        put(&format!("s{i}"), "v").await.unwrap();
    }
    let page: Value = emu
        .client
        .get(format!("{vault}secrets?api-version=7.4&maxresults=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    let next = page["nextLink"].as_str().unwrap();
    let page2: Value = emu
        .client
        .get(next)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page2["value"].as_array().unwrap().len(), 2);
    assert!(page2["nextLink"].is_null());
    // Delete → get fails, name can't be reused, recover restores.
    let del: Value = emu
        .client
        .delete(format!("{vault}secrets/rt-partner?api-version=7.4"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(del["recoveryId"].is_string());
    let r = emu
        .client
        .get(format!("{vault}secrets/rt-partner?api-version=7.4"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = put("rt-partner", "three").await.unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["innererror"]["code"],
        "ObjectIsDeletedButRecoverable"
    );
    let r = emu
        .client
        .post(format!(
            "{vault}deletedsecrets/rt-partner/recover?api-version=7.4"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = emu
        .client
        .put(format!("{vault}secrets/bad_name?api-version=7.4"))
        .bearer_auth(&token)
        .json(&json!({"value": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = put("big", &"x".repeat(26 * 1024)).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = emu
        .client
        .put(format!("{vault}secrets/x?api-version=7.4"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = emu
        .client
        .put(format!("{vault}secrets/x?api-version=7.4"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("x".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn access_policies_limit_the_access_app_to_get_and_set() {
    let emu = spawn().await;
    let vault = emu.handle.vault_url(ids::VAULT);
    let token = emu
        .app_token(
            ids::KEYVAULT_APP,
            &emu.secret_of(ids::KEYVAULT_APP),
            "https://vault.azure.net/.default",
        )
        .await;
    let r = emu
        .client
        .put(format!("{vault}secrets/a?api-version=2025-07-01"))
        .bearer_auth(&token)
        .json(&json!({"value": "v"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = emu
        .client
        .get(format!("{vault}secrets?api-version=2025-07-01"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Forbidden");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not have secrets list permission")
    );
}

#[tokio::test]
async fn foreign_expired_and_garbage_tokens_are_refused_with_a_challenge() {
    let emu = spawn().await;
    let vault = emu.handle.vault_url(ids::VAULT);
    let graph = emu
        .app_token(
            ids::KEYVAULT_APP,
            &emu.secret_of(ids::KEYVAULT_APP),
            "https://graph.microsoft.com/.default",
        )
        .await;
    let kv = emu
        .app_token(
            ids::KEYVAULT_APP,
            &emu.secret_of(ids::KEYVAULT_APP),
            "https://vault.azure.net/.default",
        )
        .await;
    for token in [graph.as_str(), "garbage.token.here"] {
        let r = emu
            .client
            .get(format!("{vault}secrets/a?api-version=7.5"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
    }
    emu.handle
        .advance_clock(std::time::Duration::from_secs(7200));
    let r = emu
        .client
        .get(format!("{vault}secrets/a?api-version=7.5"))
        .bearer_auth(&kv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = emu
        .client
        .get(format!("{vault}secrets/a?api-version=1.0"))
        .bearer_auth(&kv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
