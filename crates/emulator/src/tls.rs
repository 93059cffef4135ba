//! The emulator's TLS: a CA generated at start (or loaded from the state directory) and a
//! server certificate it signs for `localhost`, `127.0.0.1`, `vault.localhost` and every
//! seeded vault. No `*.localhost` wildcard: OpenSSL refuses wildcards under a single label.
//!
//! The CA can certify nothing else: it is name-constrained (RFC 5280 §4.2.1.10) to `localhost`
//! (with every `*.localhost` name), `127.0.0.1` and `::1`, restricted to server authentication
//! (extended key usage `id-kp-serverAuth`, RFC 5280 §4.2.1.12, which OpenSSL and webpki apply
//! to the certificates it signs), may sign no intermediate (path length 0), and is valid for 90
//! days. A saved CA without those constraints (an older emulator's ten-year root, or one without
//! the key-usage restriction or `::1`) or with less than two weeks left is replaced at start. Its
//! key is written 0600 in a 0700 state directory; `ca.pem` and `ca.key` are each written to a new
//! temporary file and renamed into place, so a reader never sees half a file.

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints,
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
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("localhost".into()),
            GeneralSubtree::IpAddress(CidrSubnet::V4([127, 0, 0, 1], [255, 255, 255, 255])),
            GeneralSubtree::IpAddress(CidrSubnet::V6(IPV6_LOOPBACK, [0xff; 16])),
        ],
        excluded_subtrees: vec![],
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CA_DAYS);
    params
}

/// Validity of the CA.
const CA_DAYS: i64 = 90;

/// `::1`.
const IPV6_LOOPBACK: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// Whether a saved CA certificate is one this emulator would still make: name-constrained
/// (with `::1`), restricted to server authentication and valid for at least two more weeks.
fn still_usable(pem: &str) -> bool {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else {
        return false;
    };
    let Ok(cert) = pem.parse_x509() else {
        return false;
    };
    let constrained = cert
        .name_constraints()
        .ok()
        .flatten()
        .and_then(|c| c.value.permitted_subtrees.clone())
        .is_some_and(|permitted| {
            permitted.iter().any(|s| {
                matches!(s.base, x509_parser::extensions::GeneralName::IPAddress(ip)
                    if ip.get(..16) == Some(&IPV6_LOOPBACK[..]))
            })
        });
    let server_auth_only = cert
        .extended_key_usage()
        .ok()
        .flatten()
        .is_some_and(|e| e.value.server_auth && !e.value.any && !e.value.client_auth);
    let left = cert.validity().time_to_expiration();
    constrained && server_auth_only && left.is_some_and(|d| d > time::Duration::days(14))
}

/// Creates the state directory readable by its owner only (0700), or tightens it.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (0700)", dir.display()))?;
    }
    Ok(())
}

/// Load the CA from `state_dir` (`ca.pem` + `ca.key`) or generate one (and save it there).
fn load_or_create_ca(state_dir: Option<&Path>) -> anyhow::Result<(String, KeyPair)> {
    if let Some(dir) = state_dir {
        let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
        private_dir(dir)?;
        if cert.exists() && key.exists() {
            let pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("reading {}", cert.display()))?;
            if still_usable(&pem) {
                let key_pem = std::fs::read_to_string(&key)
                    .with_context(|| format!("reading {}", key.display()))?;
                let key = KeyPair::from_pem(&key_pem)
                    .context("ca.key in the state directory is not a PEM private key")?;
                return Ok((pem, key));
            }
            tracing::info!(
                "replacing {}: not name-constrained or expiring within two weeks",
                cert.display()
            );
        }
    }
    let key = KeyPair::generate().context("generating the CA key")?;
    let cert = ca_params()
        .self_signed(&key)
        .context("self-signing the CA")?;
    let pem = cert.pem();
    if let Some(dir) = state_dir {
        // The key first: a `ca.pem` present means its key is too. The certificate is public
        // (0644: the compose stack's other containers read it).
        crate::model::files::write_private(&dir.join("ca.key"), key.serialize_pem().as_bytes())?;
        crate::model::files::write_atomic(&dir.join("ca.pem"), pem.as_bytes(), 0o644)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_name_constrained_to_loopback_and_lives_ninety_days() {
        let material = build(None, &["demo".to_owned()]).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(material.ca_pem.as_bytes()).unwrap();
        let ca = pem.parse_x509().unwrap();
        let constraints = ca.name_constraints().unwrap().unwrap().value;
        let permitted = format!("{:?}", constraints.permitted_subtrees);
        assert!(
            permitted.contains("localhost") && permitted.contains("127"),
            "{permitted}"
        );
        let basic = ca.basic_constraints().unwrap().unwrap().value;
        assert!(basic.ca && basic.path_len_constraint == Some(0));
        let days = ca.validity().time_to_expiration().unwrap().whole_days();
        assert!((88..=90).contains(&days), "{days}");
        assert!(still_usable(&material.ca_pem));

        // An older emulator's unconstrained ten-year root is replaced.
        let mut old = ca_params();
        old.name_constraints = None;
        old.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        assert!(!still_usable(&old.self_signed(&key).unwrap().pem()));
    }

    #[test]
    fn the_ca_serves_servers_only_and_constrains_ipv6_to_the_loopback() {
        let material = build(None, &[]).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(material.ca_pem.as_bytes()).unwrap();
        let ca = pem.parse_x509().unwrap();
        let eku = ca.extended_key_usage().unwrap().expect("an EKU").value;
        assert!(eku.server_auth, "{eku:?}");
        assert!(
            !(eku.any || eku.client_auth || eku.code_signing || eku.email_protection),
            "{eku:?}"
        );
        assert!(eku.other.is_empty(), "{eku:?}");
        let permitted = ca
            .name_constraints()
            .unwrap()
            .unwrap()
            .value
            .permitted_subtrees
            .clone()
            .unwrap();
        let ips: Vec<&[u8]> = permitted
            .iter()
            .filter_map(|s| match s.base {
                x509_parser::extensions::GeneralName::IPAddress(ip) => Some(ip),
                _ => None,
            })
            .collect();
        let mut v6 = IPV6_LOOPBACK.to_vec();
        v6.extend([0xff; 16]);
        assert!(ips.contains(&&v6[..]), "{ips:?}");
        assert!(
            ips.contains(&&[127, 0, 0, 1, 255, 255, 255, 255][..]),
            "{ips:?}"
        );

        // A CA of the previous emulator (name-constrained, without the EKU or `::1`) is replaced.
        for strip in [
            |p: &mut CertificateParams| p.extended_key_usages.clear(),
            |p: &mut CertificateParams| {
                if let Some(c) = &mut p.name_constraints {
                    c.permitted_subtrees.truncate(2);
                }
            },
        ] {
            let mut old = ca_params();
            strip(&mut old);
            let key = KeyPair::generate().unwrap();
            assert!(!still_usable(&old.self_signed(&key).unwrap().pem()));
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_state_directory_is_private_and_an_old_ca_is_replaced() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("emulator");
        std::fs::create_dir_all(&state).unwrap();
        let mut old = ca_params();
        old.name_constraints = None;
        let key = KeyPair::generate().unwrap();
        std::fs::write(state.join("ca.pem"), old.self_signed(&key).unwrap().pem()).unwrap();
        std::fs::write(state.join("ca.key"), key.serialize_pem()).unwrap();
        let material = build(Some(&state), &[]).unwrap();
        assert!(still_usable(&material.ca_pem));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join("ca.key")), 0o600);
        // A usable CA is kept across restarts.
        let again = build(Some(&state), &[]).unwrap();
        assert_eq!(again.ca_pem, material.ca_pem);
    }
}
