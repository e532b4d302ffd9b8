//! The `mosaic` command line: serve the platform, migrate its database, manage
//! tenants and the audit log, mint development tokens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::accounts::Origin;
use crate::auth::{Claims, JwtKeys, Role};
use crate::provisioning::{Actor, Conversion, NewTenant, Transition};
use crate::store::{AuditFilter, TenantChanges, TenantQuery};
use crate::tenancy::TenantStatus;
use crate::{AppState, Config, Limits};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// The modules that ship with Mosaic, loaded from `--modules-dir` by `serve`.
const BUILTIN_MODULES: &[&str] = &["employees", "attendance"];

#[derive(Parser)]
#[command(
    name = "mosaic",
    version,
    about = "Multi-tenant platform running business modules as Wasm components"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
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
    /// Production: an explicit secret is required; demo data, benchmark routes and
    /// `token issue` are refused.
    #[arg(long, env = "MOSAIC_PRODUCTION", global = true)]
    production: bool,
    /// Directory holding the built-in modules' `.wasm` files [default: where
    /// `cargo build-modules` puts them, under `$CARGO_TARGET_DIR` or `./target`].
    #[arg(long, env = "MOSAIC_MODULES_DIR", global = true)]
    modules_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(Serve),
    /// Apply database migrations and exit.
    Migrate,
    /// Development tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Platform administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Tenants: create, list, change state, toggle modules, bulk-create from CSV.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Demo requests sent from the public site.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The development mailbox: mail the host would send.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Benchmark helpers (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a SUPER_ADMIN account. The password is prompted for, or read from
    /// standard input when that is not a terminal.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Platform administrator")]
        name: String,
    },
}

#[derive(Subcommand)]
enum MailCommand {
    /// The newest messages, newest first.
    List {
        #[arg(long, default_value_t = 10)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Install, cold-slot and warm-call costs of the runtime, in-process.
    Runtime {
        /// A component with a `GET /fixed` route.
        #[arg(long, default_value = "target/wasm32-wasip2/release/testbed.wasm")]
        module: PathBuf,
        /// Number of warm calls to time.
        #[arg(long, default_value_t = 20_000)]
        warm_runs: usize,
    },
}

#[derive(Args)]
struct Serve {
    #[arg(long, env = "MOSAIC_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Tenants are also reachable as `<subdomain>.<base domain>`.
    #[arg(long, env = "MOSAIC_BASE_DOMAIN")]
    base_domain: Option<String>,
    /// An extra module component to install (repeatable).
    #[arg(long = "module")]
    extra_modules: Vec<PathBuf>,
    /// Do not seed the demo tenants into an empty database.
    #[arg(long)]
    no_demo: bool,
    /// Wall-clock deadline of one module call, in milliseconds.
    #[arg(long, env = "MOSAIC_CALL_TIMEOUT_MS", default_value_t = 2000)]
    call_timeout_ms: u64,
    /// Linear memory cap of one module instance, in MiB.
    #[arg(long, env = "MOSAIC_MAX_MEMORY_MIB", default_value_t = 64)]
    max_memory_mib: usize,
    /// Largest request body for a module route, in KiB.
    #[arg(long, env = "MOSAIC_MAX_REQUEST_KIB", default_value_t = 1024)]
    max_request_kib: usize,
    /// Largest response body a module may return, in KiB.
    #[arg(long, env = "MOSAIC_MAX_RESPONSE_KIB", default_value_t = 4096)]
    max_response_kib: usize,
    /// Warm instances per (tenant, module) slot.
    #[arg(long, env = "MOSAIC_INSTANCES_PER_SLOT", default_value_t = Limits::default().instances_per_slot)]
    instances_per_slot: usize,
    /// Recycle an instance after this many calls (1: a fresh instance per request).
    #[arg(long, env = "MOSAIC_RECYCLE_AFTER_CALLS", default_value_t = Limits::default().recycle_after_calls)]
    recycle_after_calls: u32,
    /// Failed logins in a row that lock an account.
    #[arg(long, env = "MOSAIC_MAX_FAILED_LOGINS", default_value_t = 5)]
    max_failed_logins: u32,
    /// How long a locked account stays locked, in seconds.
    #[arg(long, env = "MOSAIC_LOCKOUT_SECS", default_value_t = 900)]
    lockout_secs: u64,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "MOSAIC_ACCESS_TTL_SECS", default_value_t = 900)]
    access_ttl_secs: u64,
    /// Mount `GET /api/_native/fixed`, the native baseline of the HTTP benchmarks.
    #[arg(long)]
    bench_routes: bool,
    /// Requests per second each tenant may make (0: unlimited).
    #[arg(long, env = "MOSAIC_TENANT_RPS", default_value_t = 100)]
    tenant_rps: u32,
    /// Requests a tenant may make at once above its rate.
    #[arg(long, env = "MOSAIC_TENANT_BURST", default_value_t = 200)]
    tenant_burst: u32,
    /// How often to compare every tenant with the database, in milliseconds, to catch
    /// changes made elsewhere that no notification announced.
    #[arg(long, env = "MOSAIC_TENANT_SWEEP_MS", default_value_t = 2000)]
    tenant_sweep_ms: u64,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a signed access token (development and tests only).
    Issue(Issue),
}

#[derive(Args)]
struct Issue {
    /// The tenant's subdomain or id.
    #[arg(long, required_unless_present = "platform_admin")]
    tenant: Option<String>,
    /// MEMBER, MANAGER or TENANT_ADMIN.
    #[arg(long, default_value = "TENANT_ADMIN")]
    role: Role,
    /// The user id to put in the token.
    #[arg(long, default_value = "dev-user")]
    user: String,
    /// A SUPER_ADMIN token for the admin API, bound to no tenant.
    #[arg(long, conflicts_with = "tenant")]
    platform_admin: bool,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl_secs: u64,
}

/// Parses the command line and runs it.
pub async fn run() -> anyhow::Result<()> {
    // Already set when a test runs the CLI in-process.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MOSAIC_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,wasmtime=warn,cranelift=warn")),
        )
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
    config.production = cli.common.production;
    let modules_dir = cli.common.modules_dir.unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from)
            .join("wasm32-wasip2/release")
    });
    match cli.command {
        Command::Serve(serve) => run_server(config, &modules_dir, serve).await,
        Command::Tenant { command } => {
            add_builtin_modules(&mut config, &modules_dir)?;
            tenant_command(AppState::build(config).await?, command).await
        }
        Command::Demo { command } => {
            add_builtin_modules(&mut config, &modules_dir)?;
            demo_command(AppState::build(config).await?, command).await
        }
        Command::Audit { command } => audit_command(config, command).await,
        Command::Migrate => {
            std::fs::create_dir_all(&config.data_dir)?;
            let db = crate::store::Db::connect(&config.database_url()).await?;
            db.migrate().await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Issue(issue),
        } => issue_token(config, issue).await,
        Command::Admin {
            command: AdminCommand::Create { email, name },
        } => create_platform_admin(config, &email, &name).await,
        Command::Mail {
            command: MailCommand::List { limit },
        } => list_mail(config, limit).await,
        Command::Bench {
            command: BenchCommand::Runtime { module, warm_runs },
        } => bench_runtime(&module, warm_runs).await,
    }
}

/// The shipped modules, which every command that provisions tenants needs installed.
fn add_builtin_modules(config: &mut Config, modules_dir: &std::path::Path) -> anyhow::Result<()> {
    for name in BUILTIN_MODULES {
        let path = modules_dir.join(format!("{name}.wasm"));
        anyhow::ensure!(
            path.exists(),
            "module {} is missing: build the modules first with `cargo build-modules`",
            path.display()
        );
        config.modules.push(path);
    }
    Ok(())
}

async fn run_server(
    mut config: Config,
    modules_dir: &std::path::Path,
    serve: Serve,
) -> anyhow::Result<()> {
    config.base_domain = serve.base_domain;
    config.seed_demo = !serve.no_demo && !config.production;
    config.limits = Limits {
        call_timeout: Duration::from_millis(serve.call_timeout_ms),
        max_memory_bytes: serve.max_memory_mib << 20,
        max_request_bytes: serve.max_request_kib << 10,
        max_response_bytes: serve.max_response_kib << 10,
        instances_per_slot: serve.instances_per_slot.max(1),
        recycle_after_calls: serve.recycle_after_calls.max(1),
        ..Limits::default()
    };
    config.bench_routes = serve.bench_routes;
    config.auth = crate::auth::accounts::AuthSettings {
        max_failed_logins: serve.max_failed_logins.max(1),
        lockout: Duration::from_secs(serve.lockout_secs),
        access_ttl: Duration::from_secs(serve.access_ttl_secs.max(1)),
        ..Default::default()
    };
    config.tenant_rate_limit = (serve.tenant_rps > 0).then_some(crate::config::RateLimit {
        per_second: serve.tenant_rps,
        burst: serve.tenant_burst.max(1),
    });
    config.tenant_sweep_interval = Duration::from_millis(serve.tenant_sweep_ms.max(10));
    add_builtin_modules(&mut config, modules_dir)?;
    config.modules.extend(serve.extra_modules);
    let state = AppState::build(config).await?;
    let listener = tokio::net::TcpListener::bind(serve.addr)
        .await
        .with_context(|| format!("binding {}", serve.addr))?;
    let addr = listener.local_addr()?;
    println!("\nMosaic is listening on http://{addr}");
    println!(
        "  modules: {}",
        state
            .runtime
            .modules()
            .iter()
            .map(|m| m.key.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  get a token:  TOKEN=$(cargo run -q -p mosaic -- token issue --tenant demo --role TENANT_ADMIN)"
    );
    println!(
        "  first call:   curl -H \"X-Tenant-ID: demo\" -H \"Authorization: Bearer $TOKEN\" http://{addr}/api/employees/\n"
    );
    crate::serve(state, listener, shutdown_signal()).await
}

/// Ctrl-C or SIGTERM: stop accepting, let in-flight requests finish.
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler at start-up");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

async fn issue_token(config: Config, issue: Issue) -> anyhow::Result<()> {
    anyhow::ensure!(
        !config.production,
        "`token issue` is for development and tests; in production, tokens come from POST /api/auth/login"
    );
    let keys = JwtKeys::from_config(&config)?;
    let claims = if issue.platform_admin {
        Claims::new(issue.user, None, Role::SuperAdmin, issue.ttl_secs)
    } else {
        anyhow::ensure!(
            issue.role != Role::SuperAdmin,
            "use --platform-admin for a SUPER_ADMIN token"
        );
        let key = issue.tenant.unwrap_or_default();
        let db = crate::store::Db::connect(&config.database_url()).await?;
        let tenant = match db.tenant_by_subdomain(&key).await? {
            Some(t) => t,
            None => db
                .tenant_by_id(&key)
                .await?
                .with_context(|| format!("no tenant {key:?}"))?,
        };
        Claims::new(issue.user, Some(tenant.id), issue.role, issue.ttl_secs)
    };
    println!("{}", keys.issue(&claims)?);
    Ok(())
}

async fn bench_runtime(module: &std::path::Path, warm_runs: usize) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("mosaic-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let report = crate::bench::runtime(module, &scratch, warm_runs).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let report = report?;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("| measurement | runs | median | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, s) in [
        ("install, compiling (empty cache)", report.install_compiled),
        ("install, from the artifact cache", report.install_cached),
        ("cold slot: instantiate + first call", report.cold_slot),
        ("warm call (dispatch GET /fixed)", report.warm_call),
    ] {
        println!(
            "| {name} | {} | {:.1} µs | {:.1} µs |",
            s.runs,
            us(s.median),
            us(s.p99)
        );
    }
    println!(
        "\ncold slot / warm call = {:.1}x; cached / compiled install = {:.3}x",
        us(report.cold_slot.median) / us(report.warm_call.median),
        us(report.install_cached.median) / us(report.install_compiled.median)
    );
    Ok(())
}

async fn create_platform_admin(config: Config, email: &str, name: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let email = email.trim().to_lowercase();
    anyhow::ensure!(
        crate::auth::valid_email(&email),
        "{email:?} is not a valid email address"
    );
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if let Err(problem) = crate::auth::password::check_policy(&password, &email) {
        anyhow::bail!("the password {problem}");
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let db = crate::store::Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    let hash = crate::auth::accounts::hash_blocking(password)
        .await
        .map_err(anyhow::Error::msg)?;
    let id = uuid::Uuid::now_v7().to_string();
    let created = db
        .insert_account(
            crate::store::Realm::Platform,
            &crate::store::NewAccount {
                id: &id,
                email: &email,
                full_name: name,
                role: "SUPER_ADMIN",
                password_hash: &hash,
            },
        )
        .await?;
    anyhow::ensure!(created, "a platform user with email {email} already exists");
    println!("created platform administrator {email} ({id})");
    Ok(())
}

async fn list_mail(config: Config, limit: i64) -> anyhow::Result<()> {
    let db = crate::store::Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    for mail in db.recent_mail(limit).await? {
        println!(
            "#{} to {} — {}\n{}\n",
            mail.seq, mail.to_email, mail.subject, mail.body
        );
    }
    Ok(())
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create an active tenant.
    Create {
        #[command(flatten)]
        tenant: TenantFields,
        #[arg(long)]
        subdomain: String,
        /// Modules to enable besides the core ones, comma-separated.
        #[arg(long, value_delimiter = ',')]
        modules: Vec<String>,
    },
    /// List tenants, newest first.
    List {
        /// Part of the name, subdomain or contact email.
        #[arg(long)]
        search: Option<String>,
        /// pending, active, suspended or archived.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: i64,
        #[arg(long, default_value_t = 50)]
        per_page: i64,
    },
    /// A tenant with its modules and domains, as JSON.
    Show { tenant: String },
    /// Change a tenant's name, contact or colours.
    Update {
        tenant: String,
        #[command(flatten)]
        fields: TenantFields,
    },
    /// PENDING → ACTIVE.
    Approve(StateChange),
    /// ACTIVE → SUSPENDED (a reason is required).
    Suspend(StateChange),
    /// SUSPENDED → ACTIVE.
    Reactivate(StateChange),
    /// → ARCHIVED (a reason is required).
    Archive(StateChange),
    /// ARCHIVED → ACTIVE.
    Restore(StateChange),
    /// Delete a tenant with all its data and files.
    Delete {
        tenant: String,
        /// The tenant's subdomain, typed again.
        #[arg(long)]
        confirm: String,
    },
    /// Switch a module on for a tenant.
    Enable { tenant: String, module: String },
    /// Switch a module off for a tenant (its data is kept).
    Disable { tenant: String, module: String },
    /// Add a custom domain.
    AddDomain { tenant: String, domain: String },
    /// Remove a custom domain.
    RemoveDomain { tenant: String, domain: String },
    /// Upload a logo (PNG, JPEG or WebP, at most 2 MB).
    Logo { tenant: String, file: PathBuf },
    /// Folder, config and modules of a tenant.
    Health { tenant: String },
    /// Export the tenant's static site into its folder.
    DeploySite { tenant: String },
    /// Create many tenants from a CSV file with the header
    /// `name,subdomain,modules,contact_email,primary_color,secondary_color`
    /// (modules separated by `;`). A failing row does not stop the others.
    BulkCreate {
        #[arg(long)]
        file: PathBuf,
    },
    /// Switch a module on or off for many tenants.
    BulkModules {
        #[arg(long)]
        module: String,
        #[arg(long, action = clap::ArgAction::Set)]
        enabled: bool,
        #[arg(required = true)]
        tenants: Vec<String>,
    },
}

#[derive(Args)]
struct TenantFields {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    contact_email: Option<String>,
    /// `#rrggbb`.
    #[arg(long)]
    primary_color: Option<String>,
    #[arg(long)]
    secondary_color: Option<String>,
}

#[derive(Args)]
struct StateChange {
    tenant: String,
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Demo requests, newest first.
    List {
        /// new or converted.
        #[arg(long)]
        status: Option<String>,
    },
    /// Create the tenant and invite the requester as its first admin.
    Convert {
        id: String,
        #[arg(long)]
        subdomain: String,
        #[arg(long, value_delimiter = ',')]
        modules: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and report the first row that does not hold.
    Verify,
    /// The newest entries.
    List {
        /// A tenant id.
        #[arg(long)]
        tenant: Option<String>,
        /// An action, or a prefix ending in `.` such as `tenant.`.
        #[arg(long)]
        action: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// The audit log's name for whoever runs the CLI.
fn cli_actor_id() -> String {
    let login = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{login}")
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn tenant_command(state: AppState, command: TenantCommand) -> anyhow::Result<()> {
    let provisioner = state.provisioner();
    let actor_id = cli_actor_id();
    let actor = &Actor {
        id: &actor_id,
        origin: Origin::default(),
    };
    let state = &state;
    let change_state = |transition: Transition, change: StateChange| async move {
        let tenant = state
            .provisioner()
            .transition(&change.tenant, transition, change.reason.as_deref(), actor)
            .await?;
        println!("tenant {} is {}", tenant.subdomain, tenant.status.as_str());
        Ok(())
    };
    match command {
        TenantCommand::Approve(change) => change_state(Transition::Approve, change).await,
        TenantCommand::Suspend(change) => change_state(Transition::Suspend, change).await,
        TenantCommand::Reactivate(change) => change_state(Transition::Reactivate, change).await,
        TenantCommand::Archive(change) => change_state(Transition::Archive, change).await,
        TenantCommand::Restore(change) => change_state(Transition::Restore, change).await,
        TenantCommand::Create {
            tenant,
            subdomain,
            modules,
        } => {
            let created = provisioner
                .create_tenant(
                    NewTenant {
                        name: tenant.name.context("--name is required")?,
                        subdomain,
                        modules,
                        contact_email: tenant.contact_email,
                        primary_color: tenant.primary_color,
                        secondary_color: tenant.secondary_color,
                    },
                    actor,
                )
                .await?;
            print_json(&provisioner.details(&created.id).await?)
        }
        TenantCommand::List {
            search,
            status,
            page,
            per_page,
        } => {
            let status = status
                .as_deref()
                .map(str::parse::<TenantStatus>)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let (tenants, total) = state
                .db
                .list_tenants(&TenantQuery {
                    search,
                    status,
                    limit: per_page.clamp(1, 1000),
                    offset: (page.max(1) - 1) * per_page.clamp(1, 1000),
                })
                .await?;
            println!("{:<24} {:<10} {:<36} NAME", "SUBDOMAIN", "STATUS", "ID");
            for t in &tenants {
                println!(
                    "{:<24} {:<10} {:<36} {}",
                    t.subdomain,
                    t.status.as_str(),
                    t.id,
                    t.name
                );
            }
            println!("({} of {total})", tenants.len());
            Ok(())
        }
        TenantCommand::Show { tenant } => print_json(&provisioner.details(&tenant).await?),
        TenantCommand::Update { tenant, fields } => {
            let changes = TenantChanges {
                name: fields.name,
                contact_email: fields.contact_email.map(Some),
                primary_color: fields.primary_color.map(Some),
                secondary_color: fields.secondary_color.map(Some),
                logo: None,
            };
            print_json(&provisioner.update_tenant(&tenant, changes, actor).await?)
        }
        TenantCommand::Delete { tenant, confirm } => {
            provisioner.delete_tenant(&tenant, &confirm, actor).await?;
            println!("deleted tenant {tenant}");
            Ok(())
        }
        TenantCommand::Enable { tenant, module } => print_json(
            &provisioner
                .toggle_module(&tenant, &module, true, actor)
                .await?,
        ),
        TenantCommand::Disable { tenant, module } => print_json(
            &provisioner
                .toggle_module(&tenant, &module, false, actor)
                .await?,
        ),
        TenantCommand::AddDomain { tenant, domain } => {
            print_json(&provisioner.add_domain(&tenant, &domain, actor).await?)
        }
        TenantCommand::RemoveDomain { tenant, domain } => {
            print_json(&provisioner.remove_domain(&tenant, &domain, actor).await?)
        }
        TenantCommand::Logo { tenant, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            print_json(&provisioner.set_logo(&tenant, &bytes, actor).await?)
        }
        TenantCommand::Health { tenant } => print_json(&provisioner.health(&tenant).await?),
        TenantCommand::DeploySite { tenant } => {
            print_json(&provisioner.deploy_site(&tenant, actor).await?)
        }
        TenantCommand::BulkCreate { file } => bulk_create(state, &file, actor).await,
        TenantCommand::BulkModules {
            module,
            enabled,
            tenants,
        } => {
            let results = provisioner
                .bulk_toggle(&tenants, &module, enabled, actor)
                .await;
            print_json(&results)?;
            let failed = results.iter().filter(|r| !r.ok).count();
            anyhow::ensure!(failed == 0, "{failed} of {} tenants failed", results.len());
            Ok(())
        }
    }
}

/// One CSV row of `tenant bulk-create`.
#[derive(serde::Deserialize)]
struct CsvTenant {
    name: String,
    subdomain: String,
    #[serde(default)]
    modules: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    primary_color: String,
    #[serde(default)]
    secondary_color: String,
}

impl From<CsvTenant> for NewTenant {
    fn from(row: CsvTenant) -> Self {
        let optional = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Self {
            name: row.name,
            subdomain: row.subdomain.trim().to_owned(),
            modules: row
                .modules
                .split(';')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            contact_email: optional(row.contact_email),
            primary_color: optional(row.primary_color),
            secondary_color: optional(row.secondary_color),
        }
    }
}

async fn bulk_create(
    state: &AppState,
    file: &std::path::Path,
    actor: &Actor<'_>,
) -> anyhow::Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("opening {}", file.display()))?;
    let rows: Vec<NewTenant> = reader
        .deserialize::<CsvTenant>()
        .enumerate()
        .map(|(i, row)| {
            row.map(NewTenant::from)
                .with_context(|| format!("{} row {}", file.display(), i + 2))
        })
        .collect::<anyhow::Result<_>>()?;
    let total = rows.len();
    let bar = indicatif::ProgressBar::new(total as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} tenants ({eta} left)",
        )?,
    );
    let subdomains: Vec<String> = rows.iter().map(|r| r.subdomain.clone()).collect();
    let results = state
        .provisioner()
        .bulk_create(rows, actor, |done| bar.set_position(done as u64))
        .await;
    bar.finish_and_clear();
    let mut failed = 0;
    for item in &results {
        if let Some(error) = &item.error {
            failed += 1;
            let fields = error
                .fields
                .as_ref()
                .map(|f| format!(" {f:?}"))
                .unwrap_or_default();
            println!(
                "row {} ({}): {}{fields}",
                item.index + 2,
                subdomains[item.index],
                error.message
            );
        }
    }
    println!("created {} of {total} tenants", total - failed);
    anyhow::ensure!(failed == 0, "{failed} of {total} rows failed");
    Ok(())
}

async fn demo_command(state: AppState, command: DemoCommand) -> anyhow::Result<()> {
    match command {
        DemoCommand::List { status } => print_json(
            &state
                .db
                .list_demo_requests(status.as_deref(), 100, 0)
                .await?,
        ),
        DemoCommand::Convert {
            id,
            subdomain,
            modules,
        } => {
            let actor_id = cli_actor_id();
            let actor = Actor {
                id: &actor_id,
                origin: Origin::default(),
            };
            let provisioner = state.provisioner();
            let tenant = provisioner
                .convert_demo_request(&id, Conversion { subdomain, modules }, &actor)
                .await?;
            print_json(&provisioner.details(&tenant.id).await?)
        }
    }
}

async fn audit_command(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let db = crate::store::Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    match command {
        AuditCommand::Verify => {
            let bar = indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{spinner} {pos} rows checked")?,
            );
            let report = db
                .verify_audit(|seen| {
                    if seen % 256 == 0 {
                        bar.set_position(seen);
                    }
                })
                .await?;
            bar.finish_and_clear();
            print_json(&report)?;
            match report.problem {
                Some(problem) => anyhow::bail!(
                    "the audit log does not hold at row {}: {}",
                    problem.seq,
                    problem.reason
                ),
                None => {
                    println!("audit log intact: {} chained rows", report.rows);
                    Ok(())
                }
            }
        }
        AuditCommand::List {
            tenant,
            action,
            limit,
        } => print_json(
            &db.audit_page(&AuditFilter {
                tenant_id: tenant,
                action,
                limit: limit.clamp(1, 1000),
                ..AuditFilter::default()
            })
            .await?,
        ),
    }
}
