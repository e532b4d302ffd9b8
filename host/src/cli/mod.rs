//! The `mosaic` command line: serve the platform, migrate its database, manage
//! tenants and the audit log, mint development tokens.

mod admin;
mod audit;
mod bench;
mod billing;
mod demo;
mod events;
mod mail;
mod module;
mod serve;
mod tenant;
mod token;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::{AppState, Config};

#[derive(Parser)]
#[command(
    name = "mosaic",
    version,
    about = "Multi-tenant platform running business modules as Wasm components",
    after_help = "Logs go to stderr, in colour only on a terminal. MOSAIC_LOG sets what is \
                  logged, as a tracing filter (default `info`; e.g. `mosaic=debug,sqlx=warn`)."
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

/// The options every subcommand takes, under their own heading in each `--help`.
#[derive(Args)]
#[command(next_help_heading = "Global options")]
struct Common {
    /// Where the SQLite database, the generated JWT secret and the compiled-module cache live.
    #[arg(long, env = "MOSAIC_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// `postgres://...` to use PostgreSQL instead of the embedded SQLite file.
    #[arg(long, env = "DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// HS256 signing secret of at least 32 bytes; generated and kept in the data dir
    /// when unset (not in production).
    #[arg(long, env = "MOSAIC_JWT_SECRET", hide_env_values = true, global = true)]
    jwt_secret: Option<String>,
    /// A file holding the signing secret, instead of `--jwt-secret`.
    #[arg(
        long,
        env = "MOSAIC_JWT_SECRET_FILE",
        global = true,
        conflicts_with = "jwt_secret"
    )]
    jwt_secret_file: Option<PathBuf>,
    /// Secrets being rotated out, comma-separated, each of at least 32 bytes: tokens
    /// they signed are still accepted. An empty item (a stray comma) is refused.
    #[arg(
        long,
        env = "MOSAIC_JWT_PREVIOUS_SECRETS",
        hide_env_values = true,
        value_delimiter = ',',
        global = true
    )]
    jwt_previous_secrets: Vec<String>,
    /// The key audit rows are sealed with (HMAC), at least 32 bytes, kept outside the
    /// database; generated and kept in the data dir when unset (not in production).
    #[arg(long, env = "MOSAIC_AUDIT_KEY", hide_env_values = true, global = true)]
    audit_key: Option<String>,
    /// A file holding the audit key, instead of `--audit-key`.
    #[arg(
        long,
        env = "MOSAIC_AUDIT_KEY_FILE",
        global = true,
        conflicts_with = "audit_key"
    )]
    audit_key_file: Option<PathBuf>,
    /// Production: an explicit secret is required; demo data, benchmark routes and
    /// `token issue` are refused.
    #[arg(long, env = "MOSAIC_PRODUCTION", global = true)]
    production: bool,
    /// Directory holding the built-in modules' `.wasm` files [default: where
    /// `cargo build-modules` puts them, under `$CARGO_TARGET_DIR` or `./target`].
    #[arg(long, env = "MOSAIC_MODULES_DIR", global = true)]
    modules_dir: Option<PathBuf>,
    /// Publishers whose signed modules this platform installs, comma-separated, each
    /// `name=<base64 ed25519 public key>` (from `mosaic module keygen`). Production
    /// installs signed modules only.
    #[arg(
        long = "publisher-key",
        env = "MOSAIC_PUBLISHER_KEYS",
        value_delimiter = ',',
        global = true,
        value_parser = crate::provisioning::packages::parse_publisher_key
    )]
    publisher_keys: Vec<(String, ed25519_dalek::VerifyingKey)>,
    /// The largest module component an upload may be, in MiB.
    #[arg(
        long,
        env = "MOSAIC_MAX_MODULE_MIB",
        default_value_t = 64,
        global = true
    )]
    max_module_mib: usize,
    /// The plan a new tenant's trial is of (it cannot be retired).
    #[arg(
        long,
        env = "MOSAIC_DEFAULT_PLAN",
        default_value = "starter",
        global = true
    )]
    default_plan: String,
    /// Length of a new tenant's trial, in days.
    #[arg(long, env = "MOSAIC_TRIAL_DAYS", default_value_t = 14, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3650))]
    trial_days: u64,
    /// How long a past-due subscription is still served, in days.
    #[arg(long, env = "MOSAIC_GRACE_DAYS", default_value_t = 7, global = true,
          value_parser = clap::value_parser!(u64).range(0..=3650))]
    grace_days: u64,
    /// Tax on every invoice, in basis points (2000 is 20 %).
    #[arg(long, env = "MOSAIC_TAX_RATE_BPS", default_value_t = 0, global = true,
          value_parser = clap::value_parser!(i64).range(0..=10_000))]
    tax_rate_bps: i64,
    /// Who invoices are from, as printed on them.
    #[arg(
        long,
        env = "MOSAIC_PLATFORM_NAME",
        default_value = "Mosaic",
        global = true
    )]
    platform_name: String,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(serve::Serve),
    /// Apply database migrations and exit.
    Migrate,
    /// Development tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Platform administrators.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Tenants: create, list, change state, toggle modules, bulk-create from CSV.
    Tenant {
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
    /// Modules: scaffold, build, check, sign, install, grant, roll back, uninstall.
    Module {
        #[command(subcommand)]
        command: module::ModuleCommand,
    },
    /// Billing: the plans tenants subscribe from.
    Billing {
        #[command(subcommand)]
        command: billing::BillingCommand,
    },
    /// Demo requests sent from the public site.
    Demo {
        #[command(subcommand)]
        command: demo::DemoCommand,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Events: the outbox, dead letters, replay.
    Events {
        #[command(subcommand)]
        command: events::EventsCommand,
    },
    /// The development mailbox: mail the host would send.
    Mail {
        #[command(subcommand)]
        command: mail::MailCommand,
    },
    /// Benchmark helpers (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

/// Parses the command line and runs it.
pub async fn run() -> anyhow::Result<()> {
    // Logs go to stderr, so that what a command prints on stdout (JSON, a token) can
    // be piped; colours only on a terminal. Already set when a test runs the CLI
    // in-process.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MOSAIC_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,wasmtime=warn,cranelift=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let cli = Cli::parse();
    let mut config = Config::new(&cli.common.data_dir);
    config.database_url = cli.common.database_url.clone();
    config.jwt_secret = match &cli.common.jwt_secret_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the JWT secret from {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => cli.common.jwt_secret.clone(),
    };
    config.jwt_previous_secrets = cli.common.jwt_previous_secrets.clone();
    config.audit_key = match &cli.common.audit_key_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the audit key from {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => cli.common.audit_key.clone(),
    };
    config.production = cli.common.production;
    config.packages = crate::provisioning::PackageSettings {
        max_bytes: cli.common.max_module_mib.max(1).saturating_mul(1 << 20),
        publisher_keys: cli.common.publisher_keys.clone(),
        require_signature: cli.common.production,
    };
    config.billing = crate::billing::BillingSettings {
        default_plan: cli.common.default_plan.clone(),
        // The billing commands are how a wrong default is put right.
        check_default_plan: !matches!(cli.command, Command::Billing { .. }),
        trial: std::time::Duration::from_secs(cli.common.trial_days.saturating_mul(86_400)),
        grace: std::time::Duration::from_secs(cli.common.grace_days.saturating_mul(86_400)),
        tax_rate_bps: cli.common.tax_rate_bps,
        platform_name: cli.common.platform_name.clone(),
    };
    let modules_dir = cli.common.modules_dir.unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from)
            .join("wasm32-wasip2/release")
    });
    match cli.command {
        Command::Serve(serve) => serve::run(config, &modules_dir, serve).await,
        Command::Tenant { command } => {
            add_builtin_modules(&mut config, &modules_dir)?;
            tenant::run(AppState::build(config).await?, command).await
        }
        Command::Billing { command } => {
            add_builtin_modules(&mut config, &modules_dir)?;
            billing::run(AppState::build(config).await?, command).await
        }
        Command::Demo { command } => {
            add_builtin_modules(&mut config, &modules_dir)?;
            demo::run(AppState::build(config).await?, command).await
        }
        Command::Module { command } => module::run(config, &modules_dir, command).await,
        Command::Audit { command } => audit::run(config, command).await,
        Command::Events { command } => {
            add_builtin_modules(&mut config, &modules_dir)?;
            events::run(AppState::build(config).await?, command).await
        }
        Command::Migrate => {
            std::fs::create_dir_all(&config.data_dir)?;
            let db = config.open_db().await?;
            db.migrate().await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Token { command } => token::run(config, command).await,
        Command::Admin { command } => admin::run(config, command).await,
        Command::Mail { command } => mail::run(config, command).await,
        Command::Bench { command } => bench::run(command).await,
    }
}

/// The shipped modules, which every command that provisions tenants needs installed.
fn add_builtin_modules(config: &mut Config, modules_dir: &std::path::Path) -> anyhow::Result<()> {
    for name in crate::BUILTIN_MODULES {
        let path = modules_dir.join(format!("{name}.wasm"));
        anyhow::ensure!(
            path.exists(),
            "module {} is missing: build the modules first with `cargo build-modules`",
            path.display()
        );
        config.shipped_modules.push(path);
    }
    Ok(())
}

/// The audit log's name for whoever runs the CLI.
pub(super) fn cli_actor_id() -> String {
    let login = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{login}")
}

/// Prints `value` as JSON on stdout. A reader that went away (`| head`) ends the
/// output quietly rather than with a panic.
pub(super) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let text = serde_json::to_string_pretty(value)?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}
