//! The best-layout baseline (#16, item 1(b)): the employees list served natively
//! from a table designed for that one query, beside the module route and the
//! natives on the `records` layout, to show what that layout and its path cost.
//! - SQLite: a `WITHOUT ROWID` table in the tenant's own file, clustered on
//!   (module, collection, seq): a page is one range scan of one b-tree, with no
//!   lookup from an index into the table; read in place through a cached prepared
//!   statement.
//! - PostgreSQL: a table whose primary key on (tenant, module, collection, seq)
//!   includes every column served, clustered on that key and vacuumed, so that a
//!   page is an index-only scan of adjacent pages; the data kept as text (no `jsonb`
//!   rendering); read through a `PgPool` (the dialect driver, each statement
//!   prepared once per connection) rather than the `Any` driver.
//!
//! `POST /api/_native/employees-clustered` copies the calling tenant's employees
//! into the table (a snapshot: a benchmark writes nothing while it reads), and
//! `GET` serves a page of them as the module would.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::extract::State;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::OnceCell;

use super::{Json, Paging, render, store_error};
use crate::AppState;
use crate::config::Config;
use crate::http::ApiError;
use crate::http::extract::{QueryParams, TenantCaller};
use crate::store::records::direct::Direct;
use crate::store::records::{Cursor, Document, MAX_PAGE};
use crate::store::{DbResult, Dialect};

const MODULE: &str = "employees";
const COLLECTION: &str = "employees";

const SQLITE_TABLE: &str = "CREATE TABLE IF NOT EXISTS bench_clustered (
    module TEXT NOT NULL, collection TEXT NOT NULL, seq INTEGER NOT NULL,
    id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (module, collection, seq)
) WITHOUT ROWID";

const POSTGRES_TABLE: &str = "CREATE TABLE IF NOT EXISTS bench_clustered (
    tenant_id TEXT NOT NULL, module TEXT NOT NULL, collection TEXT NOT NULL,
    seq BIGINT NOT NULL, id TEXT NOT NULL, version BIGINT NOT NULL, data TEXT NOT NULL,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, module, collection, seq)
        INCLUDE (id, version, data, created_at, updated_at)
)";

const SQLITE_PAGE: &str = "SELECT id, version, data, created_at, updated_at, seq
    FROM bench_clustered WHERE module = ?1 AND collection = ?2 AND seq > ?3
    ORDER BY seq LIMIT ?4";

const POSTGRES_PAGE: &str = "SELECT id, version, data, created_at, updated_at, seq
    FROM bench_clustered
    WHERE tenant_id = $1 AND module = $2 AND collection = $3 AND seq > $4
    ORDER BY seq LIMIT $5";

/// The baseline's own PostgreSQL pool, connected on its first use.
#[derive(Default)]
pub struct PgBaseline(OnceCell<PgPool>);

impl PgBaseline {
    /// The pool, connected to the host's database on the first call only.
    async fn pool(&self, config: &Config) -> DbResult<&PgPool> {
        self.0
            .get_or_try_init(|| async {
                PgPoolOptions::new()
                    .max_connections(16)
                    .connect(&config.database_url())
                    .await
            })
            .await
    }
}

/// Copies the calling tenant's employees into the clustered table.
pub async fn load(
    State(state): State<AppState>,
    Extension(pg): Extension<Arc<PgBaseline>>,
    auth: TenantCaller,
) -> Result<Json, ApiError> {
    let tenant_id = auth.tenant.tenant.id.clone();
    let copied = match state.db.dialect {
        Dialect::Sqlite => {
            let data = state.db.module_data(&tenant_id).await?;
            data.in_place(true, move |conn| {
                conn.execute(SQLITE_TABLE, [])?;
                let tx = conn.unchecked_transaction()?;
                tx.execute(
                    "DELETE FROM bench_clustered WHERE module = ?1 AND collection = ?2",
                    [MODULE, COLLECTION],
                )?;
                let copied = tx.execute(
                    "INSERT INTO bench_clustered SELECT module, collection, seq, id, version,
                     data, created_at, updated_at FROM records
                     WHERE tenant_id = ?1 AND module = ?2 AND collection = ?3",
                    [tenant_id.as_str(), MODULE, COLLECTION],
                )?;
                tx.commit()?;
                Ok(copied as u64)
            })
            .await
            .ok_or_else(not_here)??
        }
        Dialect::Postgres => {
            let pool = pg.pool(&state.config).await?;
            sqlx::raw_sql(POSTGRES_TABLE).execute(pool).await?;
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM bench_clustered WHERE tenant_id = $1 AND module = $2 AND collection = $3")
                .bind(&tenant_id)
                .bind(MODULE)
                .bind(COLLECTION)
                .execute(&mut *tx)
                .await?;
            let copied = sqlx::query(
                "INSERT INTO bench_clustered SELECT tenant_id, module, collection, seq, id, version,
                 data::text, created_at, updated_at FROM records
                 WHERE tenant_id = $1 AND module = $2 AND collection = $3",
            )
            .bind(&tenant_id)
            .bind(MODULE)
            .bind(COLLECTION)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            // Rows in key order on disk, and the visibility map set for index-only
            // scans. Neither runs inside a transaction.
            sqlx::raw_sql("CLUSTER bench_clustered USING bench_clustered_pkey")
                .execute(pool)
                .await?;
            sqlx::raw_sql("VACUUM ANALYZE bench_clustered")
                .execute(pool)
                .await?;
            copied
        }
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "copied": copied }).to_string(),
    ))
}

/// A page of the calling tenant's employees from the clustered table.
pub async fn page(
    State(state): State<AppState>,
    Extension(pg): Extension<Arc<PgBaseline>>,
    auth: TenantCaller,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Json, ApiError> {
    let limit = paging.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let after = paging
        .cursor
        .as_deref()
        .map(Cursor::decode)
        .transpose()
        .map_err(store_error)?
        .map_or(0, |cursor| cursor.seq);
    let tenant_id = &auth.tenant.tenant.id;
    // One row past the page says whether another follows.
    let fetch = i64::from(limit) + 1;
    let mut rows = match state.db.dialect {
        Dialect::Sqlite => {
            let data = state.db.module_data(tenant_id).await?;
            let reads = data.direct_reads().ok_or_else(not_here)?;
            let deadline = Instant::now() + state.config.limits.call_timeout;
            let read = reads
                .run(deadline, |conn| sqlite_page(conn, after, fetch))
                .map_err(ApiError::internal)?;
            let rows = match read {
                Direct::Done(rows) => rows,
                // As a module's read: finished off the executor.
                Direct::OverBudget => data
                    .in_place(false, move |conn| sqlite_page(conn, after, fetch))
                    .await
                    .ok_or_else(not_here)??,
            };
            rows.ok_or_else(not_loaded)?
        }
        Dialect::Postgres => {
            let pool = pg.pool(&state.config).await?;
            sqlx::query_as::<_, (String, i64, String, i64, i64, i64)>(POSTGRES_PAGE)
                .bind(tenant_id)
                .bind(MODULE)
                .bind(COLLECTION)
                .bind(after)
                .bind(fetch)
                .fetch_all(pool)
                .await
                .map_err(|err| match &err {
                    sqlx::Error::Database(db) if db.code().as_deref() == Some(UNDEFINED_TABLE) => {
                        not_loaded()
                    }
                    _ => err.into(),
                })?
                .into_iter()
                .map(|(id, version, data, created_at, updated_at, seq)| {
                    let doc = Document {
                        id,
                        version,
                        data,
                        created_at,
                        updated_at,
                    };
                    (doc, seq)
                })
                .collect()
        }
    };
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = more.then(|| rows.last()).flatten().map(|(_, seq)| {
        Cursor {
            value: None,
            seq: *seq,
        }
        .encode()
    });
    let items: Vec<Document> = rows.into_iter().map(|(doc, _)| doc).collect();
    Ok(render(&items, next.as_deref()))
}

/// A page from the tenant file's clustered table; `None` before it is filled.
type SqlitePage = Option<Vec<(Document, i64)>>;

fn sqlite_page(
    conn: &rusqlite::Connection,
    after: i64,
    fetch: i64,
) -> rusqlite::Result<SqlitePage> {
    let mut statement = match conn.prepare_cached(SQLITE_PAGE) {
        Err(err) if is_missing_table(&err) => return Ok(None),
        prepared => prepared?,
    };
    let rows = statement.query_map(rusqlite::params![MODULE, COLLECTION, after, fetch], |row| {
        Ok((
            Document {
                id: row.get(0)?,
                version: row.get(1)?,
                data: row.get(2)?,
                created_at: row.get(3)?,
                updated_at: row.get(4)?,
            },
            row.get(5)?,
        ))
    })?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map(Some)
}

/// PostgreSQL's SQLSTATE for a table that does not exist.
const UNDEFINED_TABLE: &str = "42P01";

fn is_missing_table(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(_, Some(message)) if message.starts_with("no such table"))
}

fn not_loaded() -> ApiError {
    ApiError::NotFound(
        "Nothing is copied into the clustered table yet: POST to this route first".into(),
    )
}

fn not_here() -> ApiError {
    ApiError::NotFound("The clustered baseline is for a tenant's SQLite file or PostgreSQL".into())
}
