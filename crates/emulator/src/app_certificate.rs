//! `--app-certificate APP_ID=PATH` of the emulator binary: the app's certificate credential,
//! created once (self-signed RSA 2048, certificate and private key in one PEM file, mode 0600)
//! and registered on the app at start. The compose stack uses it so the `local` profile's
//! `.sam-local/app.pem` works against an emulator running in its own container, as
//! `partner-consent --local` arranges in-process.

use std::io::Write as _;
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
    if let Ok(existing) = std::fs::read_to_string(path)
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
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(made.certificate_pem.as_bytes())?;
    file.write_all(made.private_key_pem.expose_secret().as_bytes())?;
    Ok(made.certificate_pem)
}

fn first_certificate(pem: &str) -> Option<String> {
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find("-----BEGIN CERTIFICATE-----")?;
    let end = pem[start..].find(END)? + start + END.len();
    Some(format!("{}\n", &pem[start..end]))
}
