//! Starts an emulator on port 0 and describes it to Microsoft's clients.

use emulator::seed::ids;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use sha1::Digest as _;
use std::path::PathBuf;

pub struct Fidelity {
    pub handle: EmulatorHandle,
    pub dir: tempfile::TempDir,
    pub cert_thumbprint: String,
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// An emulator whose Key Vault operator app also has a freshly generated client certificate.
pub async fn start() -> Fidelity {
    start_with(|c| c).await
}

/// [`start`], with changes to the configuration (federated credentials, issuers).
pub async fn start_with(tweak: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> Fidelity {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["fidelity-client".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.path().join("client.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("client.pem"), cert.pem()).unwrap();
    let cert_thumbprint = hex::encode_upper(sha1::Sha1::digest(cert.der()));
    let config = EmulatorConfig {
        workers: 2,
        ..EmulatorConfig::default()
    }
    .with_certificate(ids::KEYVAULT_OPERATOR_APP, cert.pem());
    let handle = Emulator::start(tweak(config)).await.unwrap();
    std::fs::write(dir.path().join("ca.pem"), handle.ca_pem()).unwrap();
    Fidelity {
        handle,
        dir,
        cert_thumbprint,
    }
}

impl Fidelity {
    pub fn secret(&self, app: &str) -> String {
        self.handle
            .seed()
            .apps
            .iter()
            .find(|a| a.app_id == app)
            .unwrap()
            .secrets[0]
            .clone()
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let seed = self.handle.seed();
        let admin = seed
            .user_by_upn("admin@contoso-partner.onmicrosoft.com")
            .unwrap();
        let p = |f: &str| self.dir.path().join(f).display().to_string();
        vec![
            ("EMU_CA".into(), p("ca.pem")),
            ("REQUESTS_CA_BUNDLE".into(), p("ca.pem")),
            ("EMU_AUTHORITY_HOST".into(), self.handle.authority_host()),
            ("EMU_PARTNER_TENANT".into(), ids::PARTNER_TENANT.into()),
            ("EMU_CSP_APP".into(), ids::CSP_APP.into()),
            ("EMU_CSP_SECRET".into(), self.secret(ids::CSP_APP)),
            ("EMU_ADMIN_UPN".into(), admin.upn.clone()),
            ("EMU_ADMIN_OID".into(), admin.id.clone()),
            ("EMU_ADMIN_PASSWORD".into(), admin.password.clone()),
            (
                "EMU_ADMIN_MFA".into(),
                admin.mfa_code.clone().unwrap_or_default(),
            ),
            ("EMU_KV_APP".into(), ids::KEYVAULT_APP.into()),
            ("EMU_KV_SECRET".into(), self.secret(ids::KEYVAULT_APP)),
            (
                "EMU_KV_OPERATOR_APP".into(),
                ids::KEYVAULT_OPERATOR_APP.into(),
            ),
            (
                "EMU_KV_OPERATOR_SECRET".into(),
                self.secret(ids::KEYVAULT_OPERATOR_APP),
            ),
            ("EMU_CERT_APP".into(), ids::KEYVAULT_OPERATOR_APP.into()),
            ("EMU_CERT_KEY".into(), p("client.key")),
            ("EMU_CERT_PEM".into(), p("client.pem")),
            ("EMU_CERT_THUMBPRINT".into(), self.cert_thumbprint.clone()),
            ("EMU_VAULT_URL".into(), self.handle.vault_url(ids::VAULT)),
        ]
    }
}
