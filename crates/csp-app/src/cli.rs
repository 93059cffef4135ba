//! The command line of `csp-app`: every clap type in one place. The handlers of
//! [`crate::commands`] receive these, one file per command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use cli_kit::ConfigArgs;
use cli_kit::output::{OutputFormat, Window, parse_window};

use crate::watch::notify::{WebhookFormat, WebhookUrl};

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  failure (the message names the remedy: GDAP missing, throttled, not found, ...)
  2  configuration error (every problem is listed)
  3  the partner must consent again (refresh token expired or revoked, or MFA missing);
     the message gives the consent URL. `keepalive`, `status` and `watch --once` use it for monitoring.
  4  partial failure: a fan-out over customers finished, but some customers failed
     (listed on stderr at the end); `watch --once`: warnings or critical findings";

/// Command line of `csp-app`.
#[derive(Debug, Parser)]
#[command(
    name = "csp-app",
    version,
    about = "Act for a CSP partner in Partner Center and Microsoft Graph with the consented refresh token (Secure Application Model).",
    long_about = "Act for a CSP partner in Partner Center and Microsoft Graph with the consented refresh token (Secure Application Model).\n\nThe refresh token an admin agent consented through partner-consent is read from the configured store (local encrypted file or Key Vault), redeemed for access tokens (at the partner tenant, or at a customer tenant through GDAP) and rotated on every redemption. Run `keepalive` from a scheduler (or `watch`, which also exports metrics and alerts) so it never expires from inactivity."
)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct Cli {
    /// Configuration sources.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output format of results (logs and errors go to stderr).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `grant` subcommands.
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    #[command(about = admin::grant::ABOUT)]
    /// Put back the partner's grant from before the stored one.
    Restore {
        /// Show which grant would come back; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// `config`, `setup` and `doctor`, shared with the other CLI.
    #[command(flatten)]
    Shared(admin::setup::cli::SharedCommand),
    /// Show the partner's grant: tenant, app, where the refresh token is stored, when it was
    /// consented and last rotated, whether MFA was used, and whether it still works (one
    /// redemption). Exit 0 when healthy, 3 when consent is needed again, 1 otherwise.
    Status,
    /// Redeem and rotate the stored refresh token so it never reaches its 90-day inactivity
    /// expiry. Schedule it (cron, systemd timer) daily or weekly. Exit 3, with the consent URL,
    /// when the token can no longer be redeemed.
    Keepalive,
    /// The partner's stored grant.
    #[command(subcommand)]
    Grant(GrantCommand),
    /// The partner's customers: Partner Center's list merged with Graph's delegated admin
    /// customers (GDAP), by tenant ID.
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// GDAP relationships (Microsoft Graph delegatedAdminRelationships, partner tenant).
    #[command(subcommand)]
    Gdap(GdapCommand),
    /// The automation app's consent in customer tenants. Under GDAP a multitenant app gets no
    /// token at a customer's authority until it is consented there (AADSTS65001): `grant`
    /// consents it through Partner Center, as Microsoft's GDAP guidance for app-based
    /// automation does; `verify` reads the permissions back.
    #[command(subcommand)]
    Consent(admin::consent::cli::ConsentCommand),
    /// Users of customer tenants (Microsoft Graph through GDAP).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Raw Microsoft Graph requests.
    #[command(subcommand)]
    Graph(GraphCommand),
    /// Raw Partner Center requests.
    #[command(name = "partner-center", subcommand)]
    PartnerCenter(PartnerCenterCommand),
    /// Watch the grant and what expires silently: keepalive for every stored partner, refresh-token
    /// inactivity, app credential expiry, GDAP relationship expiry and auto-extension, permission
    /// drift. Serves Prometheus /metrics and /healthz, notifies a webhook (generic JSON, Teams,
    /// Slack) once per change of state. --once runs one cycle for cron: exit 0 all ok, 3 a
    /// partner must consent again, 4 warnings or critical findings, 1 a check could not run.
    Watch(WatchArgs),
    /// Onboard customers end to end with a role template: create the GDAP relationship, lock it
    /// for approval and print the approval link, wait for the customer's approval (or return
    /// and resume later), wait until active, create the template's access assignments and wait
    /// for them, consent the app in the customer tenant, check access from the customer's side.
    /// Every step is recorded in a journal (0600) before the next begins: run the same command
    /// again to resume every customer; `onboard status` shows where each stands. Exit 4 when
    /// some customers failed (each with its remedy).
    Onboard(OnboardArgs),
    /// Access proved from the customer's side.
    #[command(subcommand)]
    Access(AccessCommand),
    /// GDAP role templates of the configuration (`[templates.NAME]`): what `onboard` gives
    /// each customer. Every template is validated at start-up, every problem listed.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Print a fresh access token to stdout, for scripts (like `az account get-access-token`).
    /// Treat the output as a secret.
    Token(TokenArgs),
}

/// `customers` subcommands (Partner Center).
#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// List the partner's customers (every page): Partner Center's customers and the customers
    /// with an active GDAP relationship (Graph delegatedAdminCustomers), merged by tenant ID;
    /// SOURCE says where each was found.
    List {
        /// Only customers whose company name starts with this.
        #[arg(long, conflicts_with = "domain")]
        name: Option<String>,
        /// Only customers whose domain starts with this.
        #[arg(long)]
        domain: Option<String>,
        /// Page size asked of Partner Center (1-500).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500))]
        page_size: u32,
    },
    /// Show one customer.
    Show {
        /// Customer ID (tenant ID).
        id: String,
    },
    /// List a customer's user accounts (Partner Center view).
    Users {
        /// Customer ID (tenant ID).
        #[arg(long)]
        customer: String,
    },
    /// List a customer's subscriptions.
    Subscriptions {
        /// Customer ID (tenant ID).
        #[arg(long)]
        customer: String,
    },
}

/// `onboard` arguments.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct OnboardArgs {
    /// `status`: where each customer of the journal stands.
    #[command(subcommand)]
    pub command: Option<OnboardCommand>,
    /// Which customers.
    #[command(flatten)]
    pub selection: cli_kit::SelectionArgs,
    /// The role template (`csp-app templates list`).
    #[arg(long)]
    pub template: Option<String>,
    /// The journal file (default: onboard-journal.ndjson next to the local token store, or
    /// sam-onboard-journal.ndjson in the working directory with a Key Vault store).
    #[arg(long, global = true)]
    pub journal: Option<PathBuf>,
    /// Wait this long for each customer's approval (30m, 2h); by default the link is recorded
    /// and the run goes on: run it again after the customers approved.
    #[arg(long, value_parser = parse_span)]
    pub wait_approval: Option<Span>,
    /// Customers onboarded at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Waiting for Graph's asynchronous changes (activation, assignments).
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `access` subcommands.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Per customer: the GDAP relationship and its assignments, the account's group
    /// membership, a delegated token at the customer's authority, a cheap read per role, and
    /// the app's consent there; what works and why not (no relationship, relationship not
    /// active, assignment pending, user not in the group, app not consented, Conditional
    /// Access, throttled). Exit 0 all work, 4 some, 1 none.
    Check(AccessCheckArgs),
}

/// `access check` arguments.
#[derive(Debug, Args)]
pub struct AccessCheckArgs {
    /// Which customers.
    #[command(flatten)]
    pub selection: cli_kit::SelectionArgs,
    /// Check the roles of this template (default: the roles the account holds).
    #[arg(long)]
    pub template: Option<String>,
    /// Customers checked at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

/// `onboard` subcommands.
#[derive(Debug, Subcommand)]
pub enum OnboardCommand {
    /// Each customer of the journal: its step, since when, what is awaited (the approval link),
    /// failures with their remedies. Exit 4 when some failed.
    Status,
}

/// `templates` subcommands.
#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// The configured templates: roles, groups, duration, auto-extension.
    List,
    /// One template: its display-name pattern and each access assignment (group and roles).
    Show {
        /// The template's name (`[templates.NAME]`).
        name: String,
    },
    /// The built-in roles a template may name (by name or template ID).
    Roles,
}

/// `gdap` subcommands.
#[derive(Debug, Subcommand)]
pub enum GdapCommand {
    /// List GDAP relationships.
    List {
        /// Only relationships in this status (active, created, approvalPending, expired, ...).
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one relationship.
    Show {
        /// Relationship ID.
        id: String,
    },
    /// Create a relationship. The creation rules (display name of at most 50 characters and
    /// unique, duration P1D..P2Y, auto-extend PT0S/P0D/P180D and never with Global
    /// Administrator, at least one role) are checked before Graph is called.
    Create {
        /// Display name (unique among the partner's relationships, at most 50 characters).
        #[arg(long)]
        display_name: String,
        /// The customer's tenant ID (omit to let any customer accept the invitation).
        #[arg(long)]
        customer: Option<String>,
        /// ISO 8601 duration, P1D to P2Y.
        #[arg(long, default_value = "P730D")]
        duration: String,
        /// Role template ID to grant (repeatable), e.g. 88d8e3e3-8f55-4a1e-953a-9b9898b8876b
        /// (Directory Readers).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Auto-extension: PT0S (none), P0D or P180D.
        #[arg(long)]
        auto_extend: Option<String>,
    },
    /// Lock a created relationship for the customer's approval and print the approval link to
    /// send to the customer's Global Administrator.
    LockForApproval {
        /// Relationship ID.
        id: String,
    },
    /// Give a partner security group roles of an active relationship (an access assignment):
    /// its members get them in the customer tenant. Idempotent: an assignment of the group
    /// with the same roles already present is success. Waits for a relationship the customer
    /// just approved to be active (approved → activating → active), then for the assignment to
    /// take effect (pending → active), with a line on stderr per state; --no-wait returns at
    /// once.
    Assign {
        /// Relationship ID.
        #[arg(long)]
        relationship: String,
        /// Object ID of the security group in the partner tenant.
        #[arg(long)]
        group: String,
        /// Roles (names such as "Directory Readers", or template IDs), comma-separated or
        /// repeated; a subset of the relationship's roles.
        #[arg(long = "role", required = true, value_delimiter = ',')]
        roles: Vec<String>,
        /// Waiting for the relationship to be active and the assignment to take effect.
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// End an active relationship (a `terminate` request): the partner loses its roles in the
    /// customer tenant. Waits until it is terminated (terminationRequested → terminating →
    /// terminated); --no-wait returns once Graph accepted the request.
    Terminate {
        /// Relationship ID.
        #[arg(long)]
        relationship: String,
        /// Waiting for the termination to complete.
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Turn automatic extension on (autoExtendDuration P180D: extended by 180 days at its end
    /// date) or off (--off: PT0S, it expires at its end date). Not allowed with Global
    /// Administrator. Waits until Graph shows the new setting; --no-wait returns at once.
    Extend {
        /// Relationship ID.
        #[arg(long)]
        relationship: String,
        /// Turn automatic extension off.
        #[arg(long)]
        off: bool,
        /// Waiting for the change to show.
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Active relationships, across all customers, that end within the window and do not
    /// extend automatically.
    Expiring {
        /// The window: days (30d), hours (12h), weeks (4w) or an ISO 8601 duration (P30D).
        #[arg(long, default_value = "30d", value_parser = parse_window)]
        within: Window,
    },
    /// Which roles the signed-in account of the stored grant actually gets in a customer
    /// tenant, through which relationship and which security group; when none, why and what
    /// to do. Only active access assignments of active relationships count: one still pending
    /// (or a relationship still activating) is reported as access pending. Exit 1 when it gets
    /// no role.
    Check {
        /// Customer tenant ID.
        #[arg(long)]
        customer: String,
    },
}

/// How a command that changes GDAP waits for Graph to complete the change.
#[derive(Clone, Copy, Debug, Args)]
pub struct WaitArgs {
    /// Return as soon as Graph accepted the change, without waiting for it to complete.
    #[arg(long)]
    pub no_wait: bool,
    /// The most to wait for Graph to complete the change (30s, 15m, 1h).
    #[arg(long, default_value = "10m", value_parser = parse_span)]
    pub wait_timeout: Span,
}

impl WaitArgs {
    /// The budget of a wait.
    pub fn budget(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.wait_timeout.0.unsigned_abs())
    }
}

/// `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users of one customer, or of every customer (fan-out with bounded concurrency;
    /// per-customer failures are reported at the end and give exit 4).
    List(UsersListArgs),
}

/// `users list` arguments.
#[derive(Debug, Args)]
pub struct UsersListArgs {
    /// Which customers (one customer lists its users alone; more fan out).
    #[command(flatten)]
    pub selection: cli_kit::SelectionArgs,
    /// Graph calls in flight at once across customers with --all-customers (a customer waiting
    /// on Retry-After holds none; the customer list, read meanwhile, adds its own page request).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Graph page size ($top).
    #[arg(long, default_value_t = 999)]
    pub page_size: u32,
    /// Properties to return ($select), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub select: Vec<String>,
}

/// `graph` subcommands.
#[derive(Debug, Subcommand)]
pub enum GraphCommand {
    /// Authenticated GET of any Graph path, e.g. `/v1.0/organization`.
    Get {
        /// Path (and query) under the Graph base URL.
        path: String,
        /// Run in this customer tenant (through GDAP) instead of the partner tenant.
        #[arg(long)]
        customer: Option<String>,
    },
}

/// `partner-center` subcommands.
#[derive(Debug, Subcommand)]
pub enum PartnerCenterCommand {
    /// Authenticated GET of any Partner Center path, e.g. `/v1/customers?size=10`.
    Get {
        /// Path (and query) under the Partner Center base URL.
        path: String,
    },
}

/// `token` arguments.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The API: a name (partner-center, graph, key-vault, exchange, arm, defender),
    /// an App ID URI (https://outlook.office365.com) or its /.default scope. URIs must be HTTPS
    /// without query or fragment.
    #[arg(long, value_parser = common::cloud::Resource::parse)]
    pub resource: common::cloud::Resource,
    /// A customer tenant (GDAP) instead of the partner tenant.
    #[arg(long)]
    pub customer: Option<String>,
}

/// A length of time on the command line: `30s`, `15m`, `6h`, `30d`, `4w` or ISO 8601 (`P30D`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span(pub i64);

/// Parses a [`Span`].
pub fn parse_span(text: &str) -> Result<Span, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.len().saturating_sub(1));
    let seconds = match unit {
        "s" => number.parse::<i64>().ok(),
        "m" => number.parse::<i64>().ok().map(|n| n * 60),
        _ => parse_window(t).ok().map(|w| w.0),
    };
    seconds
        .filter(|s| *s > 0)
        .map(Span)
        .ok_or_else(|| format!("{text:?} is not a duration such as 30s, 15m, 6h, 30d, 4w or P30D"))
}

/// Where the HTTP endpoints listen (`off`: nowhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen(pub Option<std::net::SocketAddr>);

/// Parses a [`Listen`].
pub fn parse_listen(text: &str) -> Result<Listen, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(Listen(None));
    }
    text.parse()
        .map(|a| Listen(Some(a)))
        .map_err(|_| format!("{text:?} is not an address such as 127.0.0.1:9464 (or off)"))
}

/// `watch` arguments.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Run one cycle, print the findings and exit (for cron): 0 all ok, 3 a partner must
    /// consent again, 4 warnings or critical findings, 1 a check could not run.
    #[arg(long)]
    pub once: bool,
    /// Time between cycles (30s, 15m, 6h, 30d, P1D).
    #[arg(long, default_value = "6h", value_parser = parse_span)]
    pub interval: Span,
    /// Address of /metrics and /healthz, or `off`.
    #[arg(long, default_value = "127.0.0.1:9464", value_parser = parse_listen)]
    pub listen: Listen,
    /// Webhook notified of every change of state (a secret: Teams and Slack URLs carry their
    /// credential; prefer the environment variable).
    #[arg(long, env = "SAM_WATCH_WEBHOOK_URL", hide_env_values = true, value_parser = |s: &str| Ok::<_, String>(WebhookUrl::new(s)))]
    pub webhook_url: Option<WebhookUrl>,
    /// Body format of the webhook.
    #[arg(long, value_enum, default_value_t = WebhookFormat::Generic)]
    pub webhook_format: WebhookFormat,
    /// Where states between cycles are kept (JSON, owner-only). Default: watch-state.json next
    /// to the local token store (store.local.path), or sam-watch-state.json in the working
    /// directory with a Key Vault store.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Warn when something expires within this.
    #[arg(long, default_value = "30d", value_parser = parse_span)]
    pub warn_within: Span,
    /// Critical when something expires within this.
    #[arg(long, default_value = "7d", value_parser = parse_span)]
    pub critical_within: Span,
    /// Warn of a GDAP relationship left in a transitional status (approved, activating,
    /// expiring, terminationRequested, terminating) longer than this: Microsoft completes
    /// those within minutes, so one stuck needs a look in Partner Center or a support request.
    #[arg(long, default_value = "1h", value_parser = parse_span)]
    pub gdap_stuck_after: Span,
    /// Which customers the watch covers (GDAP findings and metrics, the access check, the
    /// console). Default: every customer of the partner minus the configured
    /// `[customers] exclude`.
    #[command(flatten)]
    pub customers: WatchSelectionArgs,
    /// How often each customer's access is checked from its side (a delegated token at the
    /// customer's authority and a read per role, as `csp-app access check`): 30m, 24h, 7d…, or
    /// `off`. Results are kept in the state file; a customer whose relationships changed, or
    /// whose last check could not tell (throttled, error), is checked at the next cycle.
    #[arg(long, default_value = "24h", value_parser = parse_every)]
    pub access_check_every: Every,
    /// Customers whose access is checked at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub access_check_concurrency: u16,
    /// The onboarding journal whose steps the console shows (read only; a missing file is
    /// fine). Default: `onboard`'s (onboard-journal.ndjson next to the local token store).
    #[arg(long, value_name = "FILE")]
    pub onboard_journal: Option<PathBuf>,
    /// Partners kept alive (and their GDAP relationships listed) at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

/// The watch's customer selection: the fan-outs' flags, none required (default: every
/// customer minus the configured exclusions).
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Customers and their access check")]
pub struct WatchSelectionArgs {
    /// Watch only this customer: its tenant ID (repeatable). Without --customer or
    /// --tenants-file the watch covers every customer of the partner minus the configured
    /// `[customers] exclude` (and --exclude).
    #[arg(long = "customer", value_name = "TENANT")]
    pub customers: Vec<String>,
    /// Every customer of the partner, minus the exclusions (the default when no customer is
    /// named).
    #[arg(long, conflicts_with_all = ["customers", "tenants_file"])]
    pub all_customers: bool,
    /// Watch only the customers of this file: one tenant ID per line; blank lines and `#`
    /// comments are ignored.
    #[arg(long, value_name = "FILE")]
    pub tenants_file: Option<PathBuf>,
    /// Leave these customers out (tenant IDs; repeatable or comma-separated), in addition to
    /// the configured `[customers] exclude`.
    #[arg(long, value_delimiter = ',', value_name = "TENANT")]
    pub exclude: Vec<String>,
    /// Ignore the configured `[customers] exclude` list.
    #[arg(long)]
    pub no_default_exclude: bool,
}

impl WatchSelectionArgs {
    /// The selection: as the fan-outs resolve it, every customer when none is named.
    pub fn resolve(
        &self,
        configured: &common::config::CustomerSettings,
    ) -> Result<cli_kit::Selection, cli_kit::Failure> {
        let named = !self.customers.is_empty() || self.tenants_file.is_some();
        cli_kit::SelectionArgs {
            customers: self.customers.clone(),
            all_customers: self.all_customers || !named,
            tenants_file: self.tenants_file.clone(),
            exclude: self.exclude.clone(),
            no_default_exclude: self.no_default_exclude,
        }
        .resolve(configured)
    }
}

/// How often something runs, or never (`off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Every(pub Option<Span>);

/// Parses an [`Every`]: a [`Span`] or `off`.
pub fn parse_every(text: &str) -> Result<Every, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(Every(None));
    }
    parse_span(text)
        .map(|s| Every(Some(s)))
        .map_err(|e| format!("{e} (or off)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_seconds_to_weeks_and_iso() {
        assert_eq!(parse_span("30s"), Ok(Span(30)));
        assert_eq!(parse_span("15m"), Ok(Span(900)));
        assert_eq!(parse_span("6h"), Ok(Span(21_600)));
        assert_eq!(parse_span("30d"), Ok(Span(2_592_000)));
        assert_eq!(parse_span("P1D"), Ok(Span(86_400)));
        assert!(parse_span("soon").is_err());
        assert!(parse_span("0s").is_err());
    }

    #[test]
    fn listen_accepts_an_address_or_off() {
        assert_eq!(parse_listen("off"), Ok(Listen(None)));
        assert!(parse_listen("127.0.0.1:0").unwrap().0.is_some());
        assert!(parse_listen("localhost").is_err());
    }
}
