//! All SQL lives here. One code path for both databases through sqlx's `Any` driver;
//! the few places where SQLite and PostgreSQL differ ask [`Dialect`].

mod audit;
mod audit_chain;
mod demo_requests;
pub mod events;
pub mod files;
pub mod invoices;
mod mail;
mod migrations;
mod module_data;
mod modules;
pub mod packages;
pub mod plans;
pub mod records;
pub mod replicas;
pub mod schedules;
mod sessions;
mod tenants;
pub mod usage;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use audit::{AuditEntry, AuditFilter, AuditRecord, Origin};
pub use audit_chain::{AuditHead, AuditKey, AuditProblem, AuditVerification};
pub use demo_requests::{DemoRequest, NewDemoRequest};
pub use mail::{Mail, Redeemed, TokenMail, TokenPurpose};
pub use records::{Records, StoreError};
pub use sessions::{RefreshUse, SessionProblem};
pub use tenants::{
    Created, DomainChange, Moved, NewPayment, Payment, PaymentRefusal, PaymentStatus, PlanChange,
    Proof, Renewed, Repricing, Reviewed, Subscription, SubscriptionRefusal, SubscriptionState,
    TENANT_CHANGES, Tenant, TenantChanges, TenantQuery, TenantRow, TenantStatistics, TenantStatus,
    TrialStart, module_settings,
};

pub use users::{Account, NewAccount, Realm};

/// A database error the caller cannot act on: logged, answered as 500.
pub type DbResult<T> = Result<T, sqlx::Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The `records.data` column as JSON text.
    pub(crate) fn data_out(self) -> &'static str {
        match self {
            Self::Sqlite => "data",
            Self::Postgres => "data::text",
        }
    }

    /// A JSON text parameter written to `records.data`.
    pub(crate) fn data_in(self, param: &str) -> String {
        match self {
            Self::Sqlite => param.to_owned(),
            Self::Postgres => format!("{param}::jsonb"),
        }
    }
}

/// The database: a pool, its dialect, and for SQLite the single-writer gate.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub dialect: Dialect,
    /// SQLite allows one writer at a time; taking this before `BEGIN IMMEDIATE` makes
    /// this process's write transactions an orderly queue.
    writer: Option<Arc<Semaphore>>,
    /// SQLite: each tenant's module data in a file of its own.
    tenant_files: Option<Arc<module_data::TenantFiles>>,
    /// A tenant's SQLite file: its documents read in place.
    direct_reads: Option<Arc<records::direct::DirectReads>>,
    /// What audit rows are sealed with; a handle without one writes no audit row.
    audit_key: Option<AuditKey>,
    /// The manifests' declared indexes this database has, or is building.
    built_indexes: Arc<records::BuiltIndexes>,
}

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://...`), creating a SQLite file
    /// if missing; a SQLite file keeps each tenant's module data in a file beside it.
    pub async fn connect(url: &str) -> DbResult<Self> {
        let tenant_files = if url.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
            let file = options.get_filename();
            (file != Path::new(":memory:"))
                .then(|| module_data::TenantFiles::beside(file))
                .flatten()
                .map(Arc::new)
        } else {
            None
        };
        Self::open(url, tenant_files).await
    }

    async fn open(
        url: &str,
        tenant_files: Option<Arc<module_data::TenantFiles>>,
    ) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        let options = connect_options(url)?;
        let pool = match dialect {
            Dialect::Sqlite => {
                // WAL is a property of the file: set it once, before the pool opens.
                let mut conn = options.connect().await?;
                conn.execute("PRAGMA journal_mode = WAL").await?;
                drop(conn);
                sqlite_pool().connect_with(options).await?
            }
            Dialect::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Self::with_pool(pool, dialect, tenant_files))
    }

    /// A SQLite file already in WAL mode, whose pool connects on first use: each
    /// connection runs on a thread of its own, which a file only read in place
    /// (`records::direct`) never needs.
    fn lazy_sqlite(url: &str) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let pool = sqlite_pool().connect_lazy_with(connect_options(url)?);
        Ok(Self::with_pool(pool, Dialect::Sqlite, None))
    }

    fn with_pool(
        pool: AnyPool,
        dialect: Dialect,
        tenant_files: Option<Arc<module_data::TenantFiles>>,
    ) -> Self {
        Self {
            pool,
            dialect,
            writer: (dialect == Dialect::Sqlite).then(|| Arc::new(Semaphore::new(1))),
            tenant_files,
            direct_reads: None,
            audit_key: None,
            built_indexes: Arc::default(),
        }
    }

    /// How many handles share this one's writer gate (SQLite): itself included.
    fn handles(&self) -> usize {
        self.writer.as_ref().map_or(1, Arc::strong_count)
    }

    /// Documents read in place, for a tenant's SQLite file.
    pub(crate) fn direct_reads(&self) -> Option<&records::direct::DirectReads> {
        self.direct_reads.as_deref()
    }

    /// This handle seals the audit rows it writes with `key`.
    pub fn with_audit_key(mut self, key: AuditKey) -> Self {
        self.audit_key = Some(key);
        self
    }

    /// The audit key, or an error for a handle opened without one (the CLI's
    /// read-only commands, a module's data).
    pub(crate) fn audit_key(&self) -> DbResult<&AuditKey> {
        self.audit_key.as_ref().ok_or_else(|| {
            sqlx::Error::Configuration(
                "this database handle has no audit key to seal rows with".into(),
            )
        })
    }

    /// Begins a write transaction, queued behind other writers on SQLite. There it
    /// takes the write lock at `BEGIN` (`IMMEDIATE`): a deferred transaction that
    /// reads and then writes fails with `SQLITE_BUSY_SNAPSHOT` when a statement
    /// outside the gate (a login counter, say) committed in between, and could only
    /// be retried; an immediate one waits for that statement instead.
    pub async fn begin_write(&self) -> DbResult<WriteTx> {
        let permit = match &self.writer {
            Some(gate) => Some(
                gate.clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| sqlx::Error::PoolClosed)?,
            ),
            None => None,
        };
        Ok(WriteTx {
            tx: match self.dialect {
                Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
                Dialect::Postgres => self.pool.begin().await?,
            },
            _permit: permit,
        })
    }

    pub fn records(&self) -> Records {
        Records::new(self)
    }
}

fn connect_options(url: &str) -> DbResult<AnyConnectOptions> {
    Ok(AnyConnectOptions::from_str(url)?
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500)))
}

fn sqlite_pool() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                Ok(())
            })
        })
}

/// A write transaction; rolled back when dropped without `commit`.
pub struct WriteTx {
    pub tx: sqlx::Transaction<'static, sqlx::Any>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl WriteTx {
    pub async fn commit(self) -> DbResult<()> {
        self.tx.commit().await
    }
}

/// A PostgreSQL advisory lock key (64 bits of a hash) for what `parts` name, e.g.
/// one (tenant, source) event stream.
pub(crate) fn advisory_key(parts: &[&str]) -> i64 {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash.update([0]);
        }
        hash.update(part);
    }
    i64::from_be_bytes(hash.finalize()[..8].try_into().expect("eight bytes"))
}

/// Milliseconds since the Unix epoch, as stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A migrated SQLite main database in a fresh directory of its own, for unit tests;
/// and the directory.
#[cfg(test)]
pub(crate) async fn scratch_database(name: &str) -> (Db, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("mosaic-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory");
    let db = Db::connect(&format!("sqlite://{}/main.db?mode=rwc", dir.display()))
        .await
        .expect("a database");
    db.migrate().await.expect("migrated");
    (db, dir)
}
