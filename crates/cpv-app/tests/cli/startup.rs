//! A start-up failure reads and exits the same in both CLIs (csp-app's twin of this test is in
//! crates/csp-app/tests/cli/startup.rs): both open their run through `cli_kit::Run`.

use crate::helpers::spawn;

#[tokio::test]
async fn a_corrupt_token_store_fails_at_start_as_a_configuration_error() {
    let app = spawn().await;
    std::fs::write(app.dir.path().join("tokens.enc"), "not a store").unwrap();
    let out = app.run(&["partners", "list"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("cannot start: ") && out.stderr.contains("not a store file"),
        "{}",
        out.stderr
    );
}
