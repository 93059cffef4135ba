//! The app's certificate credential: generated self-signed (RSA 2048, rcgen) or given, and how
//! it is described to Graph (`keyCredentials`) and compared with what is registered.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::graph::KeyCredential;
use sha1::Digest as _;

use super::SetupError;

/// A certificate read from a PEM file.
#[derive(Clone, Debug)]
pub struct AppCertificate {
    /// Where the certificate is.
    pub path: PathBuf,
    /// DER of the certificate.
    pub der: Vec<u8>,
    /// SHA-1 thumbprint, upper-case hex (as the portal shows it).
    pub thumbprint: String,
    /// Subject, e.g. `CN=...`.
    pub subject: String,
    /// `notAfter`, Unix seconds.
    pub not_after: i64,
}

impl AppCertificate {
    /// Reads the first certificate of a PEM file.
    pub fn read(path: &Path) -> Result<Self, SetupError> {
        let text = std::fs::read_to_string(path).map_err(|e| SetupError::File {
            path: path.to_owned(),
            source: e,
        })?;
        Self::from_pem(path, &text)
    }

    fn from_pem(path: &Path, text: &str) -> Result<Self, SetupError> {
        let bad = |why: String| SetupError::Certificate(format!("{}: {why}", path.display()));
        let pem = x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
            .filter_map(Result::ok)
            .find(|p| p.label == "CERTIFICATE")
            .ok_or_else(|| bad("no PEM CERTIFICATE block".into()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents)
            .map_err(|e| bad(format!("not an X.509 certificate ({e})")))?;
        Ok(Self {
            path: path.to_owned(),
            thumbprint: hex_upper(&sha1::Sha1::digest(&pem.contents)),
            subject: cert.subject().to_string(),
            not_after: cert.validity().not_after.timestamp(),
            der: pem.contents.clone(),
        })
    }

    /// Whole days until `notAfter` (negative once expired).
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// Whether a `keyCredentials` entry from Graph is this certificate: `customKeyIdentifier`
    /// holds the SHA-1 thumbprint, as hex or base64 depending on who registered it.
    pub fn matches_key_credential(&self, entry: &KeyCredential) -> bool {
        let Some(id) = entry.custom_key_identifier.as_deref() else {
            return false;
        };
        let raw = sha1::Sha1::digest(&self.der);
        id.eq_ignore_ascii_case(&self.thumbprint)
            || id == base64::engine::general_purpose::STANDARD.encode(raw)
    }

    /// The `keyCredentials` entry that registers this certificate.
    pub fn key_credential(&self) -> KeyCredential {
        KeyCredential {
            kind: Some("AsymmetricX509Cert".into()),
            usage: Some("Verify".into()),
            key: Some(base64::engine::general_purpose::STANDARD.encode(&self.der)),
            display_name: Some(self.subject.clone()),
            ..KeyCredential::default()
        }
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The private-key file kept beside a generated certificate: `app.pem` -> `app.key`.
pub fn key_path(certificate: &Path) -> PathBuf {
    certificate.with_extension("key")
}

/// Creates an RSA-2048 self-signed certificate valid `days` days; writes the certificate to
/// `path` and the private key to [`key_path`] (PKCS#8 PEM, mode 0600), each replaced
/// atomically. Two files, because the key file is the secret and the certificate is not.
pub fn generate(path: &Path, subject: &str, days: u32) -> Result<AppCertificate, SetupError> {
    let fail = |e: &dyn std::fmt::Display| {
        SetupError::Certificate(format!("cannot create the certificate: {e}"))
    };
    let made = certgen::self_signed(&certgen::Request {
        common_name: subject,
        days,
        key_pem: None,
        not_before: None,
    })
    .map_err(|e| fail(&e))?;
    let pem = made.certificate_pem;
    write_private(
        &key_path(path),
        common::secret::ExposeSecret::expose_secret(&made.private_key_pem).as_bytes(),
    )?;
    write_private(path, pem.as_bytes())?;
    AppCertificate::from_pem(path, &pem)
}

/// Writes a file only the owner can read (0600), atomically ([`common::files::write_private`]).
pub fn write_private(path: &Path, content: &[u8]) -> Result<(), SetupError> {
    common::files::write_private(path, content).map_err(|source| SetupError::File {
        path: path.to_owned(),
        source,
    })
}
