//! `mosaic serve`: the HTTP server and the flags that tune it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::add_builtin_modules;
use crate::config::AnonymousLimits;
use crate::{AppState, Config, Limits};

#[derive(Args)]
pub struct Serve {
    #[arg(long, env = "MOSAIC_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Tenants are also reachable as `<subdomain>.<base domain>`.
    #[arg(long, env = "MOSAIC_BASE_DOMAIN")]
    base_domain: Option<String>,
    /// An extra module component to install (repeatable; in the environment, a
    /// comma-separated list).
    #[arg(long = "module", env = "MOSAIC_MODULES", value_delimiter = ',')]
    extra_modules: Vec<PathBuf>,
    /// Do not seed the demo tenants into an empty database.
    #[arg(long, env = "MOSAIC_NO_DEMO")]
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
    /// Largest file a module may keep, in KiB.
    #[arg(long, env = "MOSAIC_MAX_FILE_KIB", default_value_t = Limits::default().max_file_bytes >> 10)]
    max_file_kib: usize,
    /// Files all modules of one tenant may keep together, in MiB.
    #[arg(long, env = "MOSAIC_TENANT_FILES_MIB", default_value_t = Limits::default().tenant_file_bytes >> 20)]
    tenant_files_mib: u64,
    /// Warm instances per (tenant, module) slot.
    #[arg(long, env = "MOSAIC_INSTANCES_PER_SLOT", default_value_t = Limits::default().instances_per_slot)]
    instances_per_slot: usize,
    /// Recycle an instance after this many calls (1: a fresh instance per request).
    #[arg(long, env = "MOSAIC_RECYCLE_AFTER_CALLS", default_value_t = Limits::default().recycle_after_calls)]
    recycle_after_calls: u32,
    /// Threads, at the lowest priority, that CPU-bound module calls (computing for
    /// over 2 ms) of all tenants move to. Default: half the cores, at least 1.
    #[arg(long, env = "MOSAIC_CPU_BOUND_CALLS", default_value_t = Limits::default().cpu_bound_calls)]
    cpu_bound_calls: usize,
    /// Seconds a (tenant, module) slot, and on SQLite a tenant's file, stay open
    /// unused before they are closed.
    #[arg(long, env = "MOSAIC_SLOT_IDLE_SECS", default_value_t = Limits::default().slot_idle_timeout.as_secs())]
    slot_idle_secs: u64,
    /// SQLite: tenants' files open at once, at most (fewer if the open-file limit
    /// allows fewer); past it the least recently used closes.
    #[arg(long, env = "MOSAIC_OPEN_TENANT_FILES", default_value_t = Limits::default().open_tenant_files)]
    open_tenant_files: usize,
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
    #[arg(long, env = "MOSAIC_BENCH_ROUTES")]
    bench_routes: bool,
    /// Requests per second each tenant may make (0: unlimited).
    #[arg(long, env = "MOSAIC_TENANT_RPS", default_value_t = 100)]
    tenant_rps: u32,
    /// Requests a tenant may make at once above its rate.
    #[arg(long, env = "MOSAIC_TENANT_BURST", default_value_t = 200)]
    tenant_burst: u32,
    /// Password attempts (logins, reset confirmations) per minute that one client
    /// address may make, for each tenant and for the platform.
    #[arg(long, env = "MOSAIC_SIGN_INS_PER_MINUTE", default_value_t = AnonymousLimits::default().sign_ins_per_minute)]
    sign_ins_per_minute: u32,
    /// Password-reset mails per hour that one client address may ask of a tenant.
    #[arg(long, env = "MOSAIC_RESET_REQUESTS_PER_HOUR", default_value_t = AnonymousLimits::default().reset_requests_per_hour)]
    reset_requests_per_hour: u32,
    /// Companies one client address may sign up per hour.
    #[arg(long, env = "MOSAIC_SIGN_UPS_PER_HOUR", default_value_t = AnonymousLimits::default().sign_ups_per_hour)]
    sign_ups_per_hour: u32,
    /// Demo requests one client address may send per hour.
    #[arg(long, env = "MOSAIC_DEMO_REQUESTS_PER_HOUR", default_value_t = AnonymousLimits::default().demo_requests_per_hour)]
    demo_requests_per_hour: u32,
    /// Networks of the proxies or load balancers in front of the host (repeatable,
    /// or comma-separated): from their connections, the client address is taken
    /// from `X-Forwarded-For`.
    #[arg(long = "trusted-proxy", env = "MOSAIC_TRUSTED_PROXIES", value_delimiter = ',', value_parser = network)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// A bearer token Prometheus may read `/metrics` with (a platform admin's token
    /// always may).
    #[arg(long, env = "MOSAIC_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// How often to compare every tenant with the database, in milliseconds, when no
    /// notification can announce changes made elsewhere (SQLite, or PostgreSQL while
    /// the listening connection is down; once a minute while it is up).
    #[arg(long, env = "MOSAIC_TENANT_SWEEP_MS", default_value_t = 2000)]
    tenant_sweep_ms: u64,
    /// PostgreSQL: how long a tenant change waits, in milliseconds, for every other
    /// live replica to apply it before answering (naming those that did not).
    #[arg(long, env = "MOSAIC_REPLICA_ACK_MS", default_value_t = 2000)]
    replica_ack_ms: u64,
    /// Failed attempts after which an event delivery becomes a dead letter.
    #[arg(long, env = "MOSAIC_EVENT_MAX_ATTEMPTS", default_value_t = 8)]
    event_max_attempts: u32,
    /// Wait after a delivery's first failure, in milliseconds; doubled after each next.
    #[arg(long, env = "MOSAIC_EVENT_RETRY_BASE_MS", default_value_t = 1000)]
    event_retry_base_ms: u64,
    /// Longest wait between two delivery attempts, in milliseconds.
    #[arg(long, env = "MOSAIC_EVENT_RETRY_MAX_MS", default_value_t = 600_000)]
    event_retry_max_ms: u64,
    /// How long delivered events stay in the outbox, in hours.
    #[arg(long, env = "MOSAIC_EVENT_RETENTION_HOURS", default_value_t = 168)]
    event_retention_hours: u64,
    /// How often (PostgreSQL) to look for deliveries no notification announced, in
    /// milliseconds.
    #[arg(long, env = "MOSAIC_EVENT_SWEEP_MS", default_value_t = 5000)]
    event_sweep_ms: u64,
}

/// A network (`10.0.0.0/8`) or a single address (`10.0.0.7`).
fn network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is no network (10.0.0.0/8) or address (10.0.0.7)"))
}

pub(super) async fn run(
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
        cpu_bound_calls: serve.cpu_bound_calls.max(1),
        max_file_bytes: serve.max_file_kib << 10,
        tenant_file_bytes: serve.tenant_files_mib << 20,
        slot_idle_timeout: Duration::from_secs(serve.slot_idle_secs.max(1)),
        open_tenant_files: serve.open_tenant_files,
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
    config.anonymous_limits = AnonymousLimits {
        sign_ins_per_minute: serve.sign_ins_per_minute,
        reset_requests_per_hour: serve.reset_requests_per_hour,
        sign_ups_per_hour: serve.sign_ups_per_hour,
        demo_requests_per_hour: serve.demo_requests_per_hour,
    };
    config.trusted_proxies = serve.trusted_proxies;
    config.metrics_token = serve.metrics_token.filter(|t| !t.trim().is_empty());
    config.tenant_sweep_interval = Duration::from_millis(serve.tenant_sweep_ms.max(10));
    config.replica_ack_timeout = Duration::from_millis(serve.replica_ack_ms);
    config.events = crate::events::EventSettings {
        max_attempts: serve.event_max_attempts.max(1),
        retry_base: Duration::from_millis(serve.event_retry_base_ms.max(1)),
        retry_max: Duration::from_millis(serve.event_retry_max_ms.max(1)),
        retention: Duration::from_secs(serve.event_retention_hours * 3600),
        sweep_interval: Duration::from_millis(serve.event_sweep_ms.max(10)),
    };
    add_builtin_modules(&mut config, modules_dir)?;
    config.modules.extend(serve.extra_modules);
    raise_open_file_limit();
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

/// Raises the soft limit of open files to the hard one, as servers commonly do: on
/// SQLite every active tenant keeps its file open (about six descriptors, see
/// docs/operations.md), and a soft limit of 1,024 would serve only about 170.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // An unlimited hard limit is still capped by the kernel (fs.nr_open, 2^20 by default).
    const KERNEL_DEFAULT_MOST: u64 = 1 << 20;
    let limit = getrlimit(Resource::Nofile);
    let most = limit.maximum.unwrap_or(KERNEL_DEFAULT_MOST);
    if limit.current.is_some_and(|current| current >= most) {
        return;
    }
    let raised = Rlimit {
        current: Some(most),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::info!(from = ?limit.current, to = most, "raised the open-file limit"),
        Err(err) => tracing::warn!(error = %err, "could not raise the open-file limit"),
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn trusted_proxies_are_networks_or_addresses() {
        assert_eq!(
            super::network("10.0.0.0/8").map(|n| n.to_string()),
            Ok("10.0.0.0/8".into())
        );
        assert_eq!(
            super::network(" 192.0.2.7 ").map(|n| n.to_string()),
            Ok("192.0.2.7/32".into())
        );
        assert!(super::network("10.0.0.0/33").is_err());
        assert!(super::network("proxy.internal").is_err());
    }
}
