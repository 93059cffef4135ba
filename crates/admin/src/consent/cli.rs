//! The `consent` commands both CLIs offer (clap), and their dispatch.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use cli_kit::{Exit, OutputFormat};
use common::config::CustomerPermissions;

use super::App;
use super::grants::{Grant, Grants};
use super::ops::{self, Asked};
use super::replication::WaitPolicy;

/// Partner Center's documented limit on application consents, per application ID.
pub const PARTNER_CENTER_CONSENT_RPS: u32 = 50;

/// Which customers of the partner(s): the selection every fan-out takes
/// ([`cli_kit::SelectionArgs`]); `--customer` and `--tenants-file` need exactly one partner.
#[derive(Debug, Args)]
pub struct CustomerSelection {
    /// The customers.
    #[command(flatten)]
    pub selection: cli_kit::SelectionArgs,
}

/// How many customers at once.
#[derive(Debug, Args)]
pub struct FanOut {
    /// Customers worked on at once (for `grant`, a customer waiting for replication or for a
    /// Graph `Retry-After` holds no place).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Application-consent requests per second, all partners together. Partner Center allows
    /// 50 per application; the default, 48, leaves 4 % for network jitter (measured: 1,003
    /// consents in 1.04× the time 50/s allows, no 429; at 50/s jitter draws 429s and their waits).
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub consent_rate: u32,
}

/// The permissions, delegated and application, each `RESOURCE:PERMISSIONS`.
#[derive(Debug, Args)]
pub struct Permissions {
    /// Delegated permissions, RESOURCE:SCOPES (repeatable), e.g.
    /// graph:User.Read.All,Directory.Read.All. RESOURCE is `graph` or the resource application's
    /// ID. Partner Center's application consent grants them tenant-wide. (`--grant` is the old
    /// name.) Default, when neither this nor --application is given:
    /// customers.delegated_permissions of the configuration.
    #[arg(
        long = "delegated",
        visible_alias = "grant",
        value_name = "RESOURCE:SCOPES"
    )]
    pub delegated: Vec<Grant>,
    /// Application permissions (app roles), RESOURCE:ROLES (repeatable), e.g.
    /// graph:User.Read.All. Added through Microsoft Graph (appRoleAssignedTo) with the partner's
    /// delegated token, so the delegated permissions must include
    /// AppRoleAssignment.ReadWrite.All and Application.Read.All. Default, when neither this
    /// nor --delegated is given: customers.application_permissions of the configuration.
    #[arg(long = "application", value_name = "RESOURCE:ROLES")]
    pub application: Vec<Grant>,
}

impl Permissions {
    /// The permissions named on the command line; when it names none, those configured in
    /// `[customers] delegated_permissions` / `application_permissions` (`configured`).
    pub fn asked(&self, configured: &CustomerPermissions) -> Asked {
        if self.delegated.is_empty() && self.application.is_empty() {
            return Asked {
                delegated: Grants::new(&configured.delegated),
                application: Grants::new(&configured.application),
            };
        }
        Asked {
            delegated: Grants::new(&self.delegated),
            application: Grants::new(&self.application),
        }
    }
}

/// `consent` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Consent the application in customer tenants: the delegated permissions through Partner
    /// Center (POST /v1/customers/{id}/applicationconsents), then the application permissions
    /// through Graph. Idempotent: what is there already is success; a consent with other
    /// delegated permissions is an error unless --reset, which deletes and re-creates it and
    /// removes application permissions not asked for.
    Grant {
        /// Which customers.
        #[command(flatten)]
        customers: CustomerSelection,
        /// What to grant.
        #[command(flatten)]
        permissions: Permissions,
        /// Replace an existing consent: delete it, then grant again.
        #[arg(long)]
        reset: bool,
        /// Seconds to wait, per customer, for Microsoft's directory to replicate the consent's
        /// service principal and the new application permissions before reporting a failure
        /// (looks again with back-off; other customers go on meanwhile).
        #[arg(long, value_name = "SECS", default_value_t = 300)]
        replication_wait: u64,
        /// Also wait until Graph lists the new application permissions (their app-role
        /// assignments replicate too), so app-only tokens carry them when the command ends.
        #[arg(long)]
        wait_for_roles: bool,
        /// Concurrency and rate.
        #[command(flatten)]
        fan_out: FanOut,
    },
    /// Remove the application's consent from customer tenants
    /// (DELETE /v1/customers/{id}/applicationconsents/{appId}).
    Remove {
        /// Which customers.
        #[command(flatten)]
        customers: CustomerSelection,
        /// Concurrency and rate.
        #[command(flatten)]
        fan_out: FanOut,
    },
    /// Read the consent back in each customer tenant — the delegated permissions (`scp` of the
    /// partner user's token there) and the application permissions (`roles` of the
    /// application's app-only token) — and name each one missing from those given.
    Verify {
        /// Which customers.
        #[command(flatten)]
        customers: CustomerSelection,
        /// What is expected (none named: the configured customers.delegated_permissions and
        /// application_permissions; none configured either: report what is held).
        #[command(flatten)]
        permissions: Permissions,
        /// Concurrency and rate.
        #[command(flatten)]
        fan_out: FanOut,
    },
}

impl ConsentCommand {
    /// Which customers, and how many at once.
    pub fn scope(&self) -> (&CustomerSelection, &FanOut) {
        match self {
            Self::Grant {
                customers, fan_out, ..
            }
            | Self::Remove {
                customers, fan_out, ..
            }
            | Self::Verify {
                customers, fan_out, ..
            } => (customers, fan_out),
        }
    }

    /// The usage error of the command line, if any (checked before anything is sent), with
    /// the permissions `configured` as the default of the flags.
    pub fn usage_error(&self, configured: &CustomerPermissions) -> Option<String> {
        match self {
            Self::Grant { permissions, .. } => {
                let asked = permissions.asked(configured);
                if asked.delegated.is_empty() {
                    return Some(
                        "consent grant needs --delegated RESOURCE:SCOPES (or customers.delegated_permissions in the configuration): Partner Center's application consent grants delegated permissions (e.g. --delegated graph:User.Read.All)".into(),
                    );
                }
                if asked.application.is_empty() {
                    None
                } else {
                    asked.delegated.cannot_assign_app_roles()
                }
            }
            _ => None,
        }
    }
}

/// Writes a usage error; exit 2.
pub fn usage_error(err: &mut dyn Write, message: &str) -> ExitCode {
    let _ = writeln!(err, "error: {message}");
    Exit::Config.into()
}

/// `--customer` names customers of one partner only.
pub fn single_partner(partners: &[String], customers: &[String]) -> Result<(), String> {
    if !customers.is_empty() && partners.len() != 1 {
        return Err(format!(
            "--customer needs exactly one partner, and {} are selected: name it with --partner",
            partners.len()
        ));
    }
    Ok(())
}

/// `consent grant | remove | verify` for `partners` (never empty).
pub async fn run(
    app: &App,
    partners: Vec<String>,
    command: ConsentCommand,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let (customers, fan_out) = command.scope();
    let selection = match customers.selection.resolve(app.customer_settings()) {
        Ok(s) => s,
        Err(failure) => return usage_error(err, &failure.message),
    };
    let listed = selection.listed();
    if let Err(e) = single_partner(&partners, listed.as_deref().unwrap_or_default()) {
        return usage_error(err, &e);
    }
    let configured = app.customer_permissions();
    if let Some(e) = command.usage_error(configured) {
        return usage_error(err, &e);
    }
    let run = ops::Run {
        targets: ops::Targets {
            partners,
            customers: listed.clone().unwrap_or_default(),
            all: listed.is_none(),
            exclude: selection.exclude.clone(),
            // `grant` leaves membership to Partner Center's own refusal.
            check_membership: !matches!(command, ConsentCommand::Grant { .. }),
        },
        concurrency: usize::from(fan_out.concurrency),
        format,
        wait: match &command {
            ConsentCommand::Grant {
                replication_wait,
                wait_for_roles,
                ..
            } => WaitPolicy {
                roles: *wait_for_roles,
                ..WaitPolicy::within(Duration::from_secs(*replication_wait))
            },
            _ => WaitPolicy::default(),
        },
    };
    match command {
        ConsentCommand::Grant {
            permissions, reset, ..
        } => ops::grant(app, &run, &permissions.asked(configured), reset, out, err).await,
        ConsentCommand::Remove { .. } => ops::remove(app, &run, out).await,
        ConsentCommand::Verify { permissions, .. } => {
            ops::verify(app, &run, &permissions.asked(configured), out).await
        }
    }
}
