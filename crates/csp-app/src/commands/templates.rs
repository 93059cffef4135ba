//! `templates list | show NAME | roles`: the GDAP role templates of the configuration (validated
//! at start-up with every other key) and the built-in roles they may name. Needs no token.

use std::io::Write;
use std::process::ExitCode;

use cli_kit::Failure;
use cli_kit::output::{Column, ListWriter, OutputFormat, to_value, write_object};
use common::config::{RoleTemplate, Settings};
use common::gdap_rules::{BUILT_IN_ROLES, role_name};
use serde_json::{Value, json};

use crate::cli::TemplatesCommand;

/// Columns of `templates list`.
pub const TEMPLATE_COLUMNS: &[Column] = &[
    ("NAME", "/name"),
    ("ROLES", "/roleNames"),
    ("GROUPS", "/groupCount"),
    ("DURATION", "/duration"),
    ("AUTO-EXTEND", "/autoExtendDuration"),
    ("DESCRIPTION", "/description"),
];

/// Columns of `templates roles`.
pub const ROLE_COLUMNS: &[Column] = &[("NAME", "/name"), ("TEMPLATE ID", "/id")];

/// Runs a `templates` subcommand on validated settings.
pub fn run(
    settings: &Settings,
    command: TemplatesCommand,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let io = |e: std::io::Error| Failure::new(format!("cannot write the output: {e}"));
    match command {
        TemplatesCommand::List => {
            let mut list = ListWriter::new(format, out, TEMPLATE_COLUMNS);
            for template in settings.templates.values() {
                list.item(&describe(template)?).map_err(io)?;
            }
            list.finish().map_err(io)?;
        }
        TemplatesCommand::Show { name } => {
            let template = find(settings, &name)?;
            write_object(format, out, &[], &describe(template)?).map_err(io)?;
        }
        TemplatesCommand::Roles => {
            let mut list = ListWriter::new(format, out, ROLE_COLUMNS);
            for (id, name) in BUILT_IN_ROLES {
                list.item(&json!({"id": id, "name": name})).map_err(io)?;
            }
            list.finish().map_err(io)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The template called `name`, or a failure listing the configured ones.
pub fn find<'a>(settings: &'a Settings, name: &str) -> Result<&'a RoleTemplate, Failure> {
    settings.templates.get(name).ok_or_else(|| {
        let known: Vec<&str> = settings.templates.keys().map(String::as_str).collect();
        Failure::config(if known.is_empty() {
            format!(
                "no template {name:?}: the configuration has no [templates.NAME] section \
                 (config/default.toml shows one)"
            )
        } else {
            format!(
                "no template {name:?}; the configuration has {}",
                known.join(", ")
            )
        })
    })
}

/// A template as JSON: its fields, the roles by name, each assignment's roles by name.
fn describe(template: &RoleTemplate) -> Result<Value, Failure> {
    let mut value = to_value(template)?;
    if let Value::Object(map) = &mut value {
        map.insert("roles".into(), json!(template.roles()));
        map.insert("roleNames".into(), json!(template.role_names()));
        map.insert("groupCount".into(), json!(template.access.len()));
        map.insert(
            "autoExtendDuration".into(),
            json!(template.auto_extend_duration()),
        );
        map.insert(
            "access".into(),
            Value::Array(
                template
                    .access
                    .iter()
                    .map(|a| {
                        json!({
                            "group": a.group,
                            "roles": a.roles,
                            "roleNames": a.roles.iter().map(|r| role_name(r)).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ),
        );
    }
    Ok(value)
}
