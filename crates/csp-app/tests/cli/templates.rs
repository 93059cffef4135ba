//! `templates list | show | roles`, and the customer selection every fan-out shares.

use crate::helpers::{FABRIKAM, NORTHWIND, TestApp, spawn};

const GROUP: &str = "0f0f0f0f-1111-2222-3333-444444444444";

impl TestApp {
    /// Appends TOML to the configuration file.
    pub fn append_config(&self, toml: &str) {
        let mut text = std::fs::read_to_string(&self.config_file).unwrap();
        text.push_str(toml);
        std::fs::write(&self.config_file, text).unwrap();
    }
}

fn helpdesk() -> String {
    format!(
        "\n[templates.helpdesk]\ndescription = \"first-line support\"\n\
         display_name = \"{{template}}-{{tenant8}}\"\nauto_extend = true\n\
         [[templates.helpdesk.access]]\ngroup = \"{GROUP}\"\n\
         roles = [\"Directory Readers\", \"Helpdesk Administrator\"]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_listed_and_shown_with_role_names() {
    let app = spawn().await;
    app.append_config(&helpdesk());
    let list = app.run(&["-o", "json", "templates", "list"]).await;
    list.assert_code(0);
    let list = list.json();
    assert_eq!(list[0]["name"], "helpdesk");
    assert_eq!(
        list[0]["roleNames"],
        serde_json::json!(["Directory Readers", "Helpdesk Administrator"])
    );
    assert_eq!(list[0]["autoExtendDuration"], "P180D");
    let show = app.run(&["templates", "show", "helpdesk"]).await;
    show.assert_code(0);
    assert!(
        show.stdout.contains("{template}-{tenant8}"),
        "{}",
        show.stdout
    );
    let missing = app.run(&["templates", "show", "nope"]).await;
    missing.assert_code(2);
    assert!(missing.stderr.contains("helpdesk"), "{}", missing.stderr);
    let roles = app.run(&["-o", "json", "templates", "roles"]).await;
    roles.assert_code(0);
    assert!(roles.stdout.contains("Global Administrator"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_template_stops_every_command_naming_each_key() {
    let app = spawn().await;
    app.append_config(&format!(
        "\n[templates.bad]\ndisplay_name = \"same for all\"\nduration = \"P800D\"\n\
         [[templates.bad.access]]\ngroup = \"{GROUP}\"\nroles = [\"Coffee Administrator\"]\n"
    ));
    // The report (every key, on the process's stderr) is common's `config::template_tests`.
    let out = app.run(&["users", "list", "--customer", FABRIKAM]).await;
    out.assert_code(2);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_list_takes_a_tenants_file_and_the_configured_exclusions() {
    let app = spawn().await;
    app.append_config(&format!("\n[customers]\nexclude = [\"{NORTHWIND}\"]\n"));
    let file = app.dir.path().join("tenants.txt");
    std::fs::write(
        &file,
        format!("# this week\n{FABRIKAM}\n{NORTHWIND}  # excluded\n"),
    )
    .unwrap();
    let path = file.display().to_string();
    let out = app
        .run(&["-o", "json", "users", "list", "--tenants-file", &path])
        .await;
    out.assert_code(0);
    let users = out.json();
    let tenants: std::collections::BTreeSet<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["customerTenantId"].as_str().unwrap_or_default())
        .collect();
    // One customer left: the single-customer listing has no customerTenantId column.
    assert_eq!(
        tenants.into_iter().collect::<Vec<_>>(),
        vec![""],
        "{}",
        out.stdout
    );
    let both = app
        .run(&[
            "-o",
            "json",
            "users",
            "list",
            "--tenants-file",
            &path,
            "--no-default-exclude",
        ])
        .await;
    both.assert_code(0);
    assert!(both.stdout.contains(NORTHWIND), "{}", both.stdout);
    std::fs::write(&file, format!("{FABRIKAM}\nnot a tenant\n")).unwrap();
    let bad = app.run(&["users", "list", "--tenants-file", &path]).await;
    bad.assert_code(2);
    assert!(bad.stderr.contains("line 2"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_grant_takes_the_same_selection_and_leaves_excluded_customers_out() {
    let app = spawn().await;
    app.append_config(&format!("\n[customers]\nexclude = [\"{NORTHWIND}\"]\n"));
    let out = app
        .run(&[
            "-o",
            "json",
            "consent",
            "verify",
            "--customer",
            FABRIKAM,
            "--customer",
            NORTHWIND,
            "--delegated",
            "graph:User.Read.All",
        ])
        .await;
    let results = out.json()["results"].clone();
    let tenants: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["customer"].as_str())
        .collect();
    assert!(!tenants.contains(&NORTHWIND), "{}", out.stdout);
    assert!(tenants.contains(&FABRIKAM), "{}", out.stdout);
}
