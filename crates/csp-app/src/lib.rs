//! `csp-app`: act for a CSP partner in Partner Center and Microsoft Graph with the consented
//! refresh token (Secure Application Model).
//!
//! How a command flows: [`run`] loads and validates configuration (exit 2 on any problem),
//! builds the one HTTP client and the token broker ([`context::Context`]), then a handler in
//! [`commands`] ([`gdap`] for the GDAP lifecycle, [`fanout`] for `users list --all-customers`,
//! both over the customer list of [`customers`]) calls the `common` Partner
//! Center and Graph clients and renders through [`cli_kit::output`]. `watch` ([`watch`]) is the
//! long-running mode: checks on a schedule, Prometheus metrics, webhook notifications. Failures become an exit code
//! and a message naming the remedy ([`cli_kit::Failure`]). Start-up (configuration, telemetry,
//! `config check`/`show`) is [`cli_kit::startup`], shared with `cpv-app`.
//!
//! The binary is a thin `main.rs` over [`run`], so tests drive the same code in-process.

pub mod commands;
pub mod context;
pub mod customers;
pub mod fanout;
pub mod gdap;
pub mod watch;

use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use cli_kit::ConfigArgs;

pub use cli_kit::{Exit, OutputFormat};

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
    Watch(watch::WatchArgs),
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
    /// with the same roles already present is success.
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
    },
    /// End an active relationship (a `terminate` request): the partner loses its roles in the
    /// customer tenant.
    Terminate {
        /// Relationship ID.
        #[arg(long)]
        relationship: String,
    },
    /// Turn automatic extension on (autoExtendDuration P180D: extended by 180 days at its end
    /// date) or off (--off: PT0S, it expires at its end date). Not allowed with Global
    /// Administrator.
    Extend {
        /// Relationship ID.
        #[arg(long)]
        relationship: String,
        /// Turn automatic extension off.
        #[arg(long)]
        off: bool,
    },
    /// Active relationships, across all customers, that end within the window and do not
    /// extend automatically.
    Expiring {
        /// The window: days (30d), hours (12h), weeks (4w) or an ISO 8601 duration (P30D).
        #[arg(long, default_value = "30d", value_parser = gdap::parse_window)]
        within: gdap::Window,
    },
    /// Which roles the signed-in account of the stored grant actually gets in a customer
    /// tenant, through which relationship and which security group; when none, why and what
    /// to do. Exit 1 when it gets no role.
    Check {
        /// Customer tenant ID.
        #[arg(long)]
        customer: String,
    },
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
#[command(group(clap::ArgGroup::new("scope").required(true).args(["customer", "all_customers"])))]
pub struct UsersListArgs {
    /// Customer tenant ID.
    #[arg(long)]
    pub customer: Option<String>,
    /// Every customer of the partner (Partner Center customer list).
    #[arg(long)]
    pub all_customers: bool,
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

/// Runs a parsed command line, writing results to `out` and messages (errors, remedies, the
/// fan-out summary) to `err`.
pub async fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let json = cli.output != OutputFormat::Table;
    let shared = match &cli.command {
        Command::Shared(shared) => Some(shared),
        _ => None,
    };
    let settings = match admin::setup::cli::start(&cli.config, shared, json, out).await {
        ControlFlow::Continue(settings) => settings,
        ControlFlow::Break(code) => return code,
    };
    if let Command::Consent(command) = cli.command {
        return consent(settings, command, cli.output, out, err).await;
    }
    let ctx = match context::Context::build(&settings).await {
        Ok(ctx) => ctx,
        Err(failure) => return failure.report(err),
    };
    let code = commands::dispatch(&ctx, cli.command, cli.output, out, err).await;
    // Refresh tokens rotated during the command are stored before the process exits.
    ctx.broker.flush().await;
    code
}

/// `consent grant | remove | verify` for the partner (`partner.tenant_id`): the same
/// implementation as `cpv-app`'s, with one partner.
async fn consent(
    settings: common::config::Settings,
    command: admin::consent::cli::ConsentCommand,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let partner = match context::partner_of(&settings) {
        Ok(p) => p,
        Err(failure) => return failure.report(err),
    };
    let options = admin::consent::AppOptions {
        consent_rate: command.scope().1.consent_rate,
        tool: "csp-app",
    };
    let app = match admin::consent::App::new(settings, options).await {
        Ok(app) => app,
        Err(e) => return cli_kit::Failure::from(&e).report(err),
    };
    let partner = partner.to_ascii_lowercase();
    let code = admin::consent::cli::run(&app, vec![partner], command, format, out, err).await;
    app.broker().flush().await;
    code
}
