//! Host configuration. `main.rs` fills it from flags and the environment; tests build
//! it directly.

use std::path::PathBuf;
use std::time::Duration;

/// Per-call limits of the module runtime and the pool sizes behind them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock deadline of one request, including nested module calls.
    pub call_timeout: Duration,
    /// Linear memory cap of one instance.
    pub max_memory_bytes: usize,
    /// Largest request body accepted for a module route.
    pub max_request_bytes: usize,
    /// Largest response body a module may return.
    pub max_response_bytes: usize,
    /// Warm instances per (tenant, module) slot, and so its concurrency.
    pub instances_per_slot: usize,
    /// The longest a request waits for a free instance before a 503 (each waits a
    /// random part of it, from half to all).
    pub queue_timeout: Duration,
    /// An instance is recycled after this many calls...
    pub recycle_after_calls: u32,
    /// ...or once its memory has grown past this.
    pub recycle_above_memory_bytes: usize,
    /// A slot unused for this long is dropped (and on SQLite a tenant's file closed).
    pub slot_idle_timeout: Duration,
    /// SQLite: tenant files open at once, at most (fewer if the open-file limit
    /// allows fewer); past it the least recently used closes. Each costs about
    /// 0.5 MiB and a few descriptors while open.
    pub open_tenant_files: usize,
    /// Instances the engine's pooling allocator can hold at once, over all slots.
    pub total_instances: u32,
    /// Threads (at nice 19) where calls that have computed for 2 ms (CPU-bound ones)
    /// of all tenants run on, round robin. Short calls stay on the request
    /// executor, so spinning guests take at most these threads, and only the cycles
    /// no request wants.
    pub cpu_bound_calls: usize,
    /// Largest file a module may put.
    pub max_file_bytes: usize,
    /// Bytes of files all modules of one tenant may keep together.
    pub tenant_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(2),
            max_memory_bytes: 64 << 20,
            max_request_bytes: 1 << 20,
            max_response_bytes: 4 << 20,
            instances_per_slot: 4,
            queue_timeout: Duration::from_millis(500),
            recycle_after_calls: 10_000,
            recycle_above_memory_bytes: 16 << 20,
            slot_idle_timeout: Duration::from_secs(300),
            open_tenant_files: 1024,
            total_instances: 1000,
            cpu_bound_calls: std::thread::available_parallelism()
                .map_or(1, |cores| (cores.get() / 2).max(1)),
            max_file_bytes: 10 << 20,
            tenant_file_bytes: 1 << 30,
        }
    }
}

/// A token bucket: `per_second` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

/// Per client address: what may be asked without a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnonymousLimits {
    /// Password attempts (logins, reset confirmations) per minute, for each tenant
    /// and for the platform.
    pub sign_ins_per_minute: u32,
    /// Password-reset mails per hour, for each tenant.
    pub reset_requests_per_hour: u32,
    /// Companies signed up per hour.
    pub sign_ups_per_hour: u32,
    /// Demo requests per hour.
    pub demo_requests_per_hour: u32,
}

impl Default for AnonymousLimits {
    fn default() -> Self {
        Self {
            sign_ins_per_minute: 30,
            reset_requests_per_hour: 10,
            sign_ups_per_hour: 5,
            demo_requests_per_hour: 5,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// SQLite file, generated secret, artifact cache and tenant files live here.
    pub data_dir: PathBuf,
    /// `postgres://...`; none means the embedded SQLite file under `data_dir`.
    pub database_url: Option<String>,
    /// Tenants are also found as `<subdomain>.<base_domain>`.
    pub base_domain: Option<String>,
    /// HS256 secret of at least `auth::MIN_SECRET_BYTES`; none means one generated
    /// and kept in `data_dir` (refused in production).
    pub jwt_secret: Option<String>,
    /// Secrets being rotated out, each held to the same minimum: tokens they signed
    /// are still accepted.
    pub jwt_previous_secrets: Vec<String>,
    /// The key audit rows are sealed with (at least 32 bytes), kept outside the
    /// database; none means one generated and kept in `data_dir` (refused in
    /// production).
    pub audit_key: Option<String>,
    /// Production: an explicit secret is required, and nothing meant for development
    /// (demo data, benchmark routes) runs.
    pub production: bool,
    /// The modules Mosaic ships (`<key>.wasm`), installed at start: the only ones
    /// that may take a shipped key or be core.
    pub shipped_modules: Vec<PathBuf>,
    /// More components (`.wasm`) to install at start: never core, never under a
    /// shipped or reserved key.
    pub modules: Vec<PathBuf>,
    /// Compiled-artifact cache; defaults to `data_dir/cache`.
    pub cache_dir: Option<PathBuf>,
    pub limits: Limits,
    /// Token lifetimes and the login lockout.
    pub auth: crate::auth::accounts::AuthSettings,
    /// Seed the demo tenants into an empty database.
    pub seed_demo: bool,
    /// Mount the native baseline handler the HTTP benchmarks compare modules with.
    pub bench_routes: bool,
    /// Requests per tenant (all its users and modules together); none is unlimited.
    pub tenant_rate_limit: Option<RateLimit>,
    /// What one client address may send without a token.
    pub anonymous_limits: AnonymousLimits,
    /// Networks of the proxies in front of the host: behind one of them, the client
    /// is the last address in `X-Forwarded-For` that is not a trusted proxy.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often every tenant's generation is compared with the cached one while no
    /// notification can arrive (SQLite; PostgreSQL with its listener down).
    pub tenant_sweep_interval: Duration,
    /// How long a tenant change waits for the other live replicas to apply it.
    pub replica_ack_timeout: Duration,
    /// How events reach their subscribers.
    pub events: crate::events::EventSettings,
    /// The clock of time-driven work: the system's, or a manual one in tests.
    pub clock: crate::clock::Clock,
    /// Trials, grace periods and the default plan.
    pub billing: crate::billing::BillingSettings,
    /// What a module upload must be: its size cap and the trusted publishers.
    pub packages: crate::provisioning::PackageSettings,
    /// A bearer token that may read `/metrics` (a platform admin's always may).
    pub metrics_token: Option<String>,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            base_domain: None,
            jwt_secret: None,
            jwt_previous_secrets: Vec::new(),
            audit_key: None,
            production: false,
            shipped_modules: Vec::new(),
            modules: Vec::new(),
            cache_dir: None,
            limits: Limits::default(),
            auth: crate::auth::accounts::AuthSettings::default(),
            seed_demo: false,
            bench_routes: false,
            tenant_rate_limit: Some(RateLimit {
                per_second: 100,
                burst: 200,
            }),
            anonymous_limits: AnonymousLimits::default(),
            trusted_proxies: Vec::new(),
            tenant_sweep_interval: Duration::from_secs(2),
            replica_ack_timeout: Duration::from_secs(2),
            events: crate::events::EventSettings::default(),
            clock: crate::clock::Clock::default(),
            billing: crate::billing::BillingSettings::default(),
            packages: crate::provisioning::PackageSettings::default(),
            metrics_token: None,
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("mosaic.db").display()
            )
        })
    }

    /// The audit key this configuration names (see `audit_key`).
    pub fn load_audit_key(&self) -> anyhow::Result<crate::store::AuditKey> {
        use anyhow::Context as _;
        // A key generated beside the database would be no secret from whoever can
        // read the database.
        anyhow::ensure!(
            self.audit_key.is_some() || !self.production,
            "production needs MOSAIC_AUDIT_KEY (or MOSAIC_AUDIT_KEY_FILE) of at least {} bytes, \
             kept outside the database",
            crate::store::AuditKey::MIN_BYTES
        );
        let secret = crate::auth::load_or_create_secret(
            self.audit_key.as_deref(),
            &self.data_dir,
            "audit-key",
        )
        .context("loading the audit key")?;
        crate::store::AuditKey::new(&secret).map_err(anyhow::Error::msg)
    }

    /// Connects to the configured database, sealing audit rows with its key.
    pub async fn open_db(&self) -> anyhow::Result<crate::store::Db> {
        let key = self.load_audit_key()?;
        std::fs::create_dir_all(&self.data_dir)?;
        Ok(crate::store::Db::connect(&self.database_url())
            .await?
            .with_audit_key(key))
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("cache"))
    }
}
