//! How a test host is set up: its modules, tenants, limits and settings, then started.

use std::path::PathBuf;
use std::time::Duration;

use mosaic::billing::BillingSettings;
use mosaic::clock::Clock;
use mosaic::config::{AnonymousLimits, RateLimit};
use mosaic::events::EventSettings;
use mosaic::provisioning::PackageSettings;
use mosaic::{AppState, Config, Limits};

use crate::{Backend, TEST_AUDIT_KEY, TEST_JWT_SECRET, TestApp, TestDatabase, target_dir, wasm};

pub struct TestAppBuilder {
    backend: Backend,
    /// The shipped modules, and the test guests installed beside them.
    shipped: Vec<PathBuf>,
    guests: Vec<PathBuf>,
    tenants: Vec<(String, Vec<String>)>,
    limits: Limits,
    base_domain: Option<String>,
    cache_dir: Option<PathBuf>,
    jwt_secret: Option<String>,
    previous_jwt_secrets: Vec<String>,
    production: bool,
    tenant_rate_limit: Option<RateLimit>,
    anonymous_limits: AnonymousLimits,
    trusted_proxies: Vec<ipnet::IpNet>,
    metrics_token: Option<String>,
    events: EventSettings,
    clock: Clock,
    billing: BillingSettings,
    packages: PackageSettings,
    /// Another app's PostgreSQL database, to run as a second replica on.
    database_of: Option<String>,
    /// The ICU locale of a new PostgreSQL database; the server's default when none.
    postgres_icu_locale: Option<String>,
    tenant_sweep_interval: Option<Duration>,
    replica_ack_timeout: Option<Duration>,
    bench_routes: bool,
}

impl TestAppBuilder {
    /// Trials, grace periods, tax and the rest of billing's settings.
    pub fn with_billing(mut self, edit: impl FnOnce(&mut BillingSettings)) -> Self {
        edit(&mut self.billing);
        self
    }

    /// What a module upload must be: its size cap and the trusted publishers.
    pub fn with_packages(mut self, edit: impl FnOnce(&mut PackageSettings)) -> Self {
        edit(&mut self.packages);
        self
    }

    /// The scheduler's clock; tests move a manual one instead of sleeping.
    /// New tenants start on `plan` (a seeded one: `business` has wallet and tasks).
    pub fn on_plan(self, plan: &str) -> Self {
        self.with_billing(|billing| billing.default_plan = plan.into())
    }

    pub fn with_clock(mut self, clock: &Clock) -> Self {
        self.clock = clock.clone();
        self
    }

    /// Runs as another replica of `app`, on its PostgreSQL database.
    pub fn replica_of(mut self, app: &TestApp) -> Self {
        let db = app
            ._postgres
            .as_ref()
            .expect("replicas share a PostgreSQL database");
        self.database_of = Some(db.url.clone());
        self
    }

    /// How events are delivered (the defaults retry after a second, which tests
    /// rarely want to wait for).
    pub fn with_events(mut self, edit: impl FnOnce(&mut EventSettings)) -> Self {
        edit(&mut self.events);
        self
    }

    /// Requests per tenant; none is unlimited.
    pub fn with_tenant_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.tenant_rate_limit = limit;
        self
    }

    /// What one client address may send without a token.
    pub fn with_anonymous_limits(mut self, edit: impl FnOnce(&mut AnonymousLimits)) -> Self {
        edit(&mut self.anonymous_limits);
        self
    }

    /// Networks whose connections forward the client's address.
    pub fn with_trusted_proxies(mut self, networks: &[&str]) -> Self {
        self.trusted_proxies = networks
            .iter()
            .map(|n| n.parse().expect("a network"))
            .collect();
        self
    }

    /// The signing secret; none lets the host generate one into its data dir.
    pub fn with_jwt_secret(mut self, secret: Option<&str>) -> Self {
        self.jwt_secret = secret.map(str::to_owned);
        self
    }

    /// Runs the host with `production` set.
    pub fn in_production(mut self) -> Self {
        self.production = true;
        self
    }

    /// A secret being rotated out: tokens it signed are still accepted.
    pub fn with_previous_jwt_secret(mut self, secret: &str) -> Self {
        self.previous_jwt_secrets.push(secret.into());
        self
    }

    /// Also installs the misbehaving `testbed` module.
    pub fn with_testbed(self) -> Self {
        self.with_guest("testbed")
    }

    /// One of the test guests in `tests/guests/`, installed beside the shipped modules.
    /// A committed component from `tests/fixtures/` (a module built against an
    /// older contract, say), installed like a guest.
    pub fn with_fixture(mut self, file: &str) -> Self {
        self.guests.push(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures")
                .join(file),
        );
        self
    }

    pub fn with_guest(mut self, name: &str) -> Self {
        self.guests.push(wasm(name));
        self
    }

    /// A tenant with these (non-core) modules enabled.
    pub fn with_tenant(mut self, subdomain: &str, modules: &[&str]) -> Self {
        self.tenants.push((
            subdomain.into(),
            modules.iter().map(|m| (*m).to_owned()).collect(),
        ));
        self
    }

    pub fn with_limits(mut self, edit: impl FnOnce(&mut Limits)) -> Self {
        edit(&mut self.limits);
        self
    }

    pub fn with_base_domain(mut self, domain: &str) -> Self {
        self.base_domain = Some(domain.into());
        self
    }

    /// The bearer token Prometheus scrapes `/metrics` with.
    pub fn with_metrics_token(mut self, token: &str) -> Self {
        self.metrics_token = Some(token.into());
        self
    }

    /// A PostgreSQL database whose text compares by this ICU locale (SQLite runs as
    /// ever): for what a collation other than `C` changes.
    pub fn with_postgres_icu_locale(mut self, locale: &str) -> Self {
        self.postgres_icu_locale = Some(locale.into());
        self
    }

    /// How often the host compares every tenant's generation with its cache.
    pub fn with_tenant_sweep_interval(mut self, every: Duration) -> Self {
        self.tenant_sweep_interval = Some(every);
        self
    }

    /// How long a tenant change waits for the other replicas to apply it.
    pub fn with_replica_ack_timeout(mut self, timeout: Duration) -> Self {
        self.replica_ack_timeout = Some(timeout);
        self
    }

    /// Mounts the benchmarks' native baselines (`serve --bench-routes`).
    pub fn with_bench_routes(mut self) -> Self {
        self.bench_routes = true;
        self
    }

    pub fn with_cache_dir(mut self, dir: PathBuf) -> Self {
        self.cache_dir = Some(dir);
        self
    }

    pub async fn start(self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let postgres = match (self.backend, &self.database_of) {
            (Backend::Postgres, None) => {
                Some(TestDatabase::create_with(self.postgres_icu_locale.as_deref()).await)
            }
            _ => None,
        };
        let mut config = Config::new(dir.path());
        config.database_url = postgres
            .as_ref()
            .map(|db| db.url.clone())
            .or(self.database_of);
        config.shipped_modules = self.shipped;
        config.modules = self.guests;
        config.limits = self.limits;
        config.base_domain = self.base_domain;
        config.jwt_secret = self.jwt_secret;
        config.jwt_previous_secrets = self.previous_jwt_secrets;
        config.audit_key = Some(TEST_AUDIT_KEY.into());
        config.production = self.production;
        config.tenant_rate_limit = self.tenant_rate_limit;
        config.anonymous_limits = self.anonymous_limits;
        config.trusted_proxies = self.trusted_proxies;
        config.metrics_token = self.metrics_token;
        config.events = self.events;
        config.clock = self.clock;
        config.billing = self.billing;
        config.packages = self.packages;
        config.bench_routes = self.bench_routes;
        if let Some(every) = self.tenant_sweep_interval {
            config.tenant_sweep_interval = every;
        }
        if let Some(timeout) = self.replica_ack_timeout {
            config.replica_ack_timeout = timeout;
        }
        // One artifact cache for the whole run: modules compile once.
        config.cache_dir = Some(
            self.cache_dir
                .unwrap_or_else(|| target_dir().join("mosaic-test-cache")),
        );
        let state = AppState::build(config).await.expect("host starts");
        for (subdomain, modules) in &self.tenants {
            state
                .provisioner()
                .create_tenant(
                    mosaic::provisioning::NewTenant {
                        name: format!("{subdomain} Ltd"),
                        subdomain: subdomain.clone(),
                        modules: modules.clone(),
                        ..Default::default()
                    },
                    &mosaic::provisioning::Actor {
                        id: "test",
                        origin: Default::default(),
                    },
                )
                .await
                .expect("tenant created");
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(mosaic::serve(state.clone(), listener, async {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            state,
            _stop: stop,
            _postgres: postgres,
            _dir: dir,
        }
    }
}

impl TestApp {
    /// The shipped modules (every crate in `modules/`) on `backend`.
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            shipped: mosaic::BUILTIN_MODULES
                .iter()
                .map(|key| wasm(key))
                .collect(),
            guests: Vec::new(),
            tenants: Vec::new(),
            limits: Limits {
                total_instances: 64,
                ..Limits::default()
            },
            base_domain: None,
            cache_dir: None,
            jwt_secret: Some(TEST_JWT_SECRET.into()),
            previous_jwt_secrets: Vec::new(),
            production: false,
            tenant_rate_limit: Config::new(".").tenant_rate_limit,
            anonymous_limits: AnonymousLimits::default(),
            trusted_proxies: Vec::new(),
            metrics_token: None,
            events: EventSettings {
                retry_base: Duration::from_millis(20),
                retry_max: Duration::from_millis(200),
                ..EventSettings::default()
            },
            clock: Clock::default(),
            billing: BillingSettings::default(),
            packages: PackageSettings::default(),
            database_of: None,
            postgres_icu_locale: None,
            tenant_sweep_interval: None,
            replica_ack_timeout: None,
            bench_routes: false,
        }
    }
}
