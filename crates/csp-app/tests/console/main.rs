//! The watch's operator console in headless Chromium (Debian `chromium` + `chromium-driver`,
//! installed by `scripts/test`), against the emulator: an operator signs in with Entra ID and
//! sees the demo's partners, customers and timeline (and runs a cycle); a user without the app
//! role gets 403; a cross-site POST of the action is refused; axe-core (`SAM_TEST_AXE`, the
//! `axe.min.js` `scripts/test` installs from npm) finds no serious or critical violation on any
//! page. The screenshots of each page are written to `crates/csp-app/docs/`.

#[expect(dead_code, reason = "the CLI tests' helpers; these tests use a few")]
#[path = "../cli/helpers.rs"]
mod helpers;

#[path = "../../../partner-consent/tests/browser/driver.rs"]
mod driver;

mod flows;
mod support;
