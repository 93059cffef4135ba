//! Validation: [`RawSettings`] → [`Settings`], one function per section, every problem collected
//! into one [`ConfigReport`].

mod checker;
mod cloud;
mod store;
mod templates;
mod watch;

pub use self::templates::tenant_or_domain;

use std::net::SocketAddr;

use self::checker::{Checker, decode_base64, set};
use super::{
    AppCredential, AppMode, AppSettings, AssertionAlgorithm, CertificateCredential,
    CertificateSource, ConfigReport, ConsentSettings, EndpointVersion, EntraSettings, HttpSettings,
    LogFormat, LogSettings, PartnerSettings, RawSettings, Settings, SignInFlow,
};
use crate::secret::{ClientSecret, Password};
use crate::words::{Words, impl_words};

impl RawSettings {
    /// Validates without origin information (every value reported as "configuration").
    pub fn validate(&self) -> Result<Settings, ConfigReport> {
        self.validate_with(&|_| "configuration".to_owned())
    }

    /// Validates, asking `origin` where a key's value came from for each problem.
    pub(crate) fn validate_with(
        &self,
        origin: &dyn Fn(&str) -> String,
    ) -> Result<Settings, ConfigReport> {
        let mut c = Checker::new(origin);
        let mode = c.word::<AppMode>(
            "mode",
            &self.mode,
            None,
            " (csp: one partner tenant; cpv: a Control Panel Vendor serving many partners)",
        );
        let app = self.validate_app(&mut c);
        let partner = self.validate_partner(&mut c, mode);
        let cloud = self.validate_cloud(&mut c);
        let entra = self.validate_entra(&mut c);
        let consent = self.validate_consent(&mut c);
        let store = self.validate_store(&mut c, partner.tenant_id.as_deref());
        // Secrets read from Key Vault come from the store's vault, through its identity.
        if !matches!(store, Some(super::StoreSettings::KeyVault(_))) && store.is_some() {
            for (key, value) in [
                ("app.certificate_secret", &self.app.certificate_secret),
                ("consent.cookie_key_secret", &self.consent.cookie_key_secret),
            ] {
                if set(value).is_some() {
                    c.fail(
                        key,
                        "names a Key Vault secret, but store.kind is not \"key-vault\"",
                        "set store.kind = \"key-vault\" (the secret is read from that vault with its identity), or use the file setting instead",
                    );
                }
            }
        }
        let http = self.validate_http(&mut c);
        let log = self.validate_log(&mut c);
        let watch = self.validate_watch(&mut c);
        let customers = self.validate_customers(&mut c);
        let customer_permissions = self.validate_customer_permissions(&mut c);
        let templates = self.validate_templates(&mut c);
        let (Some(customers), Some(customer_permissions), Some(templates)) =
            (customers, customer_permissions, templates)
        else {
            return Err(ConfigReport {
                problems: c.problems,
            });
        };
        match (mode, app, cloud, entra, consent, store, http, log) {
            (
                Some(mode),
                Some(app),
                Some(cloud),
                Some(entra),
                Some(consent),
                Some(store),
                Some(http),
                Some(log),
            ) if c.problems.is_empty() => Ok(Settings {
                mode,
                app,
                partner,
                cloud,
                entra,
                consent,
                store,
                http,
                log,
                watch,
                customers,
                customer_permissions,
                templates,
                profile: None,
            }),
            _ => Err(ConfigReport {
                problems: c.problems,
            }),
        }
    }

    /// `[app]`: the client ID and exactly one credential.
    fn validate_app(&self, c: &mut Checker<'_>) -> Option<AppSettings> {
        let client_id = match uuid::Uuid::parse_str(self.app.client_id.trim()) {
            Ok(id) => Some(id.to_string()),
            Err(_) => {
                let problem = if self.app.client_id.trim().is_empty() {
                    "is empty".to_owned()
                } else {
                    format!("{:?} is not a GUID", self.app.client_id.trim())
                };
                c.fail(
                    "app.client_id",
                    problem,
                    "set it to the Application (client) ID of the multitenant app (Entra ID > App registrations > Overview), e.g. SAM_APP__CLIENT_ID=…",
                );
                None
            }
        };
        let algorithm = c.word(
            "app.assertion_algorithm",
            &self.app.assertion_algorithm,
            Some(AssertionAlgorithm::Ps256),
            " (PS256 is recommended)",
        );
        let credential = self.validate_app_credential(c, algorithm);
        Some(AppSettings {
            client_id: client_id?,
            display_name: self.app.display_name.trim().to_owned(),
            credential: credential?,
        })
    }

    /// The app's one credential: a PEM certificate, a PKCS#12 file or a client secret.
    fn validate_app_credential(
        &self,
        c: &mut Checker<'_>,
        algorithm: Option<AssertionAlgorithm>,
    ) -> Option<AppCredential> {
        let app = &self.app;
        let has_cert = set(&app.certificate_path).is_some();
        let has_p12 = set(&app.pkcs12_path).is_some();
        let has_secret = set(&app.client_secret).is_some();
        let has_vault = set(&app.certificate_secret).is_some();
        match [has_cert, has_p12, has_secret, has_vault]
            .iter()
            .filter(|b| **b)
            .count()
        {
            0 => {
                c.fail(
                    "app.certificate_path",
                    "the application has no credential",
                    "set app.certificate_path (PEM, preferred), app.certificate_secret (a certificate in the store's Key Vault), app.pkcs12_path (PFX) or, if you must, app.client_secret (best through SAM_APP__CLIENT_SECRET)",
                );
                return None;
            }
            1 => {}
            _ => {
                c.fail(
                    "app.client_secret",
                    "more than one credential is configured (certificate, PKCS#12, client secret, Key Vault certificate)",
                    "keep exactly one of app.certificate_path, app.pkcs12_path, app.client_secret and app.certificate_secret",
                );
                return None;
            }
        }
        if has_secret {
            return Some(AppCredential::Secret(ClientSecret::new(
                app.client_secret.trim(),
            )));
        }
        let source = if has_vault {
            let refresh = c.duration("app.certificate_refresh", &app.certificate_refresh);
            CertificateSource::KeyVault {
                secret: app.certificate_secret.trim().to_owned(),
                refresh: refresh?,
            }
        } else if has_cert {
            let cert = c.readable_file(
                "app.certificate_path",
                &app.certificate_path,
                "PEM certificate of the app",
            );
            let key = match set(&app.private_key_path) {
                Some(path) => c.readable_file(
                    "app.private_key_path",
                    path,
                    "PEM private key of the app's certificate",
                ),
                None => cert.clone(),
            };
            CertificateSource::Pem {
                certificate: cert?,
                private_key: key?,
            }
        } else {
            let path = c.readable_file(
                "app.pkcs12_path",
                &app.pkcs12_path,
                "PKCS#12 (.pfx) file of the app",
            );
            CertificateSource::Pkcs12 {
                path: path?,
                password: set(&app.pkcs12_password).map(Password::new),
            }
        };
        Some(AppCredential::Certificate(CertificateCredential {
            source,
            algorithm: algorithm?,
        }))
    }

    /// `[partner]`: the partner tenant (required in CSP mode) and the CPV allow-list.
    fn validate_partner(&self, c: &mut Checker<'_>, mode: Option<AppMode>) -> PartnerSettings {
        let tenant_id = match set(&self.partner.tenant_id) {
            Some(v) => c.tenant("partner.tenant_id", v, false),
            None => {
                if mode == Some(AppMode::Csp) {
                    c.fail(
                        "partner.tenant_id",
                        "is empty, but mode is \"csp\"",
                        "set it to the partner tenant ID (a GUID): only this tenant may consent, and its token is the one the CSP app uses",
                    );
                }
                None
            }
        };
        let listed = &self.partner.allowed_tenants.0;
        let allowed_tenants = if listed.iter().any(|t| t.trim() == "*") {
            // "*" is the explicit "any partner tenant" of a CPV that serves everyone.
            if listed.len() > 1 {
                c.fail(
                    "partner.allowed_tenants",
                    "mixes \"*\" with tenant IDs",
                    "write [\"*\"] alone to let any partner tenant consent, or list only tenant IDs",
                );
            }
            vec!["*".to_owned()]
        } else {
            listed
                .iter()
                .filter_map(|t| c.tenant("partner.allowed_tenants", t, false))
                .collect()
        };
        PartnerSettings {
            tenant_id,
            allowed_tenants,
        }
    }

    /// `[entra]`: endpoint version and the consent sign-in's tenant segment.
    fn validate_entra(&self, c: &mut Checker<'_>) -> Option<EntraSettings> {
        let endpoint_version = c.word::<EndpointVersion>(
            "entra.endpoint_version",
            &self.entra.endpoint_version,
            None,
            " (v1: resource=, as the Partner Center samples; v2: scope=)",
        );
        let authority_tenant =
            c.tenant("entra.authority_tenant", &self.entra.authority_tenant, true);
        let sign_in_host = self.validate_sign_in_host(c);
        Some(EntraSettings {
            endpoint_version: endpoint_version?,
            authority_tenant: authority_tenant?,
            sign_in_host: sign_in_host?,
        })
    }

    /// `entra.sign_in_host`: https, or plain http only on this machine (the emulator's sign-in
    /// pages, which a browser opens without a certificate exception); only for a `custom` cloud
    /// (Microsoft's clouds sign in at their authority host).
    fn validate_sign_in_host(&self, c: &mut Checker<'_>) -> Option<Option<url::Url>> {
        const KEY: &str = "entra.sign_in_host";
        let Some(value) = checker::set(&self.entra.sign_in_host) else {
            return Some(None);
        };
        if !self.cloud.name.trim().eq_ignore_ascii_case("custom") {
            c.fail(
                KEY,
                "is set for one of Microsoft's clouds",
                "remove it: Microsoft's clouds sign in at their authority host (it is for cloud.name = \"custom\", the local emulator)",
            );
            return None;
        }
        let url = c.url(KEY, value, "give the sign-in pages' base URL")?;
        match url.scheme() {
            "https" => Some(Some(url)),
            "http" if crate::config::settings::is_loopback(&url) => Some(Some(url)),
            _ => {
                c.fail(
                    KEY,
                    format!("{value:?} is neither https nor plain http on this machine"),
                    "use https, or http only with a loopback address (127.0.0.1, [::1], localhost)",
                );
                None
            }
        }
    }

    /// `[consent]`: listen address, redirect URL, `prompt` and the cookie key.
    fn validate_consent(&self, c: &mut Checker<'_>) -> Option<ConsentSettings> {
        let consent = &self.consent;
        let listen = match consent.listen.trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                c.fail(
                    "consent.listen",
                    format!("{:?} is not an address:port", consent.listen.trim()),
                    "write it as 127.0.0.1:8080 or 0.0.0.0:8080",
                );
                None
            }
        };
        let redirect_url = c.url(
            "consent.redirect_url",
            &consent.redirect_url,
            "set it to the redirect URL registered on the app (Authentication > Web > Redirect URIs), e.g. https://consent.contoso.com/callback",
        );
        if let Some(u) = &redirect_url {
            let loopback = u
                .host_str()
                .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]");
            if u.scheme() == "http" && !loopback {
                c.fail(
                    "consent.redirect_url",
                    format!("{u} uses http on a host other than localhost"),
                    "Entra ID accepts http redirect URLs only on localhost; serve the consent app over https",
                );
            }
        }
        // "none-given" is the legacy spelling of "send no prompt".
        let prompt = match consent.prompt.trim() {
            "" | "none-given" => None,
            value => c
                .word::<Prompt>("consent.prompt", value, None, ", or leave it empty")
                .map(|p| p.to_string()),
        };
        let sign_in_flow = c.word(
            "consent.sign_in_flow",
            &consent.sign_in_flow,
            Some(SignInFlow::Hybrid),
            "",
        );
        let cookie_key = match set(&consent.cookie_key) {
            None => None,
            Some(v) => match decode_base64(v) {
                Some(bytes) if bytes.len() >= 64 => Some(secrecy::SecretSlice::from(bytes)),
                _ => {
                    c.fail(
                        "consent.cookie_key",
                        "is not base64 of at least 64 bytes (value not shown)",
                        "generate one with `openssl rand -base64 64` and set SAM_CONSENT__COOKIE_KEY; every instance behind a load balancer needs the same key",
                    );
                    None
                }
            },
        };
        let readyz_cache = match humantime::parse_duration(consent.readyz_cache.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                c.fail(
                    "consent.readyz_cache",
                    format!("{:?} is not a duration ({e})", consent.readyz_cache.trim()),
                    "write a duration such as \"30s\" or \"0s\" (no caching)",
                );
                None
            }
        };
        let positive = |c: &mut Checker<'_>, key: &str, n: u32| {
            let v = std::num::NonZeroU32::new(n);
            if v.is_none() {
                c.fail(key, "is 0", "give a positive number of requests");
            }
            v
        };
        let per_minute = positive(
            c,
            "consent.rate_limit_per_minute",
            consent.rate_limit_per_minute,
        );
        let burst = positive(c, "consent.rate_limit_burst", consent.rate_limit_burst);
        let internal_listen = match set(&consent.internal_listen) {
            None => Some(None),
            Some(v) => match v.parse::<SocketAddr>() {
                Ok(a) if Some(a) == listen && a.port() != 0 => {
                    c.fail(
                        "consent.internal_listen",
                        format!("{a} is consent.listen too"),
                        "give another address (e.g. 0.0.0.0:9090 on the internal network), or leave it empty to serve /readyz and /metrics on consent.listen",
                    );
                    None
                }
                Ok(a) => Some(Some(a)),
                Err(_) => {
                    c.fail(
                        "consent.internal_listen",
                        format!("{v:?} is not an address:port"),
                        "write it like 0.0.0.0:9090, or leave it empty",
                    );
                    None
                }
            },
        };
        let trusted_proxies = trusted_proxies(c, &consent.trusted_proxies);
        let cookie_key_secret = set(&consent.cookie_key_secret).map(str::to_owned);
        if cookie_key.is_some() && cookie_key_secret.is_some() {
            c.fail(
                "consent.cookie_key_secret",
                "is set together with consent.cookie_key",
                "keep one: the key itself (consent.cookie_key) or the Key Vault secret that holds it",
            );
        }
        Some(ConsentSettings {
            listen: listen?,
            redirect_url: redirect_url?,
            prompt,
            sign_in_flow: sign_in_flow?,
            cookie_key,
            cookie_key_secret,
            readyz_cache: readyz_cache?,
            rate_limit_per_minute: per_minute?,
            rate_limit_burst: burst?,
            internal_listen: internal_listen?,
            trusted_proxies: trusted_proxies?,
            trusted_proxy_hops: consent.trusted_proxy_hops,
        })
    }

    /// `[http]`: extra CA bundle and timeouts.
    fn validate_http(&self, c: &mut Checker<'_>) -> Option<HttpSettings> {
        let ca_bundle = set(&self.http.ca_bundle).and_then(|p| {
            c.readable_file("http.ca_bundle", p, "PEM bundle of extra CA certificates")
        });
        let connect_timeout = c.duration("http.connect_timeout", &self.http.connect_timeout);
        let request_timeout = c.duration("http.request_timeout", &self.http.request_timeout);
        Some(HttpSettings {
            ca_bundle,
            connect_timeout: connect_timeout?,
            request_timeout: request_timeout?,
        })
    }

    /// `[log]`: format and filter.
    fn validate_log(&self, c: &mut Checker<'_>) -> Option<LogSettings> {
        let format = c.word("log.format", &self.log.format, Some(LogFormat::Text), "");
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(self.log.filter.trim()) {
            c.fail(
                "log.filter",
                format!("{:?} is not a filter ({e})", self.log.filter.trim()),
                "use RUST_LOG syntax, e.g. \"info\" or \"common=debug,info\"",
            );
        }
        Some(LogSettings {
            format: format?,
            filter: self.log.filter.trim().to_owned(),
        })
    }
}

/// The `prompt` values Entra ID accepts on the authorize request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prompt {
    Login,
    Consent,
    SelectAccount,
    AdminConsent,
}

impl Words for Prompt {
    const NOUN: &'static str = "a prompt value";
    const SPELLINGS: &'static [(Self, &'static [&'static str])] = &[
        (Self::Login, &["login"]),
        (Self::Consent, &["consent"]),
        (Self::SelectAccount, &["select_account"]),
        (Self::AdminConsent, &["admin_consent"]),
    ];
}
impl_words!(Prompt);

/// `consent.trusted_proxies`: addresses (`10.0.0.7`, `::1`) or networks (`10.0.0.0/8`); every
/// entry that is neither is reported.
fn trusted_proxies(c: &mut Checker<'_>, entries: &[String]) -> Option<Vec<ipnet::IpNet>> {
    let mut nets = Vec::with_capacity(entries.len());
    let mut ok = true;
    for (i, entry) in entries.iter().enumerate() {
        let v = entry.trim();
        match v
            .parse::<ipnet::IpNet>()
            .or_else(|_| v.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        {
            Ok(net) => nets.push(net.trunc()),
            Err(_) => {
                ok = false;
                c.fail(
                    "consent.trusted_proxies",
                    format!("entry {} ({v:?}) is not an IP address or network", i + 1),
                    "write each proxy as an address (\"10.0.0.7\") or a CIDR network (\"10.0.0.0/8\")",
                );
            }
        }
    }
    ok.then_some(nets)
}
