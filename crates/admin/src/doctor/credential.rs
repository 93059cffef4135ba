//! `app.credential`: how the app authenticates, and when its certificate expires.

use common::config::{AppCredential, CertificateSource, Settings};

use super::DoctorOptions;
use super::report::{Check, Status, check};
use crate::setup::AppCertificate;

pub(super) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(super) fn credential_check(
    settings: &Settings,
    options: &DoctorOptions,
    checks: &mut Vec<Check>,
) -> Option<AppCertificate> {
    match &settings.app.credential {
        AppCredential::Secret(_) => {
            checks.push(check(
                "app.credential",
                Status::Warn,
                "the app authenticates with a client secret",
                Some("use a certificate: run setup (it generates and registers one) and remove app.client_secret".into()),
            ));
            None
        }
        AppCredential::Certificate(c) => {
            let path = match &c.source {
                // Read through the vault by `vault::secret_checks`.
                CertificateSource::KeyVault { .. } => return None,
                CertificateSource::Pem { certificate, .. } => certificate.clone(),
                CertificateSource::Pkcs12 { path, .. } => {
                    checks.push(check(
                        "app.credential",
                        Status::Pass,
                        format!("PKCS#12 certificate {}", path.display()),
                        None,
                    ));
                    return None;
                }
            };
            match AppCertificate::read(&path) {
                Err(e) => {
                    checks.push(check(
                        "app.credential",
                        Status::Fail,
                        format!("certificate unreadable: {e}"),
                        Some("run setup to generate and register a certificate, or fix app.certificate_path".into()),
                    ));
                    None
                }
                Ok(cert) => {
                    let days = cert.days_left(now());
                    let detail = format!(
                        "certificate {} (thumbprint {}) expires in {days} days",
                        path.display(),
                        cert.thumbprint
                    );
                    checks.push(if days < 0 {
                        check(
                            "app.credential",
                            Status::Fail,
                            format!("certificate {} expired", path.display()),
                            Some(rotate_fix()),
                        )
                    } else if days < options.certificate_warn_days {
                        check("app.credential", Status::Warn, detail, Some(rotate_fix()))
                    } else {
                        check("app.credential", Status::Pass, detail, None)
                    });
                    Some(cert)
                }
            }
        }
    }
}

fn rotate_fix() -> String {
    "run setup again: it creates and registers a new certificate and keeps the old one registered until it expires (docs/setup-azure.md, \"Certificate rotation\")".into()
}
