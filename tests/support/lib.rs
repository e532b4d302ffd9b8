//! The integration-test harness: a real `mosaic` host on 127.0.0.1:0 with the real
//! Wasm modules from `target/wasm32-wasip2/release` and a real database (SQLite in a
//! temporary directory, or a fresh PostgreSQL database dropped afterwards).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mosaic::auth::{Claims, Role};
use mosaic::billing::BillingSettings;
use mosaic::clock::Clock;
use mosaic::config::{AnonymousLimits, RateLimit};
use mosaic::events::EventSettings;
use mosaic::provisioning::PackageSettings;
use mosaic::{AppState, Config, Limits};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub use mosaic;

pub mod load;

/// The signing secret of every test host unless a test picks another.
pub const TEST_JWT_SECRET: &str = "integration-test-secret-of-32-bytes-or-more";
/// The key every test host seals its audit rows with.
pub const TEST_AUDIT_KEY: &str = "integration-test-audit-key-of-32-bytes-or-more";

/// The audit key of every test host, to verify their logs with.
pub fn audit_key() -> mosaic::store::AuditKey {
    mosaic::store::AuditKey::new(TEST_AUDIT_KEY.as_bytes()).expect("a long enough key")
}

/// `header.payload.signature` with `alg` in the header: signed with HMAC under `key`
/// for HS256 and HS512, whatever the key's length (as an attacker would sign), and
/// left unsigned for any other `alg`.
pub fn hmac_token(alg: &str, key: &[u8], claims: &impl serde::Serialize) -> String {
    use base64::Engine;
    fn mac<M: hmac::Mac + hmac::digest::KeyInit>(key: &[u8], input: &str) -> Vec<u8> {
        let mut mac = <M as hmac::Mac>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
    let payload = b64(serde_json::to_string(claims).expect("claims").as_bytes());
    let input = format!("{header}.{payload}");
    let signature = match alg {
        "HS256" => mac::<hmac::Hmac<sha2::Sha256>>(key, &input),
        "HS512" => mac::<hmac::Hmac<sha2::Sha512>>(key, &input),
        _ => Vec::new(),
    };
    format!("{input}.{}", b64(&signature))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests create their databases on.
fn postgres_admin_url() -> String {
    std::env::var("MOSAIC_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A module built by `cargo build-modules`.
pub fn wasm(name: &str) -> PathBuf {
    let path = target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build-modules` before the tests",
        path.display()
    );
    path
}

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

/// A running host.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    _stop: tokio::sync::oneshot::Sender<()>,
    _postgres: Option<TestDatabase>,
    _dir: tempfile::TempDir,
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

    /// The database the host runs on, for another process to start on.
    pub fn database_url(&self) -> String {
        self.state.config.database_url()
    }

    /// Where the host keeps its files (`tenants/<subdomain>/...`).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Sends `GET <path>` byte for byte, as no URL library would (they resolve `..`
    /// and `%2e%2e` before sending); returns the status and body.
    pub async fn raw_get(&self, path: &str) -> (u16, String) {
        self.raw_request(&format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n"))
            .await
    }

    /// Sends a request head as it is written (its request line and headers, each
    /// line ending in CRLF), for what clients do not send: absolute-form targets,
    /// repeated headers. Returns the status and body.
    pub async fn raw_request(&self, head: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let request = format!("{head}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn tenant_id(&self, subdomain: &str) -> String {
        self.state
            .directory
            .by_subdomain(subdomain)
            .await
            .expect("db")
            .expect("tenant exists")
            .tenant
            .id
            .clone()
    }

    /// The database holding `tenant`'s module data (documents, keys, event outbox):
    /// a file of its own on SQLite, the shared one on PostgreSQL.
    pub async fn module_data(&self, tenant: &str) -> mosaic::store::Db {
        let tenant_id = self.tenant_id(tenant).await;
        self.state
            .db
            .module_data(&tenant_id)
            .await
            .expect("module data database")
    }

    /// The definitions of the indexes built for manifests' declared indexes in
    /// `tenant`'s module data (valid ones only), once there are `expected` of them
    /// (built in the background; waits up to 10 s).
    pub async fn declared_indexes(&self, tenant: &str, expected: usize) -> Vec<String> {
        let data = self.module_data(tenant).await;
        let sql = match data.dialect {
            mosaic::store::Dialect::Sqlite => {
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'records_ix_%'"
            }
            mosaic::store::Dialect::Postgres => {
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index \
                 WHERE indisvalid AND indexrelid::regclass::text LIKE 'records_ix_%'"
            }
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let built: Vec<String> = sqlx::query_scalar(sql)
                .fetch_all(&data.pool)
                .await
                .expect("the catalog");
            if built.len() >= expected || Instant::now() > deadline {
                return built;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to 10 s) until `others` replicas besides this one acknowledge its
    /// tenant changes: they serve and listen, and so does this one.
    pub async fn until_replicas_acknowledge(&self, tenant: &str, others: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // A change that changes nothing, for its acknowledgements.
            let answer = self
                .req(
                    Method::POST,
                    &format!("/api/admin/tenants/{tenant}/modules/employees"),
                )
                .bearer(&self.admin_token())
                .json(&json!({"enabled": true}))
                .send()
                .await
                .expect(200);
            let acknowledged = answer.body["replicas"]["acknowledged"]
                .as_array()
                .map_or(0, Vec::len);
            if acknowledged == others {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{others} replicas never acknowledged: {}",
                answer.text
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 5 s) until an instance of `module` runs a request of `tenant`.
    pub async fn wait_until_busy(&self, tenant: &str, module: &str) {
        let tenant_id = self.tenant_id(tenant).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let busy =
                self.state.runtime.slots().iter().any(|s| {
                    s.tenant_id == tenant_id && s.module == module && s.busy_instances > 0
                });
            if busy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {module} instance of {tenant} became busy");
    }

    /// A token for a user of `subdomain` with `role`.
    pub async fn token(&self, subdomain: &str, role: Role) -> String {
        let tenant = self.tenant_id(subdomain).await;
        self.sign(&Claims::new(
            format!("user-{subdomain}"),
            Some(tenant),
            role,
            600,
        ))
    }

    /// A token of a user of `subdomain` with `role` and `email`: modules know their
    /// callers' employee records by email.
    pub async fn token_with_email(&self, subdomain: &str, role: Role, email: &str) -> String {
        let tenant = self.tenant_id(subdomain).await;
        let mut claims = Claims::new(format!("user-{email}"), Some(tenant), role, 600);
        claims.email = Some(email.to_owned());
        self.sign(&claims)
    }

    /// Hires an active employee of `subdomain` through the employees module (as a
    /// tenant admin); their id.
    pub async fn hire(&self, subdomain: &str, name: &str, email: &str, salary: i64) -> String {
        let admin = self.token(subdomain, Role::TenantAdmin).await;
        let body =
            json!({"name": name, "email": email, "salary": salary, "hired_on": "2025-03-01"});
        self.as_user(Method::POST, "/api/employees/", subdomain, &admin)
            .json(&body)
            .send()
            .await
            .expect(201)
            .body["id"]
            .as_str()
            .expect("employee id")
            .to_owned()
    }

    /// Replaces a module's settings for a tenant, as a platform admin.
    pub async fn set_module_settings(&self, subdomain: &str, module: &str, settings: &Value) {
        self.req(
            Method::PUT,
            &format!("/api/admin/tenants/{subdomain}/modules/{module}/settings"),
        )
        .bearer(&self.admin_token())
        .json(settings)
        .send()
        .await
        .expect(200);
    }

    pub fn admin_token(&self) -> String {
        self.sign(&Claims::new(
            "platform-admin".into(),
            None,
            Role::SuperAdmin,
            600,
        ))
    }

    /// The value of one series (`name{labels}` as exposed) in `/metrics`, if the
    /// host has exposed it yet.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let exposition = self
            .req(Method::GET, "/metrics")
            .bearer(&self.admin_token())
            .send()
            .await
            .expect(200)
            .text;
        let prefix = format!("{series} ");
        exposition.lines().find_map(|line| {
            let value = line.strip_prefix(&prefix)?.trim();
            Some(value.parse().expect("a sample value"))
        })
    }

    pub fn sign(&self, claims: &Claims) -> String {
        self.state.keys.issue(claims).expect("sign")
    }

    /// A request to the host.
    pub fn req(&self, method: Method, path: &str) -> Req {
        Req {
            builder: self.client.request(method, self.url(path)),
        }
    }

    /// A request of a tenant's user: `X-Tenant-ID` and a bearer token.
    pub fn as_user(&self, method: Method, path: &str, tenant: &str, token: &str) -> Req {
        self.req(method, path)
            .header("x-tenant-id", tenant)
            .bearer(token)
    }
}

pub struct Req {
    builder: reqwest::RequestBuilder,
}

/// A response read whole: status, headers, and the body as JSON (or null).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.builder = self.builder.bearer_auth(token);
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.builder = self.builder.json(body);
        self
    }

    /// A raw body sent as JSON, for malformed input.
    pub fn raw(mut self, body: impl Into<reqwest::Body>) -> Self {
        self.builder = self
            .builder
            .header("content-type", "application/json")
            .body(body);
        self
    }

    /// A body sent as it is, with whatever content type the request names.
    pub fn raw_bytes(mut self, body: Vec<u8>) -> Self {
        self.builder = self.builder.body(body);
        self
    }

    /// A `multipart/form-data` body.
    pub fn multipart(mut self, form: reqwest::multipart::Form) -> Self {
        self.builder = self.builder.multipart(form);
        self
    }

    pub async fn send(self) -> Resp {
        let response = self.builder.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read").to_vec();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
            bytes,
        }
    }
}

impl Resp {
    /// Asserts the status, showing the body when it is wrong.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts the module gate's refusal of a module the tenant has not switched on:
    /// a 403 with exactly `{"error":"Module not enabled","module":..,"upgrade":true}`.
    #[track_caller]
    pub fn expect_gated(self, module: &str) -> Self {
        let resp = self.expect(403);
        assert_eq!(
            resp.body,
            json!({"error": "Module not enabled", "module": module, "upgrade": true})
        );
        resp
    }

    /// Asserts an error in the host's JSON shape with this code.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        let resp = self.expect(status);
        assert_eq!(resp.body["code"], code, "body: {}", resp.text);
        assert!(resp.body["error"].is_string(), "body: {}", resp.text);
        resp
    }
}

/// A PostgreSQL database of its own, dropped when the test ends.
pub struct TestDatabase {
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        Self::create_with(None).await
    }

    /// A database whose default collation is the ICU `locale`, if one is given.
    pub async fn create_with(icu_locale: Option<&str>) -> Self {
        use sqlx::Executor;
        let admin = postgres_admin_url();
        let name = format!("mosaic_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("PostgreSQL is reachable (start it, or set MOSAIC_TEST_POSTGRES)");
        let collation = icu_locale.map_or(String::new(), |locale| {
            format!(
                " LOCALE_PROVIDER icu ICU_LOCALE '{locale}' LOCALE 'C.UTF-8' TEMPLATE template0"
            )
        });
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name}{collation}"
        )))
        .await
        .expect("create test database");
        let (base, _) = admin.rsplit_once('/').expect("database url has a path");
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for TestDatabase {
    /// Drops the database even when the test panicked; `WITH (FORCE)` ends the
    /// host's pooled connections.
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use sqlx::Executor;
                let mut conn =
                    <sqlx::AnyConnection as sqlx::Connection>::connect(&postgres_admin_url())
                        .await?;
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .map(drop)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Runs an async test body once per backend: `sqlite` and `postgres` tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await;
            }
        }
    )*};
}

/// The `mosaic` command line run as a process of its own: `exe` is the test
/// package's `mosaic-replica`, the same `mosaic::cli` as the `mosaic` binary (only
/// integration tests know its path).
pub fn mosaic_command(exe: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(exe);
    command
        .env(
            "MOSAIC_MODULES_DIR",
            target_dir().join("wasm32-wasip2/release"),
        )
        .env("MOSAIC_LOG", "warn")
        // The key of the test hosts, so a CLI or replica can share their database.
        .env("MOSAIC_AUDIT_KEY", TEST_AUDIT_KEY)
        .kill_on_drop(true);
    command
}

/// A `mosaic serve` process on 127.0.0.1:0, killed when dropped.
pub struct Replica {
    pub addr: SocketAddr,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Replica {
    /// Starts `mosaic serve` on `database_url` and waits until it listens.
    pub async fn start(exe: &str, database_url: &str, jwt_secret: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = mosaic_command(exe);
        command
            .args(["--database-url", database_url, "--jwt-secret", jwt_secret])
            .args(["serve", "--addr", "127.0.0.1:0", "--no-demo"])
            .args(extra);
        Self::spawn(command, dir).await
    }

    /// Runs `command`, a `mosaic ... serve --addr 127.0.0.1:0` made by
    /// [`mosaic_command`], on the data dir `dir`, and waits until it listens.
    pub async fn spawn(mut command: tokio::process::Command, dir: tempfile::TempDir) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = command
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("mosaic-replica starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(addr) = line.strip_prefix("Mosaic is listening on http://") {
                    return addr.trim().parse().expect("address");
                }
            }
            panic!("mosaic serve exited before listening")
        })
        .await
        .expect("mosaic serve listens within two minutes");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            addr,
            _child: child,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self._child.id().expect("the host is running")
    }

    /// Where the process keeps its files (its SQLite database, by default).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Kills the process with SIGKILL (nothing is flushed or finished) and hands back
    /// its data dir, to start another process on.
    pub async fn kill(mut self) -> tempfile::TempDir {
        self._child.kill().await.expect("SIGKILL the host");
        self._dir
    }
}
