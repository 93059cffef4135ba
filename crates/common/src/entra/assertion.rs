//! Client assertions: the JWT an application signs with its certificate's private key to prove
//! its identity to Entra ID (RFC 7523 `private_key_jwt`).
//!
//! Format: "Microsoft identity platform application authentication certificate credentials"
//! (<https://learn.microsoft.com/entra/identity-platform/certificate-credentials#assertion-format>):
//! `PS256` with an `x5t#S256` header (recommended), or `RS256` with `x5t` (SHA-1, legacy);
//! `aud` = the token endpoint, `iss` = `sub` = client ID, a fresh `jti`, a short `exp`.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use sha1::Digest as _;

use crate::config::{AssertionAlgorithm, CertificateSource};
use crate::secret::{ClientAssertion, ExposeSecret as _, PrivateKeyPem};

/// How long an assertion is valid. Entra accepts any lifetime; ten minutes is Microsoft's
/// suggestion and MSAL's choice, and a fresh one is signed for every request anyway.
pub const ASSERTION_LIFETIME_SECS: i64 = 600;

/// Why a certificate credential could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file holds no certificate.
    #[error("{path} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key is not an RSA private key jsonwebtoken can use.
    #[error("{path} holds no usable RSA private key (PKCS#8 or PKCS#1 PEM): {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The certificate is kept in Key Vault: it is loaded through the vault, not from a file.
    #[error(
        "the certificate is the Key Vault secret {secret}: load it with common::keyvault::VaultCertificate"
    )]
    InVault {
        /// The secret's name.
        secret: String,
    },
    /// The certificate read from Key Vault is not usable.
    #[error("the Key Vault secret {secret} holds no usable certificate and key: {reason}")]
    FromVault {
        /// The secret's name.
        secret: String,
        /// What was wrong.
        reason: String,
    },
    /// The PKCS#12 file could not be opened.
    #[error("cannot open the PKCS#12 file {path}: {reason} (check app.pkcs12_password)")]
    Pkcs12 {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
}

/// A certificate credential that may change while the process runs (one kept in Key Vault and
/// rotated there): the token client asks it to [`refresh`](Self::refresh) before each token
/// request and signs with [`current`](Self::current).
pub trait CertificateProvider: fmt::Debug + Send + Sync {
    /// The signer to use now.
    fn current(&self) -> std::sync::Arc<CertificateSigner>;
    /// Picks up a new version when the provider's interval has passed; keeps the current signer
    /// (and logs why) when the new one cannot be read.
    fn refresh(&self) -> futures::future::BoxFuture<'_, ()>;
}

/// Signs client assertions with one certificate.
#[derive(Clone)]
pub struct CertificateSigner {
    key: EncodingKey,
    algorithm: AssertionAlgorithm,
    x5t: String,
    x5t_s256: String,
}

impl fmt::Debug for CertificateSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateSigner")
            .field("algorithm", &self.algorithm)
            .field("x5t", &self.x5t)
            .field("key", &"[redacted]")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

impl CertificateSigner {
    /// A signer from a DER certificate and a PEM private key.
    pub fn new(
        certificate_der: &[u8],
        private_key: &PrivateKeyPem,
        algorithm: AssertionAlgorithm,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = EncodingKey::from_rsa_pem(private_key.expose_secret().as_bytes())?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        Ok(Self {
            key,
            algorithm,
            x5t: b64.encode(sha1::Sha1::digest(certificate_der)),
            x5t_s256: b64.encode(sha2::Sha256::digest(certificate_der)),
        })
    }

    /// Loads the credential configured in `app` (PEM files or a PKCS#12 file).
    pub fn load(
        source: &CertificateSource,
        algorithm: AssertionAlgorithm,
    ) -> Result<Self, CertificateError> {
        match source {
            CertificateSource::Pem {
                certificate,
                private_key,
            } => Self::from_pem_files(certificate, private_key, algorithm),
            CertificateSource::Pkcs12 { path, password } => {
                let data = read(path)?;
                let password = password
                    .as_ref()
                    .map(|p| p.expose_secret().to_owned())
                    .unwrap_or_default();
                Self::from_pkcs12(&data, &password, algorithm).map_err(|reason| {
                    CertificateError::Pkcs12 {
                        path: path.clone(),
                        reason,
                    }
                })
            }
            CertificateSource::KeyVault { secret, .. } => Err(CertificateError::InVault {
                secret: secret.clone(),
            }),
        }
    }

    /// Loads a PEM certificate and a PEM private key (possibly the same file).
    pub fn from_pem_files(
        certificate: &Path,
        private_key: &Path,
        algorithm: AssertionAlgorithm,
    ) -> Result<Self, CertificateError> {
        let cert_pem = read(certificate)?;
        let key_file = read(private_key)?;
        Self::from_pem(&cert_pem, certificate, &key_file, private_key, algorithm)
    }

    /// A certificate and its key from PEM text (the certificate block and the key block may be
    /// in one text, as Key Vault's `application/x-pem-file` secrets hold them); `certificate`
    /// and `private_key` name where they came from, for errors.
    pub fn from_pem(
        cert_pem: &[u8],
        certificate: &Path,
        key_file: &[u8],
        private_key: &Path,
        algorithm: AssertionAlgorithm,
    ) -> Result<Self, CertificateError> {
        let der = CertificateDer::pem_slice_iter(cert_pem)
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| CertificateError::NoCertificate {
                path: certificate.to_owned(),
            })?;
        // The key file may be the certificate file too (certificate and key concatenated, as
        // `openssl pkcs12 -nodes` and our local mode write them): pick out the key block, since
        // jsonwebtoken reads only the first PEM block it is given.
        let key_der =
            PrivateKeyDer::from_pem_slice(key_file).map_err(|e| CertificateError::BadKey {
                path: private_key.to_owned(),
                reason: format!("no PKCS#8 or PKCS#1 private key block found ({e})"),
            })?;
        let key = match &key_der {
            PrivateKeyDer::Pkcs1(k) => {
                PrivateKeyPem::new(pem_wrap("RSA PRIVATE KEY", k.secret_pkcs1_der()))
            }
            PrivateKeyDer::Pkcs8(k) => {
                PrivateKeyPem::new(pem_wrap("PRIVATE KEY", k.secret_pkcs8_der()))
            }
            _ => {
                return Err(CertificateError::BadKey {
                    path: private_key.to_owned(),
                    reason:
                        "the key is not an RSA key (Entra client assertions here use RS256/PS256)"
                            .into(),
                });
            }
        };
        Self::new(&der, &key, algorithm).map_err(|e| CertificateError::BadKey {
            path: private_key.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Loads the first key and its certificate from a PKCS#12 (`.pfx`) archive.
    pub fn from_pkcs12(
        data: &[u8],
        password: &str,
        algorithm: AssertionAlgorithm,
    ) -> Result<Self, String> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            data,
            password,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| e.to_string())?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or("the archive holds no private key")?;
        let cert = chain
            .certs()
            .first()
            .ok_or("the archive holds no certificate for its key")?;
        let pem = pem_wrap("PRIVATE KEY", chain.key().as_der());
        Self::new(cert.as_der(), &PrivateKeyPem::new(pem), algorithm).map_err(|e| e.to_string())
    }

    /// The base64url SHA-1 thumbprint (`x5t`).
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// The base64url SHA-256 thumbprint (`x5t#S256`).
    pub fn x5t_s256(&self) -> &str {
        &self.x5t_s256
    }

    /// Signs a fresh assertion for `client_id` addressed to `token_endpoint`.
    pub fn sign(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<ClientAssertion, jsonwebtoken::errors::Error> {
        let mut header = match self.algorithm {
            AssertionAlgorithm::Ps256 => {
                let mut h = Header::new(Algorithm::PS256);
                h.x5t_s256 = Some(self.x5t_s256.clone());
                h
            }
            AssertionAlgorithm::Rs256 => {
                let mut h = Header::new(Algorithm::RS256);
                h.x5t = Some(self.x5t.clone());
                h
            }
        };
        header.typ = Some("JWT".into());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            aud: token_endpoint,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &self.key).map(ClientAssertion::new)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertificateError> {
    std::fs::read(path).map_err(|source| CertificateError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Wraps DER bytes in a PEM block.
pub(crate) fn pem_wrap(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn header_of(assertion: &ClientAssertion) -> serde_json::Value {
        let head = assertion.expose_secret().split('.').next().unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(head)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn certificate_and_key_in_one_pem_file_sign_a_ps256_assertion() {
        let (cert, key) = self_signed();
        let dir = tempfile::tempdir().unwrap();
        let both = dir.path().join("app.pem");
        std::fs::write(&both, format!("{cert}{key}")).unwrap();
        let signer =
            CertificateSigner::from_pem_files(&both, &both, AssertionAlgorithm::Ps256).unwrap();
        let assertion = signer
            .sign("client", "https://login.example/t/oauth2/v2.0/token")
            .unwrap();
        let header = header_of(&assertion);
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["x5t#S256"], signer.x5t_s256());
    }

    #[test]
    fn separate_key_file_signs_an_rs256_assertion_with_x5t() {
        let (cert, key) = self_signed();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.pem"), cert).unwrap();
        std::fs::write(dir.path().join("k.pem"), key).unwrap();
        let signer = CertificateSigner::from_pem_files(
            &dir.path().join("c.pem"),
            &dir.path().join("k.pem"),
            AssertionAlgorithm::Rs256,
        )
        .unwrap();
        let header = header_of(&signer.sign("client", "aud").unwrap());
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], signer.x5t());
    }

    #[test]
    fn a_file_without_a_key_names_the_path() {
        let (cert, _) = self_signed();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert-only.pem");
        std::fs::write(&path, cert).unwrap();
        let err = CertificateSigner::from_pem_files(&path, &path, AssertionAlgorithm::Ps256)
            .expect_err("no key in the file")
            .to_string();
        assert!(err.contains("cert-only.pem"), "{err}");
        assert!(err.contains("private key"), "{err}");
    }
}
