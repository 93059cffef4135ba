//! `[templates.NAME]` and `[customers]`: loaded, typed, and every problem named by its key.

use std::path::PathBuf;

use figment::Jail;

use super::*;

const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const TENANT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const GROUP: &str = "0f0f0f0f-1111-2222-3333-444444444444";

fn load_file(jail: &mut Jail, extra: &str) -> Result<Settings, ConfigReport> {
    jail.create_dir("config").unwrap();
    jail.create_file(
        "config/default.toml",
        &format!(
            "mode = \"csp\"\n[app]\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"x\"\n\
             [partner]\ntenant_id = \"{TENANT}\"\n{extra}"
        ),
    )
    .unwrap();
    load(&LoadOptions {
        config_dir: PathBuf::from("config"),
        ..LoadOptions::default()
    })?
    .validate()
}

#[test]
fn a_template_is_typed_with_role_ids_and_its_defaults() {
    Jail::expect_with(|jail| {
        let settings = load_file(
            jail,
            &format!(
                "[customers]\nexclude = [\"Fabrikam.onmicrosoft.com\"]\n\
                 [templates.helpdesk]\ndescription = \"support\"\nauto_extend = true\n\
                 [[templates.helpdesk.access]]\ngroup = \"{GROUP}\"\n\
                 roles = [\"directory readers\", \"729827E3-9C14-49F7-BB1B-9608F156BBB8\"]\n"
            ),
        )
        .unwrap();
        assert_eq!(settings.customers.exclude, vec!["fabrikam.onmicrosoft.com"]);
        let t = &settings.templates["helpdesk"];
        assert_eq!(t.duration, "P730D");
        assert_eq!(t.auto_extend_duration(), "P180D");
        assert_eq!(
            t.roles(),
            vec![
                "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
                "729827e3-9c14-49f7-bb1b-9608f156bbb8"
            ]
        );
        assert_eq!(
            t.display_name_for("ABCDEF00-0000-0000-0000-000000000000", "20260101"),
            "helpdesk-abcdef00-0000-0000-0000-000000000000"
        );
        Ok(())
    });
}

#[test]
fn every_problem_of_a_bad_template_is_listed_with_its_key() {
    Jail::expect_with(|jail| {
        let report = load_file(
            jail,
            "[customers]\nexclude = [\"not a tenant\"]\n\
             [templates.bad]\ndisplay_name = \"A very long relationship name for {tenant}\"\n\
             duration = \"P3Y\"\nauto_extend = true\n\
             [[templates.bad.access]]\ngroup = \"sales\"\nroles = [\"Global Administrator\"]\n\
             [[templates.bad.access]]\ngroup = \"0f0f0f0f-1111-2222-3333-444444444444\"\n\
             roles = [\"Chief Coffee Officer\"]\n\
             [templates.same]\ndisplay_name = \"{template}\"\n\
             [[templates.same.access]]\ngroup = \"0f0f0f0f-1111-2222-3333-444444444444\"\n\
             roles = [\"Global Reader\"]\n",
        )
        .unwrap_err();
        assert_eq!(
            report.keys(),
            vec![
                "customers.exclude",
                "templates.bad.display_name",
                "templates.bad.duration",
                "templates.bad.access[1].group",
                "templates.bad.access[2].roles",
                "templates.same.display_name",
            ],
            "{report}"
        );
        let text = report.to_string();
        assert!(text.contains("at most 50"), "{text}");
        assert!(text.contains("Chief Coffee Officer"), "{text}");
        Ok(())
    });
}

#[test]
fn global_administrator_with_auto_extension_is_refused() {
    Jail::expect_with(|jail| {
        let report = load_file(
            jail,
            &format!(
                "[templates.ga]\nauto_extend = true\n[[templates.ga.access]]\n\
                 group = \"{GROUP}\"\nroles = [\"62e90394-69f5-4237-9190-012177145e10\"]\n"
            ),
        )
        .unwrap_err();
        assert_eq!(report.keys(), vec!["templates.ga.auto_extend"], "{report}");
        Ok(())
    });
}

#[test]
fn a_misspelt_template_key_is_reported_with_a_suggestion() {
    Jail::expect_with(|jail| {
        jail.create_dir("config").unwrap();
        jail.create_file(
            "config/default.toml",
            "[templates.x]\ndurration = \"P1D\"\n",
        )?;
        let report = load(&LoadOptions {
            config_dir: PathBuf::from("config"),
            ..LoadOptions::default()
        })
        .unwrap_err();
        assert_eq!(report.keys(), vec!["templates.x.durration"], "{report}");
        assert!(
            report.problems[0].fix.contains("templates.*.duration"),
            "{report}"
        );
        Ok(())
    });
}

#[test]
fn customer_permissions_are_parsed_and_a_bad_entry_is_named_with_its_key() {
    Jail::expect_with(|jail| {
        let settings = load_file(
            jail,
            "[customers]\ndelegated_permissions = [\"graph:User.Read.All\"]\n\
             application_permissions = \"graph:Directory.Read.All\"\n",
        )
        .unwrap();
        let p = &settings.customer_permissions;
        assert_eq!(p.delegated.len(), 1);
        assert_eq!(p.delegated[0].to_string(), "graph:User.Read.All");
        assert_eq!(p.application[0].to_string(), "graph:Directory.Read.All");
        assert_eq!(
            p.application[0].resource,
            crate::cloud::GRAPH_APP_ID,
            "graph is Microsoft Graph's application ID"
        );
        Ok(())
    });
    Jail::expect_with(|jail| {
        let report = load_file(
            jail,
            "[customers]\ndelegated_permissions = [\"graph:User.Read.All\", \"arm:x\"]\n\
             application_permissions = [\"Directory.Read.All\"]\n",
        )
        .unwrap_err();
        assert_eq!(
            report.keys(),
            vec![
                "customers.delegated_permissions",
                "customers.application_permissions"
            ],
            "{report}"
        );
        let text = report.to_string();
        assert!(
            text.contains("entry 2") && text.contains("unknown resource `arm`"),
            "{text}"
        );
        Ok(())
    });
}
