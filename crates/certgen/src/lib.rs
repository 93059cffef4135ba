//! The one self-signed certificate generator of the workspace (RSA 2048, SHA-256, rcgen).
//!
//! Used by `admin`'s `setup` (the app's certificate credential, uploaded to the app
//! registration) and by the emulator (the local walk's demo app certificate, and the certificate
//! around its token-signing key). The private key comes back as a [`SecretString`], so it never
//! reaches a log through `Debug`; writing it to disk (mode 0600) is the caller's business.

use secrecy::SecretString;

/// A certificate and its private key, both PEM.
pub struct SelfSigned {
    /// `-----BEGIN CERTIFICATE-----`.
    pub certificate_pem: String,
    /// The certificate, DER.
    pub certificate_der: Vec<u8>,
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8).
    pub private_key_pem: SecretString,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned")
            .field("certificate_pem", &self.certificate_pem)
            .field("private_key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Why no certificate was made (the key or the certificate could not be built).
#[derive(Debug, thiserror::Error)]
#[error("cannot create a self-signed certificate: {0}")]
pub struct Error(#[from] rcgen::Error);

/// What a certificate is for: its subject and how long it is valid.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The subject's common name (`CN=`).
    pub common_name: &'a str,
    /// Validity: this many days from `not_before`.
    pub days: u32,
    /// Start of validity; `None`: five minutes ago (clock skew). A fixed start makes the
    /// certificate of a given key the same on every run (the serial is derived from the key),
    /// so its thumbprint — the emulator's token-signing `kid` — survives restarts.
    pub not_before: Option<time::OffsetDateTime>,
    /// An existing private key (PKCS#8 PEM) to certify, or `None` for a new RSA 2048 key.
    pub key_pem: Option<&'a str>,
}

/// A self-signed certificate as `request` asks.
pub fn self_signed(request: &Request<'_>) -> Result<SelfSigned, Error> {
    let key = match request.key_pem {
        Some(pem) => rcgen::KeyPair::from_pem(pem)?,
        None => rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?,
    };
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, request.common_name);
    let start = request
        .not_before
        .unwrap_or_else(|| time::OffsetDateTime::now_utc() - time::Duration::minutes(5));
    params.not_before = start;
    params.not_after = start + time::Duration::days(i64::from(request.days));
    let cert = params.self_signed(&key)?;
    Ok(SelfSigned {
        certificate_pem: cert.pem(),
        certificate_der: cert.der().to_vec(),
        private_key_pem: SecretString::from(key.serialize_pem()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    #[test]
    fn a_certificate_names_its_subject_and_keeps_its_key_out_of_debug() {
        let made = self_signed(&Request {
            common_name: "CN test",
            days: 30,
            key_pem: None,
            not_before: None,
        })
        .unwrap();
        assert!(
            made.certificate_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        let key = made.private_key_pem.expose_secret();
        assert!(key.contains("PRIVATE KEY-----"));
        let debug = format!("{made:?}");
        assert!(debug.contains("[redacted]") && !debug.contains(key.lines().nth(1).unwrap()));
        // The same key certified again: same public key, new certificate.
        let again = self_signed(&Request {
            common_name: "CN test",
            days: 1,
            key_pem: Some(key),
            not_before: None,
        })
        .unwrap();
        assert_eq!(again.private_key_pem.expose_secret(), key);
        assert_ne!(again.certificate_der, made.certificate_der);
        // A fixed start: the same certificate every time.
        let fixed = |key| {
            self_signed(&Request {
                common_name: "CN test",
                days: 10,
                key_pem: Some(key),
                not_before: Some(time::macros::datetime!(2025-01-01 0:00 UTC)),
            })
            .unwrap()
            .certificate_der
        };
        assert_eq!(fixed(key), fixed(key));
    }

    #[test]
    fn a_foreign_key_is_an_error_not_a_panic() {
        let e = self_signed(&Request {
            common_name: "x",
            days: 1,
            key_pem: Some("not a key"),
            not_before: None,
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot create a self-signed certificate")
        );
    }
}
