//! JWT signing (the emulator's token-signing key and its JWKS), client certificate
//! credentials, and validation of access tokens the emulator issued (used by Key Vault and by
//! the Graph / Partner Center emulators).

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::{Value, json};
use sha1::Digest as _;
use std::path::Path;

/// Base64url without padding, as JOSE uses.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The emulator's token-signing key (RSA 2048) with a self-signed certificate, as Entra
/// publishes in its JWKS.
pub struct SigningKey {
    kid: String,
    // Parsed once: re-parsing an RSA key per token (what an `EncodingKey` does) costs more
    // than the signature itself.
    rsa: aws_lc_rs::signature::RsaKeyPair,
    rng: aws_lc_rs::rand::SystemRandom,
    decoding: DecodingKey,
    jwk_n: String,
    jwk_e: String,
    cert_b64: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn rsa_components(cert_der: &[u8]) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).context("parsing certificate")?;
    match cert.public_key().parsed().context("parsing public key")? {
        x509_parser::public_key::PublicKey::RSA(rsa) => {
            let strip = |b: &[u8]| {
                let i = b
                    .iter()
                    .position(|&x| x != 0)
                    .unwrap_or(b.len().saturating_sub(1));
                b[i..].to_vec()
            };
            Ok((strip(rsa.modulus), strip(rsa.exponent)))
        }
        _ => anyhow::bail!("the certificate's key is not RSA"),
    }
}

impl SigningKey {
    /// Load `signing.key` from the state directory or generate a key (saved there if given).
    pub fn load_or_generate(state_dir: Option<&Path>) -> anyhow::Result<Self> {
        let path = state_dir.map(|d| d.join("signing.key"));
        let key_pem = match &path {
            Some(p) if p.exists() => {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
            }
            _ => {
                let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
                    .context("generating the RSA signing key")?;
                let pem = key.serialize_pem();
                if let Some(p) = &path {
                    if let Some(dir) = p.parent() {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("creating {}", dir.display()))?;
                    }
                    crate::model::files::write_private(p, pem.as_bytes())?;
                }
                pem
            }
        };
        Self::from_key_pem(&key_pem)
    }

    /// A fresh key, kept in memory only (a key rollover in tests).
    pub fn generate() -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
            .context("generating the RSA signing key")?;
        Self::from_key_pem(&key.serialize_pem())
    }

    fn from_key_pem(key_pem: &str) -> anyhow::Result<Self> {
        let key =
            rcgen::KeyPair::from_pem(key_pem).context("signing.key is not a PEM private key")?;
        let cert = certgen::self_signed(&certgen::Request {
            common_name: "accounts.emulator.localhost",
            days: 3650,
            key_pem: Some(key_pem),
            // Fixed: the same key gives the same certificate, so the `kid` (its thumbprint)
            // survives restarts with a state directory.
            not_before: Some(time::macros::datetime!(2025-01-01 0:00 UTC)),
        })
        .context("signing.key: certifying the token-signing key")?;
        let der = cert.certificate_der;
        let (n, e) = rsa_components(&der)?;
        let kid = b64url(sha1::Sha1::digest(&der));
        Ok(SigningKey {
            kid,
            rsa: aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&key.serialize_der())
                .map_err(|e| anyhow::anyhow!("loading the signing key: {e}"))?,
            rng: aws_lc_rs::rand::SystemRandom::new(),
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            jwk_n: b64url(&n),
            jwk_e: b64url(&e),
            cert_b64: STANDARD.encode(&der),
        })
    }

    /// Key ID (`kid` and `x5t`: the base64url SHA-1 thumbprint of the certificate).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Sign claims as an RS256 JWT. v1 tokens carry `x5t` and `kid`; v2 only `kid`.
    pub fn sign(&self, claims: &Value, with_x5t: bool) -> String {
        let mut header = json!({"typ": "JWT", "alg": "RS256", "kid": self.kid});
        if with_x5t {
            header["x5t"] = json!(self.kid);
        }
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string()),
            b64url(claims.to_string())
        );
        let mut sig = vec![0u8; self.rsa.public_modulus_len()];
        match self.rsa.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &self.rng,
            signing_input.as_bytes(),
            &mut sig,
        ) {
            Ok(()) => format!("{signing_input}.{}", b64url(sig)),
            // Signing with a valid RSA key cannot fail; keep serving if it does.
            Err(e) => {
                tracing::error!(error = %e, "token signing failed");
                String::new()
            }
        }
    }

    /// One JWK as Entra publishes it (per-key `issuer`, no `alg`).
    pub fn jwk(&self, issuer: &str) -> Value {
        json!({
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": self.jwk_n, "e": self.jwk_e, "x5c": [self.cert_b64],
            "cloud_instance_name": "microsoftonline.com", "issuer": issuer,
        })
    }

    /// Verify the signature of a token this key signed and return its claims (no time or
    /// audience checks: callers do those against the emulator's clock).
    pub fn verify(&self, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(token, &self.decoding, &v).map(|d| d.claims)
    }
}

/// A client certificate registered on an app (public part only).
#[derive(Clone)]
pub struct CertificateCredential {
    /// base64url SHA-1 thumbprint (`x5t`).
    pub x5t: String,
    /// base64url SHA-256 thumbprint (`x5t#S256`).
    pub x5t_s256: String,
    /// Hex SHA-1 thumbprint as the portal shows it.
    pub thumbprint_hex: String,
    key: DecodingKey,
}

impl std::fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateCredential")
            .field("thumbprint", &self.thumbprint_hex)
            .finish_non_exhaustive()
    }
}

impl CertificateCredential {
    /// Parse the first certificate of a PEM document.
    pub fn from_pem(pem: &str) -> anyhow::Result<Self> {
        let (_, pem) =
            x509_parser::pem::parse_x509_pem(pem.as_bytes()).context("not a PEM certificate")?;
        Self::from_der(&pem.contents)
    }

    /// From DER.
    pub fn from_der(der: &[u8]) -> anyhow::Result<Self> {
        let (n, e) = rsa_components(der)?;
        let sha1 = sha1::Sha1::digest(der);
        Ok(CertificateCredential {
            x5t: b64url(sha1),
            x5t_s256: b64url(sha2::Sha256::digest(der)),
            thumbprint_hex: hex::encode_upper(sha1),
            key: DecodingKey::from_rsa_raw_components(&n, &e),
        })
    }

    /// Whether a JWT header names this certificate.
    pub fn matches(&self, header: &Header) -> bool {
        // Clients send base64url (the JOSE form) or, like MSAL Python, padded standard base64.
        let norm = |s: &str| s.trim_end_matches('=').replace('+', "-").replace('/', "_");
        header.x5t.as_deref().is_some_and(|t| norm(t) == self.x5t)
            || header
                .x5t_s256
                .as_deref()
                .is_some_and(|t| norm(t) == self.x5t_s256)
    }

    /// Verify an assertion's signature (RS256 or PS256) and return its claims.
    pub fn verify(
        &self,
        token: &str,
        alg: Algorithm,
    ) -> Result<Value, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(alg);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(token, &self.key, &v).map(|d| d.claims)
    }
}

/// The parts of a validated access token other services need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedToken {
    /// Tenant (`tid`).
    pub tenant_id: String,
    /// Object ID of the user or service principal (`oid`).
    pub object_id: String,
    /// Client app (`appid` / `azp`).
    pub app_id: String,
    /// Audience as issued.
    pub audience: String,
    /// Which resource the audience belongs to.
    pub resource: crate::model::resources::ResourceKind,
    /// Delegated scopes (`scp`), empty for app-only tokens.
    pub scopes: Vec<String>,
    /// Application roles (`roles`), empty for user tokens.
    pub roles: Vec<String>,
    /// Whether this is an app-only token.
    pub is_app_only: bool,
    /// User principal name, for user tokens.
    pub upn: Option<String>,
    /// Authentication methods (`amr`).
    pub amr: Vec<String>,
    /// All claims.
    pub claims: Value,
}

impl ValidatedToken {
    /// Whether the user signed in with MFA.
    pub fn has_mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// No `Authorization: Bearer` header.
    #[error("the request has no bearer token")]
    Missing,
    /// Not a JWT, or not signed by the emulator.
    #[error("the token signature is invalid or the token is malformed")]
    BadSignature,
    /// `exp` in the past (emulator clock).
    #[error("the token has expired")]
    Expired,
    /// `nbf` in the future.
    #[error("the token is not yet valid")]
    NotYetValid,
    /// Issuer not the expected tenant's.
    #[error("invalid issuer {0}")]
    Issuer(String),
    /// Audience not for the expected resource.
    #[error("invalid audience {0}")]
    Audience(String),
}

/// The keys Entra publishes for one cloud: the current one signs; after a rollover the previous
/// one stays in the JWKS and still verifies, so tokens it signed stay valid until they expire
/// (Microsoft: "Signing key rollover in the Microsoft identity platform" — several keys are
/// published, and clients refetch the JWKS when a token names a key they do not know).
#[derive(Debug)]
pub struct KeyRing {
    current: std::sync::RwLock<std::sync::Arc<SigningKey>>,
    previous: std::sync::RwLock<Option<std::sync::Arc<SigningKey>>>,
}

impl KeyRing {
    /// A ring of one key.
    pub fn new(key: SigningKey) -> Self {
        KeyRing {
            current: std::sync::RwLock::new(std::sync::Arc::new(key)),
            previous: std::sync::RwLock::new(None),
        }
    }

    /// The key that signs now.
    pub fn current(&self) -> std::sync::Arc<SigningKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn previous(&self) -> Option<std::sync::Arc<SigningKey>> {
        self.previous
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Signs with the current key (see [`SigningKey::sign`]).
    pub fn sign(&self, claims: &Value, with_x5t: bool) -> String {
        self.current().sign(claims, with_x5t)
    }

    /// The published keys, current first.
    pub fn jwks(&self, issuer: &str) -> Vec<Value> {
        std::iter::once(self.current())
            .chain(self.previous())
            .map(|k| k.jwk(issuer))
            .collect()
    }

    /// Verifies a token signed by any published key.
    pub fn verify(&self, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
        match self.current().verify(token) {
            Ok(claims) => Ok(claims),
            Err(e) => match self.previous() {
                Some(previous) => previous.verify(token),
                None => Err(e),
            },
        }
    }

    /// A key rollover: a new key signs from now on; the current one stays published as the
    /// previous key (the one before it is dropped). In memory only.
    pub fn rotate(&self) -> anyhow::Result<String> {
        let next = std::sync::Arc::new(SigningKey::generate()?);
        let kid = next.kid().to_owned();
        let old = std::mem::replace(
            &mut *self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            next,
        );
        *self
            .previous
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(old);
        Ok(kid)
    }
}
