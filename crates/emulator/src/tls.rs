//! The emulator's TLS: a CA generated at start (or loaded from the state directory) and a
//! server certificate it signs for `localhost`, `127.0.0.1`, `vault.localhost` and every
//! seeded vault. No `*.localhost` wildcard: OpenSSL refuses wildcards under a single label.

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::Path;
use std::sync::Arc;

/// The CA and the rustls server configuration.
pub struct TlsMaterial {
    /// PEM of the CA certificate clients must trust.
    pub ca_pem: String,
    /// rustls configuration for the listener.
    pub server_config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        "SAM emulator test CA (not trusted outside tests)",
    );
    dn.push(DnType::OrganizationName, "secure-app-model-rs emulator");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    params
}

/// Load the CA from `state_dir` (`ca.pem` + `ca.key`) or generate one (and save it there).
fn load_or_create_ca(state_dir: Option<&Path>) -> anyhow::Result<(String, KeyPair)> {
    if let Some(dir) = state_dir {
        let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
        if cert.exists() && key.exists() {
            let key_pem = std::fs::read_to_string(&key)
                .with_context(|| format!("reading {}", key.display()))?;
            let key = KeyPair::from_pem(&key_pem)
                .context("ca.key in the state directory is not a PEM private key")?;
            let pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("reading {}", cert.display()))?;
            return Ok((pem, key));
        }
    }
    let key = KeyPair::generate().context("generating the CA key")?;
    let cert = ca_params()
        .self_signed(&key)
        .context("self-signing the CA")?;
    let pem = cert.pem();
    if let Some(dir) = state_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("ca.pem"), &pem).context("writing ca.pem")?;
        crate::persist::write_private(&dir.join("ca.key"), key.serialize_pem().as_bytes())?;
    }
    Ok((pem, key))
}

/// Build the CA and the server certificate for the given vault names.
pub fn build(state_dir: Option<&Path>, vault_names: &[String]) -> anyhow::Result<TlsMaterial> {
    let (ca_pem, ca_key) = load_or_create_ca(state_dir)?;
    // The issuer only needs the CA's name and key to sign; both are stable across restarts.
    let issuer = Issuer::new(ca_params(), &ca_key);
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "vault.localhost".to_string(),
    ];
    names.extend(
        vault_names
            .iter()
            .map(|v| format!("{}.vault.localhost", v.to_ascii_lowercase())),
    );
    let mut params = CertificateParams::new(names).context("server certificate names")?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    let server_key = KeyPair::generate().context("generating the server key")?;
    let cert = params
        .signed_by(&server_key, &issuer)
        .context("signing the server certificate")?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key_der = rustls_pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .context("TLS server certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem,
        server_config: Arc::new(config),
    })
}
