//! `mosaic`: serve the platform, migrate its database, mint development tokens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use mosaic::auth::{Claims, JwtKeys, Role};
use mosaic::{AppState, Config, Limits};
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
    /// HS256 signing secret; generated and kept in the data dir when unset (not in
    /// production).
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
    /// Secrets being rotated out, comma-separated: tokens they signed are still accepted.
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
    /// Directory holding the built-in modules' `.wasm` files [default: where
    /// `cargo build-modules` puts them, under `$CARGO_TARGET_DIR` or `./target`].
    #[arg(long, env = "MOSAIC_MODULES_DIR")]
    modules_dir: Option<PathBuf>,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MOSAIC_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,wasmtime=warn,cranelift=warn")),
        )
        .init();
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
    match cli.command {
        Command::Serve(serve) => run_server(config, serve).await,
        Command::Migrate => {
            std::fs::create_dir_all(&config.data_dir)?;
            let db = mosaic::store::Db::connect(&config.database_url()).await?;
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

async fn run_server(mut config: Config, serve: Serve) -> anyhow::Result<()> {
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
    config.auth = mosaic::auth::accounts::AuthSettings {
        max_failed_logins: serve.max_failed_logins.max(1),
        lockout: Duration::from_secs(serve.lockout_secs),
        access_ttl: Duration::from_secs(serve.access_ttl_secs.max(1)),
        ..Default::default()
    };
    let modules_dir = serve.modules_dir.unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from)
            .join("wasm32-wasip2/release")
    });
    for name in BUILTIN_MODULES {
        let path = modules_dir.join(format!("{name}.wasm"));
        anyhow::ensure!(
            path.exists(),
            "module {} is missing: build the modules first with `cargo build-modules`",
            path.display()
        );
        config.modules.push(path);
    }
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
    mosaic::serve(state, listener, shutdown_signal()).await
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
    let secret =
        mosaic::auth::load_or_create_secret(config.jwt_secret.as_deref(), &config.data_dir)?;
    let keys = JwtKeys::new(&secret);
    let claims = if issue.platform_admin {
        Claims::new(issue.user, None, Role::SuperAdmin, issue.ttl_secs)
    } else {
        anyhow::ensure!(
            issue.role != Role::SuperAdmin,
            "use --platform-admin for a SUPER_ADMIN token"
        );
        let key = issue.tenant.unwrap_or_default();
        let db = mosaic::store::Db::connect(&config.database_url()).await?;
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
    let report = mosaic::bench::runtime(module, &scratch, warm_runs).await;
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
        mosaic::auth::valid_email(&email),
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
    if let Err(problem) = mosaic::auth::password::check_policy(&password, &email) {
        anyhow::bail!("the password {problem}");
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let db = mosaic::store::Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    let hash = mosaic::auth::accounts::hash_blocking(password)
        .await
        .map_err(anyhow::Error::msg)?;
    let id = uuid::Uuid::now_v7().to_string();
    let created = db
        .insert_account(
            mosaic::store::Realm::Platform,
            &mosaic::store::NewAccount {
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
    let db = mosaic::store::Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    for mail in db.recent_mail(limit).await? {
        println!(
            "#{} to {} — {}\n{}\n",
            mail.seq, mail.to_email, mail.subject, mail.body
        );
    }
    Ok(())
}
