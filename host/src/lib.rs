//! The Mosaic host: a multi-tenant HTTP server whose business features are
//! WebAssembly components. `main.rs` is the CLI; this crate is what it (and the
//! integration tests) run.

pub mod auth;
pub mod bench;
pub mod billing;
pub mod cli;
pub mod clock;
pub mod config;
pub mod events;
pub mod http;
pub mod metrics;
pub mod provisioning;
pub mod runtime;
pub mod schedules;
pub mod store;
pub mod tenancy;

use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use config::{Config, Limits};

/// The keys of the shipped modules: the crates in `modules/`, found at build time.
pub const BUILTIN_MODULES: &[&str] = include!(concat!(env!("OUT_DIR"), "/builtin_modules.rs"));

use crate::auth::JwtKeys;
use crate::http::Throttle;
use crate::provisioning::{Provisioner, TenantFiles};
use crate::runtime::{Provenance, Runtime};
use crate::store::Db;
use crate::tenancy::Directory;
use crate::tenancy::replicas::Replicas;
use crate::tenancy::sync::TenantFollower;

/// Everything a request handler can reach. Cloned per request by axum, so it is one
/// reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub db: Db,
    pub directory: Directory,
    pub runtime: Runtime,
    pub keys: JwtKeys,
    pub files: TenantFiles,
    pub throttle: Throttle,
    /// This replica among the others on the database.
    pub replicas: Replicas,
    pub config: Config,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Connects, migrates, installs the configured modules and (if asked) seeds the
    /// demo tenants.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        // Production installs signed modules only.
        config.packages.require_signature |= config.production;
        if config.production {
            anyhow::ensure!(
                config.jwt_secret.is_some(),
                "production needs MOSAIC_JWT_SECRET (or MOSAIC_JWT_SECRET_FILE) of at least {} bytes",
                auth::MIN_SECRET_BYTES
            );
            anyhow::ensure!(
                !config.seed_demo && !config.bench_routes,
                "demo data and benchmark routes are for development, not production"
            );
        }
        // Before anything touches the database: a weak secret never serves.
        let keys = JwtKeys::from_config(&config)?;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let audit_key = config.load_audit_key()?;
        let db = Db::connect(&config.database_url())
            .await
            .context("connecting to the database")?
            .with_audit_key(audit_key.clone());
        db.cap_open_tenant_files(config.limits.open_tenant_files);
        db.migrate().await.context("migrating the database")?;
        db.check_audit_key(&audit_key)
            .await
            .context("checking the audit key (MOSAIC_AUDIT_KEY)")?;
        let default_plan = &config.billing.default_plan;
        anyhow::ensure!(
            !config.billing.check_default_plan
                || db
                    .plan(default_plan)
                    .await?
                    .is_some_and(|plan| plan.takes_subscribers()),
            "the default plan {default_plan:?} (MOSAIC_DEFAULT_PLAN) is no plan that takes \
             subscribers: name one of `mosaic billing plans`"
        );
        let runtime = Runtime::new(db.clone(), config.limits.clone(), config.cache_dir())?;
        let shipped = config.shipped_modules.iter().map(|path| {
            let key = path.file_stem().unwrap_or_default().to_string_lossy();
            (
                path.clone(),
                Provenance::Shipped {
                    key: key.into_owned(),
                },
            )
        });
        let extra = config
            .modules
            .iter()
            .map(|path| (path.clone(), Provenance::Extra));
        runtime.install_all(shipped.chain(extra)).await;
        let directory = Directory::load(db.clone(), config.base_domain.clone()).await?;
        let throttle = Throttle::new(&config, runtime.metrics().clone());
        let state = Self(Arc::new(Shared {
            db,
            directory,
            runtime,
            keys,
            files: TenantFiles::new(&config.data_dir),
            throttle,
            replicas: Replicas::new(config.replica_ack_timeout),
            config,
        }));
        // Modules installed at runtime, as the database has them.
        if let Err(err) = state.provisioner().sync_packages().await {
            tracing::error!(error = %err, "loading the installed modules failed");
        }
        if state.config.seed_demo && state.provisioner().seed_demo().await? {
            tracing::info!("seeded demo tenants demo and acme");
        }
        Ok(state)
    }

    pub fn provisioner(&self) -> Provisioner<'_> {
        Provisioner {
            db: &self.db,
            runtime: &self.runtime,
            directory: &self.directory,
            files: &self.files,
            billing: &self.config.billing,
            clock: &self.config.clock,
            packages: &self.config.packages,
            replicas: &self.replicas,
        }
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> axum::Router {
    http::router(state)
}

/// Follows modules installed, granted, rolled back or removed on another replica
/// (or by the CLI): each change bumps the catalog's generation, polled here.
async fn follow_installed_modules(state: &AppState) {
    let mut seen = None;
    let mut tick = tokio::time::interval(state.config.tenant_sweep_interval);
    loop {
        tick.tick().await;
        let generation = match state.db.module_catalog_generation().await {
            Ok(generation) => generation,
            Err(err) => {
                tracing::warn!(error = %err, "reading the module catalog failed");
                continue;
            }
        };
        if seen == Some(generation) {
            continue;
        }
        match state.provisioner().sync_packages().await {
            Ok(()) => seen = Some(generation),
            Err(err) => tracing::error!(error = %err, "following the installed modules failed"),
        }
    }
}

/// Serves `state` on `listener` until `shutdown` resolves. In the background it
/// follows tenant changes made elsewhere, delivers events, fires schedules, moves
/// subscriptions on, evicts idle slots and forgets idle rate limit buckets.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    state
        .replicas
        .serving_at(listener.local_addr()?.to_string());
    if let Some(me) = state.replicas.info() {
        state.db.register_replica(&me, store::now_ms()).await?;
    }
    let beating = state.clone();
    let heartbeat = tokio::spawn(async move { beating.replicas.beat(&beating.db).await });
    let following = state.clone();
    let follower = tokio::spawn(async move {
        TenantFollower {
            db: &following.db,
            database_url: following.config.database_url(),
            directory: &following.directory,
            runtime: &following.runtime,
            replicas: &following.replicas,
        }
        .run(following.config.tenant_sweep_interval)
        .await;
    });
    let installing = state.clone();
    let installer = tokio::spawn(async move {
        follow_installed_modules(&installing).await;
    });
    let delivering = state.clone();
    let deliverer = tokio::spawn(async move {
        events::Deliverer {
            db: &delivering.db,
            database_url: delivering.config.database_url(),
            directory: &delivering.directory,
            runtime: &delivering.runtime,
            settings: &delivering.config.events,
        }
        .run()
        .await;
    });
    let scheduling = state.clone();
    let scheduler = tokio::spawn(async move {
        schedules::Scheduler {
            db: &scheduling.db,
            directory: &scheduling.directory,
            runtime: &scheduling.runtime,
            clock: &scheduling.config.clock,
        }
        .run()
        .await;
    });
    let renewing = state.clone();
    let renewals = tokio::spawn(async move {
        billing::Renewals {
            db: &renewing.db,
            clock: &renewing.config.clock,
            settings: &renewing.config.billing,
            directory: Some(&renewing.directory),
        }
        .run()
        .await;
    });
    let housekeeping = state.clone();
    let period = (state.config.limits.slot_idle_timeout / 4).max(std::time::Duration::from_secs(1));
    let evictor = tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let evicted = housekeeping.runtime.evict_idle();
            let closed = housekeeping
                .db
                .close_idle_tenant_files(housekeeping.config.limits.slot_idle_timeout)
                .await;
            if evicted > 0 || closed > 0 {
                tracing::debug!(
                    evicted,
                    closed,
                    "evicted idle slots and closed idle tenant files"
                );
            }
            housekeeping.throttle.shrink();
            // Failures in a row end after a lockout period of quiet.
            let now = store::now_ms();
            let quiet =
                i64::try_from(housekeeping.config.auth.lockout.as_millis()).unwrap_or(i64::MAX);
            if let Err(err) = housekeeping
                .db
                .forget_login_failures(now.saturating_sub(quiet), now)
                .await
            {
                tracing::warn!(error = %err, "forgetting old login failures failed");
            }
            // Deleted tenants' folders whose removal failed before.
            let files = housekeeping.files.clone();
            if let Ok(Err(err)) = tokio::task::spawn_blocking(move || files.remove_deleted()).await
            {
                tracing::warn!(error = %err, "removing deleted tenants' folders failed");
            }
        }
    });
    let result = axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving HTTP");
    heartbeat.abort();
    if let Err(err) = state.db.leave_replica(state.replicas.id()).await {
        tracing::warn!(error = %err, "leaving the replica list failed");
    }
    evictor.abort();
    follower.abort();
    installer.abort();
    deliverer.abort();
    scheduler.abort();
    renewals.abort();
    result
}
