use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::{Figment, Jail};
use proptest::prelude::*;

use super::load::load_with_env;
use super::*;
use crate::cloud::CloudName;

const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const TENANT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn args() -> LoadOptions {
    LoadOptions {
        config_dir: PathBuf::from("config"),
        ..LoadOptions::default()
    }
}

/// [`args`] naming the `local` profile (the files these tests write as config/local.toml).
fn local_args() -> LoadOptions {
    LoadOptions {
        profile: Some(LOCAL_PROFILE.into()),
        ..args()
    }
}

/// A minimal valid configuration (secret credential) written as config/default.toml.
fn write_valid_default(jail: &mut Jail) {
    jail.create_dir("config").unwrap();
    jail.create_file(
        "config/default.toml",
        &format!(
            r#"
            mode = "csp"
            [app]
            client_id = "{CLIENT_ID}"
            client_secret = "s3cr3t-value-never-printed"
            [partner]
            tenant_id = "{TENANT}"
            "#
        ),
    )
    .unwrap();
}

#[test]
fn every_layer_overrides_the_one_before_it() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        // Layer 2 (default.toml) sets display_name; each later layer overrides one more key.
        jail.create_file(
            "config/default.toml",
            &format!(
                r#"
                [app]
                client_id = "{CLIENT_ID}"
                client_secret = "x"
                display_name = "from default.toml"
                [partner]
                tenant_id = "{TENANT}"
                [http]
                connect_timeout = "1s"
                request_timeout = "1s"
                [log]
                filter = "debug"
                format = "text"
                "#
            ),
        )?;
        jail.create_file("config/staging.toml", "[app]\ndisplay_name = \"from profile\"\n[http]\nconnect_timeout = \"2s\"\nrequest_timeout = \"2s\"\n")?;
        jail.create_file(
            "user.toml",
            "[http]\nconnect_timeout = \"3s\"\nrequest_timeout = \"3s\"\n",
        )?;
        jail.set_env("SAM_HTTP__REQUEST_TIMEOUT", "4s");
        let mut a = args();
        a.profile = Some("staging".into());
        a.config_file = Some("user.toml".into());
        a.set = vec!["log.filter=warn".into()];
        let loaded = load(&a).expect("loads");
        let s = loaded.validate().expect("valid");
        assert_eq!(s.app.display_name, "from profile"); // profile over default.toml
        assert_eq!(s.http.connect_timeout, Duration::from_secs(3)); // --config over profile
        assert_eq!(s.http.request_timeout, Duration::from_secs(4)); // env over --config
        assert_eq!(s.log.filter, "warn"); // --set over env and files
        assert_eq!(s.entra.authority_tenant, "common"); // built-in default
        assert_eq!(loaded.origin("app.display_name"), "config/staging.toml");
        assert_eq!(loaded.origin("http.connect_timeout"), "user.toml");
        assert_eq!(
            loaded.origin("http.request_timeout"),
            "environment variable SAM_HTTP__REQUEST_TIMEOUT"
        );
        assert_eq!(
            loaded.origin("log.filter"),
            "command-line flag --set log.filter=…"
        );
        assert_eq!(loaded.origin("entra.authority_tenant"), "built-in default");
        Ok(())
    });
}

#[test]
fn profile_comes_from_flag_then_sam_profile_else_none() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.create_file("config/local.toml", "[app]\ndisplay_name = \"local\"\n")?;
        jail.create_file("config/prod.toml", "[app]\ndisplay_name = \"prod\"\n")?;
        jail.create_file("config/test.toml", "[app]\ndisplay_name = \"test\"\n")?;
        assert_eq!(
            load_with_env(&args(), None)
                .unwrap()
                .validate()
                .unwrap()
                .app
                .display_name,
            "Secure Application Model"
        );
        assert_eq!(load_with_env(&args(), None).unwrap().profile, None);
        let from_env = load_with_env(&args(), Some("prod".into())).unwrap();
        assert_eq!(from_env.profile.as_deref(), Some("prod"));
        assert_eq!(from_env.validate().unwrap().app.display_name, "prod");
        let mut a = args();
        a.profile = Some("test".into());
        assert_eq!(
            load_with_env(&a, Some("prod".into()))
                .unwrap()
                .validate()
                .unwrap()
                .app
                .display_name,
            "test"
        );
        Ok(())
    });
}

#[test]
fn sam_profile_environment_variable_is_read_by_load() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.create_file("config/prod.toml", "[app]\ndisplay_name = \"prod\"\n")?;
        jail.set_env("SAM_PROFILE", "prod");
        let loaded = load(&args()).unwrap();
        assert_eq!(loaded.profile.as_deref(), Some("prod"));
        assert_eq!(loaded.validate().unwrap().app.display_name, "prod");
        Ok(())
    });
}

#[test]
fn an_explicit_profile_without_a_file_is_an_error_but_no_profile_is_not() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        assert!(load_with_env(&args(), None).is_ok());
        let mut a = args();
        a.profile = Some("prod".into());
        let report = load_with_env(&a, None).unwrap_err();
        assert_eq!(report.keys(), vec!["profile"]);
        assert!(
            report.problems[0].problem.contains("config/prod.toml"),
            "{report}"
        );
        Ok(())
    });
}

#[test]
fn five_mistakes_are_reported_together_with_keys_origins_and_fixes() {
    Jail::expect_with(|jail| {
        jail.create_dir("config")?;
        jail.create_file(
            "config/default.toml",
            r#"
            mode = "reseller"
            [app]
            client_id = "not-a-guid"
            client_secret = "hunter2-secret-value"
            [cloud]
            name = "mars"
            [http]
            connect_timeout = "soon"
            request_timeout = "30s"
            "#,
        )?;
        jail.set_env("SAM_STORE__KIND", "dropbox");
        let report = load(&args()).unwrap().validate().unwrap_err();
        let keys = report.keys();
        for key in [
            "mode",
            "app.client_id",
            "cloud.name",
            "http.connect_timeout",
            "store.kind",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        assert_eq!(report.problems.len(), 5, "{report}");
        let text = report.to_string();
        assert!(
            text.starts_with("configuration error: 5 problems found"),
            "{text}"
        );
        assert!(
            text.contains("app.client_id (from config/default.toml)"),
            "{text}"
        );
        assert!(text.contains("\"not-a-guid\" is not a GUID"), "{text}");
        assert!(text.contains("Application (client) ID"), "{text}");
        assert!(
            text.contains("store.kind (from environment variable SAM_STORE__KIND)"),
            "{text}"
        );
        assert!(
            text.contains("use one of global, china, usgov, custom"),
            "{text}"
        );
        assert!(text.contains("\"soon\" is not a duration"), "{text}");
        assert!(
            !text.contains("hunter2"),
            "a secret leaked into the report: {text}"
        );
        Ok(())
    });
}

#[test]
fn unknown_keys_are_reported_with_a_suggestion() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.create_file("config/local.toml", "[app]\nclient_idd = \"x\"\n")?;
        let report = load(&local_args()).unwrap_err();
        assert_eq!(report.keys(), vec!["app.client_idd"]);
        assert!(
            report.problems[0]
                .fix
                .contains("did you mean `app.client_id`"),
            "{report}"
        );
        assert_eq!(report.problems[0].origin, "config/local.toml");
        Ok(())
    });
}

#[test]
fn a_missing_certificate_file_names_the_key_and_the_path() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.create_file(
            "config/local.toml",
            "[app]\nclient_secret = \"\"\ncertificate_path = \"certs/app.pem\"\n",
        )?;
        let report = load(&local_args()).unwrap().validate().unwrap_err();
        assert_eq!(report.keys(), vec!["app.certificate_path"]);
        let p = &report.problems[0];
        assert_eq!(p.problem, "the file certs/app.pem does not exist");
        assert!(p.fix.contains("PEM certificate of the app"), "{}", p.fix);
        Ok(())
    });
}

#[test]
fn a_certificate_path_that_is_not_a_readable_file_is_refused() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.create_dir("certs")?;
        jail.create_file(
            "config/local.toml",
            "[app]\nclient_secret = \"\"\ncertificate_path = \"certs\"\n",
        )?;
        let report = load(&local_args()).unwrap().validate().unwrap_err();
        assert_eq!(report.keys(), vec!["app.certificate_path"]);
        assert!(
            report.problems[0].problem.contains("not a regular file")
                || report.problems[0].problem.contains("cannot be read"),
            "{report}"
        );
        Ok(())
    });
}

#[test]
fn a_certificate_credential_is_preferred_and_a_secret_warns() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        let s = load(&args()).unwrap().validate().unwrap();
        assert!(matches!(s.app.credential, AppCredential::Secret(_)));
        assert!(s.warnings()[0].contains("recommend a certificate"));

        jail.create_file("app.pem", "-----BEGIN CERTIFICATE-----\n")?;
        jail.create_file(
            "config/local.toml",
            "[app]\nclient_secret = \"\"\ncertificate_path = \"app.pem\"\n",
        )?;
        let s = load(&local_args()).unwrap().validate().unwrap();
        assert!(matches!(
            s.app.credential,
            AppCredential::Certificate(CertificateCredential {
                algorithm: AssertionAlgorithm::Ps256,
                ..
            })
        ));
        assert!(s.warnings().is_empty());
        Ok(())
    });
}

#[test]
fn two_credentials_at_once_are_refused() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.create_file("app.pem", "x")?;
        jail.set_env("SAM_APP__CERTIFICATE_PATH", "app.pem");
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert!(
            report.problems[0]
                .problem
                .contains("more than one credential"),
            "{report}"
        );
        Ok(())
    });
}

#[test]
fn custom_cloud_requires_every_endpoint() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.set_env("SAM_CLOUD__NAME", "custom");
        jail.set_env("SAM_CLOUD__AUTHORITY_HOST", "https://127.0.0.1:8443");
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert_eq!(
            report.keys(),
            vec![
                "cloud.graph_url",
                "cloud.partner_center_url",
                "cloud.key_vault_dns_suffix"
            ]
        );

        jail.set_env("SAM_CLOUD__GRAPH_URL", "https://127.0.0.1:8443/graph");
        jail.set_env(
            "SAM_CLOUD__PARTNER_CENTER_URL",
            "https://127.0.0.1:8443/partnercenter",
        );
        jail.set_env("SAM_CLOUD__KEY_VAULT_DNS_SUFFIX", "vault.localhost:8443");
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(s.cloud.name, CloudName::Custom);
        assert_eq!(
            s.cloud
                .resource_id(crate::cloud::Resource::KeyVault)
                .unwrap(),
            "https://vault.localhost:8443"
        );
        Ok(())
    });
}

#[test]
fn cloud_audiences_default_to_microsofts_app_id_uris_and_are_checked() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.set_env("SAM_CLOUD__NAME", "custom");
        jail.set_env("SAM_CLOUD__AUTHORITY_HOST", "https://127.0.0.1:8443");
        jail.set_env(
            "SAM_CLOUD__GRAPH_URL",
            "https://gateway.contoso.example/graph",
        );
        jail.set_env(
            "SAM_CLOUD__PARTNER_CENTER_URL",
            "https://gateway.contoso.example/partnercenter",
        );
        jail.set_env("SAM_CLOUD__KEY_VAULT_DNS_SUFFIX", "vault.localhost:8443");
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(
            s.cloud.resource_id(crate::cloud::Resource::PartnerCenter),
            Some("https://api.partnercenter.microsoft.com".into()),
            "the gateway's URL is where requests go, not the token's audience"
        );
        assert_eq!(
            s.cloud.default_scope(crate::cloud::Resource::Graph),
            Some("https://graph.microsoft.com/.default".into())
        );

        jail.set_env(
            "SAM_CLOUD__PARTNER_CENTER_AUDIENCE",
            "https://pc.contoso.example/?tenant=x",
        );
        jail.set_env("SAM_CLOUD__GRAPH_AUDIENCE", "http://graph.contoso.example");
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert_eq!(
            report.keys(),
            vec!["cloud.graph_audience", "cloud.partner_center_audience"],
            "{report}"
        );
        let text = report.to_string();
        assert!(text.contains("is not https"), "{text}");
        assert!(text.contains("has a query or fragment"), "{text}");

        jail.set_env("SAM_CLOUD__PARTNER_CENTER_AUDIENCE", "not a uri");
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert!(
            report.keys().contains(&"cloud.partner_center_audience"),
            "{report}"
        );

        jail.set_env(
            "SAM_CLOUD__PARTNER_CENTER_AUDIENCE",
            "https://pc.contoso.example/",
        );
        jail.set_env("SAM_CLOUD__GRAPH_AUDIENCE", "https://graph.contoso.example");
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(
            s.cloud.partner_center_audience,
            "https://pc.contoso.example"
        );
        assert_eq!(
            s.cloud.default_scope(crate::cloud::Resource::PartnerCenter),
            Some("https://pc.contoso.example/.default".into())
        );

        // A preset takes an audience override like any other endpoint.
        jail.set_env("SAM_CLOUD__NAME", "usgov");
        jail.set_env("SAM_CLOUD__AUTHORITY_HOST", "");
        jail.set_env("SAM_CLOUD__GRAPH_URL", "");
        jail.set_env("SAM_CLOUD__PARTNER_CENTER_URL", "");
        jail.set_env("SAM_CLOUD__KEY_VAULT_DNS_SUFFIX", "");
        jail.set_env("SAM_CLOUD__PARTNER_CENTER_AUDIENCE", "");
        jail.set_env("SAM_CLOUD__GRAPH_AUDIENCE", "");
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(s.cloud.graph_audience, "https://graph.microsoft.us");
        assert_eq!(
            s.cloud.partner_center_audience,
            "https://api.partnercenter.microsoft.com"
        );
        Ok(())
    });
}

#[test]
fn national_cloud_presets_are_selected_by_name() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.set_env("SAM_CLOUD__NAME", "china");
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(
            s.cloud.authority_host.as_str(),
            "https://login.chinacloudapi.cn/"
        );
        Ok(())
    });
}

#[test]
fn key_vault_store_reports_each_missing_identity_field() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.set_env("SAM_STORE__KIND", "key-vault");
        jail.set_env(
            "SAM_STORE__KEY_VAULT__VAULT_URL",
            "http://kv.vault.azure.net",
        );
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert_eq!(
            report.keys(),
            vec![
                "store.key_vault.vault_url",
                "store.key_vault.client_id",
                "store.key_vault.client_secret"
            ]
        );
        jail.set_env(
            "SAM_STORE__KEY_VAULT__VAULT_URL",
            "https://kv.vault.azure.net/",
        );
        jail.set_env("SAM_STORE__KEY_VAULT__IDENTITY", "managed-identity");
        let s = load(&args()).unwrap().validate().unwrap();
        assert!(matches!(
            s.store,
            StoreSettings::KeyVault(KeyVaultSettings {
                identity: KeyVaultIdentity::ManagedIdentity { client_id: None },
                ..
            })
        ));
        Ok(())
    });
}

#[test]
fn csp_mode_requires_the_partner_tenant_but_cpv_mode_does_not() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.set_env("SAM_PARTNER__TENANT_ID", "");
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert_eq!(report.keys(), vec!["partner.tenant_id"]);
        jail.set_env("SAM_MODE", "cpv");
        jail.set_env(
            "SAM_PARTNER__ALLOWED_TENANTS",
            format!("{TENANT},contoso.onmicrosoft.com"),
        );
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(s.mode, AppMode::Cpv);
        assert_eq!(
            s.partner.allowed_tenants,
            vec![TENANT.to_owned(), "contoso.onmicrosoft.com".to_owned()]
        );
        Ok(())
    });
}

#[test]
fn malformed_set_flags_and_toml_syntax_are_reported() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        let mut a = args();
        a.set = vec!["no-equals-sign".into()];
        let report = load(&a).unwrap_err();
        assert_eq!(report.keys(), vec!["--set"]);

        jail.create_file("config/local.toml", "[app\nclient_id = ")?;
        let report = load(&local_args()).unwrap_err();
        assert!(
            report.to_string().contains("config/local.toml")
                || report.to_string().contains("local.toml"),
            "{report}"
        );
        Ok(())
    });
}

#[test]
fn the_committed_config_files_are_valid_and_document_every_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let default =
        std::fs::read_to_string(root.join("default.toml")).expect("config/default.toml exists");
    for key in known_keys() {
        let leaf = key.rsplit('.').next().unwrap();
        assert!(
            default.contains(&format!("{leaf} =")) || default.contains(&format!("# {leaf} =")),
            "config/default.toml does not document {key}"
        );
    }
    let local = std::fs::read_to_string(root.join("local.toml")).expect("config/local.toml exists");
    let parsed: RawSettings = Figment::from(Serialized::defaults(RawSettings::default()))
        .merge(Toml::string(&default))
        .merge(Toml::string(&local))
        .extract()
        .expect("default.toml + local.toml parse");
    assert_eq!(parsed.cloud.name, "custom");
    assert_eq!(
        local, LOCAL_PROFILE_TOML,
        "the built-in local profile is config/local.toml"
    );
}

/// The shipped `config/` directory (default.toml and local.toml) next to a production file.
fn shipped_config_with(jail: &mut Jail, production: &str) -> LoadOptions {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    jail.create_dir("config").unwrap();
    for file in ["default.toml", "local.toml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        jail.create_file(format!("config/{file}"), &text).unwrap();
    }
    jail.create_file("prod.toml", production).unwrap();
    LoadOptions {
        config_file: Some(PathBuf::from("prod.toml")),
        ..args()
    }
}

const PRODUCTION: &str = r#"
mode = "csp"
[app]
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "not-a-real-secret"
[partner]
tenant_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
[cloud]
name = "global"
"#;

#[test]
fn secrets_in_key_vault_need_the_key_vault_store_and_exclude_the_file_settings() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.set_env("SAM_APP__CLIENT_SECRET", "");
        jail.set_env("SAM_APP__CERTIFICATE_PATH", "");
        jail.set_env("SAM_APP__CERTIFICATE_SECRET", "sam-app-certificate");
        jail.set_env("SAM_CONSENT__COOKIE_KEY_SECRET", "sam-cookie-key");
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert_eq!(
            report.keys(),
            vec!["app.certificate_secret", "consent.cookie_key_secret"],
            "{report}"
        );
        assert!(report.to_string().contains("key-vault"), "{report}");
        jail.set_env("SAM_STORE__KIND", "key-vault");
        jail.set_env(
            "SAM_STORE__KEY_VAULT__VAULT_URL",
            "https://kv-sam.vault.azure.net/",
        );
        jail.set_env("SAM_STORE__KEY_VAULT__IDENTITY", "managed-identity");
        jail.set_env("SAM_APP__CERTIFICATE_REFRESH", "15m");
        let s = load(&args()).unwrap().validate().unwrap();
        match &s.app.credential {
            AppCredential::Certificate(c) => match &c.source {
                CertificateSource::KeyVault { secret, refresh } => {
                    assert_eq!(secret, "sam-app-certificate");
                    assert_eq!(*refresh, std::time::Duration::from_secs(900));
                }
                other => panic!("{other:?}"),
            },
            AppCredential::Secret(_) => panic!("a certificate was configured"),
        }
        assert_eq!(
            s.consent.cookie_key_secret.as_deref(),
            Some("sam-cookie-key")
        );
        // Two credentials at once are refused.
        jail.set_env("SAM_APP__CLIENT_SECRET", "s3cret");
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert_eq!(report.keys(), vec!["app.client_secret"], "{report}");
        Ok(())
    });
}

#[test]
fn readiness_cache_rate_limits_and_the_internal_address_are_checked() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(s.consent.readyz_cache, std::time::Duration::from_secs(30));
        assert_eq!(s.consent.rate_limit_per_minute.get(), 30);
        assert_eq!(s.consent.internal_listen, None);
        jail.set_env("SAM_CONSENT__READYZ_CACHE", "soon");
        jail.set_env("SAM_CONSENT__RATE_LIMIT_BURST", "0");
        jail.set_env("SAM_CONSENT__INTERNAL_LISTEN", "127.0.0.1:8080");
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert_eq!(
            report.keys(),
            vec![
                "consent.readyz_cache",
                "consent.rate_limit_burst",
                "consent.internal_listen"
            ],
            "{report}"
        );
        jail.set_env("SAM_CONSENT__READYZ_CACHE", "5s");
        jail.set_env("SAM_CONSENT__RATE_LIMIT_BURST", "3");
        jail.set_env("SAM_CONSENT__INTERNAL_LISTEN", "0.0.0.0:9090");
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(s.consent.readyz_cache, std::time::Duration::from_secs(5));
        assert_eq!(
            s.consent.internal_listen,
            Some("0.0.0.0:9090".parse().unwrap())
        );
        Ok(())
    });
}

#[test]
fn trusted_proxies_are_addresses_or_networks_and_none_by_default() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        let s = load(&args()).unwrap().validate().unwrap();
        assert!(s.consent.trusted_proxies.is_empty());
        assert_eq!(s.consent.trusted_proxy_hops, 0);
        jail.set_env(
            "SAM_CONSENT__TRUSTED_PROXIES",
            "[\"10.0.0.0/8\", \"::1\", \"proxy.internal\"]",
        );
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert_eq!(report.keys(), vec!["consent.trusted_proxies"], "{report}");
        let text = report.to_string();
        assert!(text.contains("entry 3 (\"proxy.internal\")"), "{text}");
        jail.set_env("SAM_CONSENT__TRUSTED_PROXIES", "[\"10.1.2.3/8\", \"::1\"]");
        jail.set_env("SAM_CONSENT__TRUSTED_PROXY_HOPS", "1");
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(
            s.consent.trusted_proxies,
            vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
        );
        assert_eq!(s.consent.trusted_proxy_hops, 1);
        Ok(())
    });
}

#[test]
fn a_loopback_redirect_url_on_another_port_than_listen_is_a_warning() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(s.consent.listen_warning(), None, "the defaults agree");
        assert_eq!(s.consent.landing_url().as_str(), "http://localhost:8080/");
        jail.set_env("SAM_CONSENT__LISTEN", "127.0.0.1:9000");
        let s = load(&args()).unwrap().validate().unwrap();
        let warning = s.consent.listen_warning().expect("a warning");
        assert!(
            warning.contains("port 8080") && warning.contains("port 9000"),
            "{warning}"
        );
        assert!(s.warnings().contains(&warning));
        // Behind a proxy the public URL's port says nothing about the listener.
        jail.set_env(
            "SAM_CONSENT__REDIRECT_URL",
            "https://consent.contoso.example/callback",
        );
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(s.consent.listen_warning(), None);
        assert_eq!(
            s.consent.landing_url().as_str(),
            "https://consent.contoso.example/"
        );
        Ok(())
    });
}

#[test]
fn any_partner_tenant_is_the_explicit_star_alone() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.set_env("SAM_MODE", "cpv");
        jail.set_env("SAM_PARTNER__ALLOWED_TENANTS", "[\"*\"]");
        let s = load(&args()).unwrap().validate().unwrap();
        assert_eq!(s.partner.allowed_tenants, vec!["*".to_owned()]);
        jail.set_env(
            "SAM_PARTNER__ALLOWED_TENANTS",
            "[\"*\", \"10000000-0000-4000-8000-000000000001\"]",
        );
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert_eq!(report.keys(), vec!["partner.allowed_tenants"], "{report}");
        assert!(report.to_string().contains("alone"), "{report}");
        Ok(())
    });
}

#[test]
fn a_secret_of_the_wrong_type_is_never_echoed() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.set_env("SAM_APP__CLIENT_SECRET", "123456789");
        jail.set_env("SAM_STORE__LOCAL__KEY", "true");
        let report = match load(&args()) {
            Err(report) => report,
            Ok(loaded) => loaded.validate().unwrap_err(),
        };
        let text = report.to_string();
        assert!(!text.contains("123456789"), "{text}");
        assert!(
            text.contains("app.client_secret") && text.contains("not shown"),
            "{text}"
        );
        assert!(text.contains("SAM_APP__CLIENT_SECRET='\"…\"'"), "{text}");
        // A non-secret key still shows what was wrong.
        jail.set_env("SAM_APP__CLIENT_SECRET", "s3cret-value");
        jail.set_env("SAM_STORE__LOCAL__KEY", "a-key");
        jail.set_env("SAM_PARTNER__TENANT_ID", "[1, 2]");
        let report = match load(&args()) {
            Err(report) => report,
            Ok(loaded) => loaded.validate().unwrap_err(),
        };
        assert!(report.to_string().contains("sequence"), "{report}");
        Ok(())
    });
}

#[test]
fn a_sign_in_host_is_https_or_loopback_http_and_only_for_a_custom_cloud() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        // Microsoft's clouds sign in at their authority host.
        jail.set_env("SAM_ENTRA__SIGN_IN_HOST", "https://login.example.com");
        let report = load(&args()).unwrap().validate().unwrap_err();
        assert_eq!(report.keys(), vec!["entra.sign_in_host"], "{report}");
        assert!(report.to_string().contains("custom"), "{report}");

        jail.set_env("SAM_CLOUD__NAME", "custom");
        jail.set_env("SAM_CLOUD__AUTHORITY_HOST", "https://127.0.0.1:8443");
        jail.set_env("SAM_CLOUD__GRAPH_URL", "https://127.0.0.1:8443/graph");
        jail.set_env(
            "SAM_CLOUD__PARTNER_CENTER_URL",
            "https://127.0.0.1:8443/partnercenter",
        );
        jail.set_env("SAM_CLOUD__KEY_VAULT_DNS_SUFFIX", "vault.localhost:8443");
        for ok in [
            "https://login.example.com",
            "http://127.0.0.1:8480",
            "http://[::1]:8480",
            "http://localhost:8480",
        ] {
            jail.set_env("SAM_ENTRA__SIGN_IN_HOST", ok);
            let s = load(&args()).unwrap().validate().unwrap();
            assert_eq!(
                s.entra.sign_in_host.as_ref().map(|u| u.origin()),
                Some(url::Url::parse(ok).unwrap().origin()),
                "{ok}"
            );
        }
        for bad in [
            "http://10.0.0.5:8480",
            "http://login.example.com",
            "ftp://127.0.0.1",
        ] {
            jail.set_env("SAM_ENTRA__SIGN_IN_HOST", bad);
            let report = load(&args()).unwrap().validate().unwrap_err();
            assert_eq!(report.keys(), vec!["entra.sign_in_host"], "{bad}: {report}");
            let fix = if bad.starts_with("http:") {
                "loopback"
            } else {
                "scheme"
            };
            assert!(report.to_string().contains(fix), "{report}");
        }
        Ok(())
    });
}

#[test]
fn a_production_file_next_to_the_shipped_config_gets_the_global_cloud() {
    Jail::expect_with(|jail| {
        let options = shipped_config_with(jail, PRODUCTION);
        let loaded = load_with_env(&options, None).unwrap();
        assert_eq!(loaded.profile, None);
        let s = loaded.validate().unwrap();
        assert_eq!(s.cloud.name, CloudName::Global);
        assert_eq!(
            s.cloud.authority_host.as_str(),
            "https://login.microsoftonline.com/"
        );
        assert!(!s.cloud.graph.as_str().contains("127.0.0.1"));
        assert!(s.http.ca_bundle.is_none(), "no emulator CA");
        assert!(
            s.warnings()
                .iter()
                .all(|w| !w.contains("outside the local profile"))
        );
        Ok(())
    });
}

#[test]
fn a_named_cloud_over_the_local_profile_s_urls_is_an_error_naming_both_files() {
    Jail::expect_with(|jail| {
        let mut options = shipped_config_with(jail, PRODUCTION);
        options.profile = Some(LOCAL_PROFILE.into());
        let report = load_with_env(&options, None).unwrap_err();
        assert!(report.keys().contains(&"cloud.authority_host"), "{report}");
        let p = report
            .problems
            .iter()
            .find(|p| p.key == "cloud.authority_host")
            .unwrap();
        assert_eq!(p.origin, "config/local.toml");
        assert!(p.problem.contains("prod.toml"), "{}", p.problem);
        // The same with the built-in local profile (no local.toml in the directory).
        std::fs::remove_file("config/local.toml").unwrap();
        let report = load_with_env(&options, Some("local".into())).unwrap_err();
        assert!(
            report.to_string().contains("built-in local profile"),
            "{report}"
        );
        Ok(())
    });
}

#[test]
fn the_built_in_local_profile_applies_from_any_directory() {
    Jail::expect_with(|_jail| {
        let loaded = load_with_env(&args(), Some(LOCAL_PROFILE.into())).unwrap();
        assert_eq!(loaded.raw.cloud.name, "custom");
        assert_eq!(
            loaded.origin("cloud.authority_host"),
            "built-in local profile (config/local.toml)"
        );
        Ok(())
    });
}

#[test]
fn a_loopback_authority_outside_the_local_profile_warns() {
    Jail::expect_with(|jail| {
        let options = shipped_config_with(
            jail,
            &PRODUCTION.replace(
                "name = \"global\"",
                "name = \"global\"\nauthority_host = \"https://127.0.0.1:8443\"",
            ),
        );
        let s = load_with_env(&options, None).unwrap().validate().unwrap();
        assert!(
            s.warnings()
                .iter()
                .any(|w| w.contains("outside the local profile")),
            "{:?}",
            s.warnings()
        );
        Ok(())
    });
}

#[test]
fn raw_settings_debug_never_shows_secrets() {
    let mut raw = RawSettings::default();
    raw.app.client_secret = "very-secret-1".into();
    raw.store.key_vault.client_secret = "very-secret-2".into();
    raw.consent.cookie_key = "very-secret-3".into();
    raw.store.local.key = "very-secret-4".into();
    let printed = format!("{raw:?}");
    assert!(!printed.contains("very-secret"), "{printed}");
}

#[test]
fn sam_variables_of_other_tools_are_ignored_but_a_misspelt_key_in_a_section_is_not() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.set_env("SAM_EMULATOR_PORT", "9443");
        jail.set_env("SAM_TEST_PYTHON", "/usr/bin/python3");
        assert!(load(&args()).is_ok());
        jail.set_env("SAM_APP__CLIENTID", "x");
        let report = load(&args()).unwrap_err();
        assert_eq!(report.keys(), vec!["app.clientid"]);
        assert_eq!(
            report.problems[0].origin,
            "environment variable SAM_APP__CLIENTID"
        );
        Ok(())
    });
}

#[test]
fn an_unknown_enum_value_names_the_key_and_lists_the_accepted_values() {
    let mut raw = RawSettings::default();
    raw.app.client_id = CLIENT_ID.into();
    raw.app.client_secret = "x".into();
    raw.partner.tenant_id = TENANT.into();
    raw.log.format = "xml".into();
    raw.entra.endpoint_version = "v3".into();
    raw.store.kind = "key-vault".into();
    raw.store.key_vault.vault_url = "https://kv.vault.azure.net/".into();
    raw.store.key_vault.identity = "password".into();
    let report = raw.validate().unwrap_err();
    assert_eq!(
        report.keys(),
        vec![
            "entra.endpoint_version",
            "store.key_vault.identity",
            "log.format"
        ]
    );
    assert_eq!(
        report.problems[0].problem,
        "\"v3\" is not an endpoint version"
    );
    assert!(report.problems[0].fix.starts_with("use one of v1, v2"));
    assert_eq!(
        report.problems[1].fix,
        "use one of client-secret, client-certificate, managed-identity, workload-identity"
    );
    assert_eq!(report.problems[2].problem, "\"xml\" is not a log format");
    assert_eq!(report.problems[2].fix, "use one of text, json");
}

/// Raw settings shaped like the file `setup` writes: a custom cloud, Key Vault with a client
/// secret (which must not be written), a CA bundle, and a default cleared to empty.
fn setup_like_raw() -> RawSettings {
    let mut raw = RawSettings {
        mode: "cpv".into(),
        ..RawSettings::default()
    };
    raw.app.client_id = CLIENT_ID.into();
    raw.app.display_name = String::new();
    raw.app.certificate_path = "certs/app.pem".into();
    raw.app.private_key_path = "certs/app-key.pem".into();
    raw.partner.tenant_id = TENANT.into();
    raw.partner.allowed_tenants = StringList(vec![TENANT.into(), "contoso.onmicrosoft.com".into()]);
    raw.cloud.name = "custom".into();
    raw.cloud.authority_host = "https://127.0.0.1:8443".into();
    raw.cloud.graph_url = "https://127.0.0.1:8443/graph".into();
    raw.cloud.partner_center_url = "https://127.0.0.1:8443/partnercenter".into();
    raw.cloud.key_vault_dns_suffix = "vault.localhost:8443".into();
    raw.entra.endpoint_version = "v2".into();
    raw.consent.redirect_url = "https://consent.contoso.com/callback".into();
    raw.store.kind = "key-vault".into();
    raw.store.key_vault.vault_url = "https://contoso.vault.azure.net/".into();
    raw.store.key_vault.client_id = CLIENT_ID.into();
    raw.store.key_vault.client_secret = "kv-secret-never-written".into();
    raw.http.ca_bundle = "ca \"quoted\" path.pem".into();
    raw
}

/// Writes `text` as the `--config` file over an empty configuration directory and loads it.
fn load_rendered(jail: &mut Jail, text: &str) -> Result<RawSettings, ConfigReport> {
    jail.create_file("written.toml", text).unwrap();
    let options = LoadOptions {
        config_file: Some("written.toml".into()),
        config_dir: PathBuf::from("no-config-dir"),
        ..LoadOptions::default()
    };
    load_with_env(&options, None).map(|loaded| loaded.raw)
}

#[test]
fn a_rendered_configuration_loads_back_to_the_same_raw_settings_without_its_secrets() {
    Jail::expect_with(|jail| {
        let raw = setup_like_raw();
        let text = render_toml(&raw, "Written by a test.\n\nIt holds no secret.");
        assert!(
            text.starts_with("# Written by a test.\n#\n# It holds no secret.\n"),
            "{text}"
        );
        assert!(!text.contains("kv-secret-never-written"), "{text}");
        assert!(
            text.contains(
                "#   SAM_STORE__KEY_VAULT__CLIENT_SECRET (store.key_vault.client_secret)"
            ),
            "{text}"
        );
        // Unset optional values are left out; a default cleared to empty is written as "".
        assert!(!text.contains("pkcs12_path"), "{text}");
        assert!(text.contains("display_name = \"\""), "{text}");

        let loaded = load_rendered(jail, &text).expect("the rendered file loads");
        let mut expected = raw.clone();
        expected.store.key_vault.client_secret = String::new();
        assert_eq!(loaded, expected);
        Ok(())
    });
}

#[test]
fn rendering_the_defaults_writes_only_what_differs_from_empty() {
    let text = render_toml(&RawSettings::default(), "");
    assert!(!text.starts_with('#'), "{text}");
    assert!(text.contains("mode = \"csp\""), "{text}");
    assert!(!text.contains("client_id"), "{text}");
    assert!(!text.contains("allowed_tenants"), "{text}");
    assert!(!text.contains("Secrets"), "{text}");
}

fn arbitrary_raw() -> impl Strategy<Value = RawSettings> {
    (
        prop::sample::select(vec!["csp", "cpv", "", "reseller"]),
        ".{0,24}",
        prop::collection::vec("[^,]{0,12}", 0..4),
        "(https://[a-z0-9.]{1,16}/?)?",
        ".{0,12}",
        prop::sample::select(vec!["local", "key-vault", ""]),
        "[ -~]{0,16}",
    )
        .prop_map(
            |(mode, display_name, tenants, graph_url, timeout, kind, secret)| {
                let mut raw = RawSettings {
                    mode: mode.into(),
                    ..RawSettings::default()
                };
                raw.app.display_name = display_name;
                raw.partner.allowed_tenants = StringList(tenants);
                raw.cloud.graph_url = graph_url;
                raw.http.connect_timeout = timeout;
                raw.store.kind = kind.into();
                raw.app.client_secret = secret;
                raw
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_rendered_configuration_loads_back_to_its_raw_settings(raw in arbitrary_raw()) {
        let text = render_toml(&raw, "property test");
        let mut expected = raw.clone();
        expected.app.client_secret = String::new();
        let mut loaded = None;
        Jail::expect_with(|jail| {
            loaded = Some(load_rendered(jail, &text));
            Ok(())
        });
        let loaded = loaded.expect("the jail ran");
        prop_assert_eq!(loaded, Ok(expected), "{}", text);
        if !raw.app.client_secret.is_empty() {
            prop_assert!(!text.contains(&format!("= {:?}", raw.app.client_secret)), "{}", text);
        }
    }
}

/// The word tables of the configuration's enums ([`crate::words`]).
mod words {
    use crate::cloud::CloudName;
    use crate::config::{
        AppMode, AssertionAlgorithm, EndpointVersion, KeyVaultIdentityKind, LogFormat, StoreKind,
    };
    use crate::words::Words;

    #[test]
    fn words_parse_ignoring_case_and_print_canonically() {
        assert_eq!(" JSON ".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(LogFormat::Json.to_string(), "json");
        assert_eq!(
            "ps256".parse::<AssertionAlgorithm>(),
            Ok(AssertionAlgorithm::Ps256)
        );
        assert_eq!(AssertionAlgorithm::Rs256.to_string(), "RS256");
        assert_eq!("2.0".parse::<EndpointVersion>(), Ok(EndpointVersion::V2));
        assert_eq!("keyvault".parse::<StoreKind>(), Ok(StoreKind::KeyVault));
        assert_eq!(StoreKind::KeyVault.to_string(), "key-vault");
        assert_eq!("AzureChinaCloud".parse::<CloudName>(), Ok(CloudName::China));
        assert_eq!(
            KeyVaultIdentityKind::WorkloadIdentity.to_string(),
            "workload-identity"
        );
    }

    #[test]
    fn an_unknown_word_lists_the_accepted_values() {
        let e = "reseller".parse::<AppMode>().unwrap_err();
        assert_eq!(e.problem(), "\"reseller\" is not a mode");
        assert_eq!(e.fix(), "use one of csp, cpv");
        assert_eq!(
            "mars".parse::<CloudName>().unwrap_err().to_string(),
            "\"mars\" is not a cloud; use one of global, china, usgov, custom"
        );
    }

    #[test]
    fn serde_uses_the_same_words() {
        assert_eq!(serde_json::to_string(&LogFormat::Json).unwrap(), "\"json\"");
        let v: EndpointVersion = serde_json::from_str("\"V1\"").unwrap();
        assert_eq!(v, EndpointVersion::V1);
        let e = serde_json::from_str::<StoreKind>("\"dropbox\"").unwrap_err();
        assert!(e.to_string().contains("use one of local, key-vault"), "{e}");
    }

    #[test]
    fn every_value_has_a_canonical_spelling() {
        fn check<T: Words + std::fmt::Debug>() {
            for (value, spellings) in T::SPELLINGS {
                assert!(!spellings.is_empty(), "{value:?} has no spelling");
                assert_eq!(T::parse_word(value.word()), Ok(*value));
            }
        }
        check::<AppMode>();
        check::<AssertionAlgorithm>();
        check::<EndpointVersion>();
        check::<StoreKind>();
        check::<KeyVaultIdentityKind>();
        check::<LogFormat>();
        check::<CloudName>();
    }
}

#[test]
fn relative_paths_resolve_against_the_file_that_set_them() {
    Jail::expect_with(|jail| {
        write_valid_default(jail);
        jail.create_file(
            "config/prod.toml",
            "[store.local]\npath = \"state/tokens.enc\"\n",
        )?;
        jail.create_dir("deploy/sam")?;
        jail.create_file(
            "deploy/sam/app.toml",
            "[store.local]\nkey_file = \"keys/store.key\"\n[http]\nca_bundle = \"/etc/ssl/ca.pem\"\n[app]\npkcs12_path = \"../app.pfx\"\n",
        )?;
        let options = LoadOptions {
            profile: Some("prod".into()),
            config_file: Some(PathBuf::from("deploy/sam/app.toml")),
            ..args()
        };
        jail.set_env("SAM_APP__CERTIFICATE_PATH", "env/app.pem");
        let raw = load_with_env(&options, None).unwrap().raw;
        // A file of the configuration directory: against its parent (the working directory here).
        assert_eq!(raw.store.local.path, "state/tokens.enc");
        // Any other file: against its own directory; absolute paths stay as they are.
        assert_eq!(raw.store.local.key_file, "deploy/sam/keys/store.key");
        assert_eq!(raw.app.pkcs12_path, "deploy/sam/../app.pfx");
        assert_eq!(raw.http.ca_bundle, "/etc/ssl/ca.pem");
        // The environment: against the working directory.
        assert_eq!(raw.app.certificate_path, "env/app.pem");
        Ok(())
    });
}

#[test]
fn a_path_is_written_relative_to_the_directory_it_resolves_against() {
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        path_base(Path::new("config/production.toml"), Path::new("config")),
        PathBuf::new()
    );
    assert_eq!(
        path_base(Path::new("/srv/sam/app.toml"), Path::new("config")),
        PathBuf::from("/srv/sam")
    );
    assert_eq!(
        path_for_file(Path::new("secrets/app.pem"), Path::new("")),
        PathBuf::from("secrets/app.pem")
    );
    assert_eq!(
        path_for_file(&cwd.join("srv/secrets/app.pem"), Path::new("srv")),
        PathBuf::from("secrets/app.pem")
    );
    assert_eq!(
        path_for_file(Path::new("/elsewhere/app.pem"), Path::new("srv")),
        PathBuf::from("/elsewhere/app.pem")
    );
}
