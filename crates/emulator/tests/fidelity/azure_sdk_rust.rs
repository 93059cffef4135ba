//! The Rust `azure_identity` + `azure_security_keyvault_secrets` crates against the emulator,
//! challenge verification on.

use crate::harness::start;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::Secret;
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_secrets::models::SetSecretParameters;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use emulator::seed::ids;
use futures::StreamExt as _;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_sets_gets_lists_deletes_and_recovers_secrets() {
    let emu = start().await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", emu.handle.port()).parse().unwrap();
    // RFC 6761 §6.3: *.localhost is loopback; this resolver needs telling.
    let http = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(emu.handle.ca_pem().as_bytes()).unwrap()])
        .resolve(&format!("{}.vault.localhost", ids::VAULT), addr)
        .build()
        .unwrap();
    let mut custom = CustomConfiguration::default();
    custom.authority_host = emu.handle.authority_host();
    let client_options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http))),
        cloud: Some(Arc::new(CloudConfiguration::from(custom))),
        ..ClientOptions::default()
    };
    let credential = ClientSecretCredential::new(
        ids::PARTNER_TENANT,
        ids::KEYVAULT_OPERATOR_APP.to_string(),
        Secret::new(emu.secret(ids::KEYVAULT_OPERATOR_APP)),
        Some(ClientSecretCredentialOptions {
            client_options: client_options.clone(),
        }),
    )
    .unwrap();
    let options = SecretClientOptions {
        client_options,
        ..SecretClientOptions::default()
    };
    assert_ne!(options.verify_challenge_resource, Some(false));
    let client =
        SecretClient::new(&emu.handle.vault_url(ids::VAULT), credential, Some(options)).unwrap();

    let params = SetSecretParameters {
        value: Some("rust-value".into()),
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    let set = client
        .set_secret("rust-secret", params.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(set.value.as_deref(), Some("rust-value"));
    let got = client
        .get_secret("rust-secret", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(got.value.as_deref(), Some("rust-value"));
    let mut pager = client.list_secret_properties(None).unwrap();
    let mut count = 0;
    while let Some(item) = pager.next().await {
        item.unwrap();
        count += 1;
    }
    assert_eq!(count, 1);
    client.delete_secret("rust-secret", None).await.unwrap();
    assert!(client.get_secret("rust-secret", None).await.is_err());
    client
        .recover_deleted_secret("rust-secret", None)
        .await
        .unwrap();
    let got = client
        .get_secret("rust-secret", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(got.value.as_deref(), Some("rust-value"));
    assert!(
        emu.handle.counter("keyvault.set_secret") >= 2,
        "challenge: first request unauthenticated, then retried"
    );
}
