//! `--app-certificate APP_ID=PATH` of the emulator binary: the app's certificate credential,
//! created once (self-signed RSA 2048, certificate and private key in one PEM file, mode 0600)
//! and registered on the app at start. The compose stack uses it so the `local` profile's
//! `.sam-local/app.pem` works against an emulator running in its own container, as
//! `partner-consent --local` arranges in-process.
//!
//! The file is written through the emulator's one private-file writer
//! ([`crate::model::files::write_private`]: a new temporary file, 0600, renamed into place), so
//! a link planted at the path is replaced, never followed; an existing file is read only when it
//! is a regular file, not a link.

use std::path::Path;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;

/// Validity of the demo app certificate: two years, renewed by deleting the file.
const DAYS: u32 = 730;

/// Parses `APP_ID=PATH`.
pub fn parse(arg: &str) -> Result<(String, std::path::PathBuf), String> {
    let (app, path) = arg
        .split_once('=')
        .filter(|(a, p)| !a.is_empty() && !p.is_empty())
        .ok_or_else(|| format!("{arg:?} is not APP_ID=PATH"))?;
    Ok((app.to_owned(), path.into()))
}

/// The certificate PEM in `path`, created (with its key) when the file holds none.
pub fn ensure(path: &Path) -> anyhow::Result<String> {
    let regular = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
    if regular
        && let Ok(existing) = std::fs::read_to_string(path)
        && existing.contains("PRIVATE KEY-----")
        && let Some(cert) = first_certificate(&existing)
    {
        return Ok(cert);
    }
    let made = certgen::self_signed(&certgen::Request {
        common_name: "SAM local demo app",
        days: DAYS,
        key_pem: None,
        not_before: None,
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut pem = made.certificate_pem.clone().into_bytes();
    pem.extend_from_slice(made.private_key_pem.expose_secret().as_bytes());
    let written = crate::model::files::write_private(path, &pem);
    // The buffer held the private key.
    pem.fill(0);
    written?;
    Ok(made.certificate_pem)
}

fn first_certificate(pem: &str) -> Option<String> {
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find("-----BEGIN CERTIFICATE-----")?;
    let end = pem[start..].find(END)? + start + END.len();
    Some(format!("{}\n", &pem[start..end]))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_link_planted_at_the_path_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        let path = dir.path().join("app.pem");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let cert = ensure(&path).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.starts_with(&cert) && written.contains("PRIVATE KEY-----"));
        // Kept on the next start.
        assert_eq!(ensure(&path).unwrap(), cert);
    }
}
