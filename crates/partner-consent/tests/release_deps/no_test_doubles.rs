//! Release images build the servers and CLIs without default features; their normal dependency
//! trees must hold no emulator (a fake Entra ID, Key Vault, Graph and Partner Center with demo
//! passwords) and, for the consent server, no certificate generator either.

use std::path::Path;
use std::process::Command;

/// The package names in `cargo tree -p <package> --no-default-features -e normal`.
fn release_dependencies(package: &str) -> Vec<String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("the crate sits in crates/ of the workspace");
    let output = Command::new(env!("CARGO"))
        .current_dir(workspace)
        .args(["tree", "-p", package, "--no-default-features"])
        .args(["-e", "normal", "--prefix", "none", "--offline"])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn assert_absent(package: &str, forbidden: &[&str]) {
    let dependencies = release_dependencies(package);
    assert!(
        dependencies.iter().any(|d| d == package),
        "cargo tree listed no {package}: {dependencies:?}"
    );
    for name in forbidden {
        assert!(
            !dependencies.iter().any(|d| d == name),
            "the release build of {package} depends on {name}"
        );
    }
}

#[test]
fn partner_consent_release_build_links_no_emulator() {
    assert_absent("partner-consent", &["emulator"]);
}

#[test]
fn partner_consent_release_build_links_no_certificate_generator() {
    assert_absent("partner-consent", &["rcgen"]);
}

#[test]
fn csp_app_release_build_links_no_emulator() {
    assert_absent("csp-app", &["emulator"]);
}

#[test]
fn cpv_app_release_build_links_no_emulator() {
    assert_absent("cpv-app", &["emulator"]);
}

/// The core library links no admin tooling, no test double and no command-line parser: those
/// live in `admin`, `emulator` and `cli-kit`.
#[test]
fn core_library_links_no_admin_tooling_emulator_or_cli_parser() {
    assert_absent("common", &["emulator", "admin", "cli-kit", "rcgen", "clap"]);
}
