//! Module documents: JSON objects in named collections, scoped by (tenant, module).
//!
//! Every function takes the scope first; there is no way to name a document of
//! another tenant or module. Writes that maintain unique-index keys run inside a
//! savepoint so a conflict leaves the surrounding unit of work untouched.
//!
//! Query building lives in `query.rs`, unique-index keys in `keys.rs`, the indexes
//! serving declared indexes in `indexes.rs` and page cursors in `cursor.rs`.

mod cursor;
pub mod direct;
mod indexes;
mod keys;
mod query;

use serde_json::Value as Json;
use sqlx::{AnyConnection, AssertSqlSafe, Executor, Row};

use super::{Db, Dialect, now_ms};
pub(crate) use cursor::Cursor;
pub(crate) use indexes::BuiltIndexes;
pub use indexes::{DeclaredIndex, MAX_INDEXES};
use keys::{delete_keys, indexes_of, insert_keys};

/// Whose documents: every query is filtered by both.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub tenant_id: &'a str,
    pub module: &'a str,
}

#[derive(Debug, Clone)]
pub struct Document {
    pub id: String,
    pub version: i64,
    pub data: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Prefix,
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub field: String,
    pub op: FilterOp,
    pub value: FilterValue,
}

#[derive(Debug, Clone)]
pub struct Selection {
    pub collection: String,
    pub filters: Vec<Filter>,
    pub order_by: Option<String>,
    pub descending: bool,
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Document>,
    pub next_cursor: Option<String>,
}

/// A unique index of the manifest, on one collection.
#[derive(Debug, Clone)]
pub struct UniqueIndex {
    pub collection: String,
    pub fields: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub const MAX_PAGE: u32 = 500;
/// The most document data one query page holds (beyond its first document): no
/// query materialises more, whatever its limit; the cursor continues the rest.
pub const MAX_PAGE_BYTES: usize = 4 << 20;
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Document operations, in the SQL of one dialect.
#[derive(Debug, Clone, Copy)]
pub struct Records {
    dialect: Dialect,
}

impl Records {
    pub(super) fn new(db: &Db) -> Self {
        Self {
            dialect: db.dialect,
        }
    }

    pub async fn get(
        &self,
        conn: &mut AnyConnection,
        scope: Scope<'_>,
        collection: &str,
        id: &str,
    ) -> StoreResult<Option<Document>> {
        let Some(sql) = self.get_sql(collection, id)? else {
            return Ok(None);
        };
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(scope.tenant_id)
            .bind(scope.module)
            .bind(collection)
            .bind(id)
            .fetch_optional(conn)
            .await?;
        row.map(|r| document(&r)).transpose().map_err(Into::into)
    }

    /// The SQL of [`Records::get`] (`$1`..`$4`: tenant, module, collection, id); none
    /// for an id no document was ever stored under.
    fn get_sql(&self, collection: &str, id: &str) -> StoreResult<Option<String>> {
        check_collection(collection)?;
        if check_id(id).is_err() {
            return Ok(None);
        }
        Ok(Some(format!(
            "SELECT id, version, {}, created_at, updated_at FROM records \
             WHERE tenant_id = $1 AND module = $2 AND collection = $3 AND id = $4",
            self.dialect.data_out()
        )))
    }

    pub async fn insert(
        &self,
        conn: &mut AnyConnection,
        scope: Scope<'_>,
        indexes: &[UniqueIndex],
        collection: &str,
        id: Option<String>,
        data: String,
    ) -> StoreResult<Document> {
        check_collection(collection)?;
        let parsed = parse_object(&data)?;
        let id = match id {
            Some(id) => {
                check_id(&id)?;
                id
            }
            None => uuid::Uuid::now_v7().to_string(),
        };
        let now = now_ms();
        let indexes = indexes_of(indexes, collection);
        let sql = format!(
            "INSERT INTO records (tenant_id, module, collection, id, version, data, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 1, {}, $6, $6) ON CONFLICT DO NOTHING",
            self.dialect.data_in("$5")
        );
        savepoint(
            conn,
            !indexes.is_empty(),
            async |conn: &mut AnyConnection| {
                insert_keys(conn, scope, &indexes, collection, &id, &parsed).await?;
                let done = sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(scope.tenant_id)
                    .bind(scope.module)
                    .bind(collection)
                    .bind(&id)
                    .bind(&data)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict(format!(
                        "a document with id {id} already exists in {collection}"
                    )));
                }
                Ok(())
            },
        )
        .await?;
        Ok(Document {
            id,
            version: 1,
            data,
            created_at: now,
            updated_at: now,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn update(
        &self,
        conn: &mut AnyConnection,
        scope: Scope<'_>,
        indexes: &[UniqueIndex],
        collection: &str,
        id: &str,
        expected_version: Option<i64>,
        data: String,
    ) -> StoreResult<Document> {
        check_collection(collection)?;
        check_id(id).map_err(|_| StoreError::NotFound)?;
        let parsed = parse_object(&data)?;
        let now = now_ms();
        let indexes = indexes_of(indexes, collection);
        let sql = format!(
            "UPDATE records SET data = {}, version = version + 1, updated_at = $2 \
             WHERE tenant_id = $3 AND module = $4 AND collection = $5 AND id = $6 \
             AND ($7 < 0 OR version = $7) RETURNING version, created_at",
            self.dialect.data_in("$1")
        );
        savepoint(
            conn,
            !indexes.is_empty(),
            async |conn: &mut AnyConnection| {
                if !indexes.is_empty() {
                    delete_keys(conn, scope, collection, id).await?;
                    insert_keys(conn, scope, &indexes, collection, id, &parsed).await?;
                }
                let row = sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(&data)
                    .bind(now)
                    .bind(scope.tenant_id)
                    .bind(scope.module)
                    .bind(collection)
                    .bind(id)
                    .bind(expected_version.unwrap_or(-1))
                    .fetch_optional(&mut *conn)
                    .await?;
                match row {
                    Some(row) => Ok(Document {
                        id: id.to_owned(),
                        version: row.try_get(0)?,
                        data: data.clone(),
                        created_at: row.try_get(1)?,
                        updated_at: now,
                    }),
                    None => Err(self.missing_or_stale(conn, scope, collection, id).await),
                }
            },
        )
        .await
    }

    pub async fn delete(
        &self,
        conn: &mut AnyConnection,
        scope: Scope<'_>,
        collection: &str,
        id: &str,
        expected_version: Option<i64>,
    ) -> StoreResult<bool> {
        check_collection(collection)?;
        if check_id(id).is_err() {
            return Ok(false);
        }
        let done = sqlx::query(
            "DELETE FROM records WHERE tenant_id = $1 AND module = $2 AND collection = $3 \
             AND id = $4 AND ($5 < 0 OR version = $5)",
        )
        .bind(scope.tenant_id)
        .bind(scope.module)
        .bind(collection)
        .bind(id)
        .bind(expected_version.unwrap_or(-1))
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return match (
                expected_version,
                self.get(conn, scope, collection, id).await?,
            ) {
                (Some(_), Some(_)) => Err(StoreError::Conflict(format!(
                    "{collection}/{id} has changed since version {}",
                    expected_version.unwrap_or_default()
                ))),
                _ => Ok(false),
            };
        }
        delete_keys(conn, scope, collection, id).await?;
        Ok(true)
    }

    async fn missing_or_stale(
        &self,
        conn: &mut AnyConnection,
        scope: Scope<'_>,
        collection: &str,
        id: &str,
    ) -> StoreError {
        match self.get(conn, scope, collection, id).await {
            Ok(Some(doc)) => StoreError::Conflict(format!(
                "{collection}/{id} has changed: it is at version {}",
                doc.version
            )),
            Ok(None) => StoreError::NotFound,
            Err(e) => e,
        }
    }
}

/// Runs `op` inside a savepoint when `needed`, so a failure undoes only its own writes.
pub async fn savepoint<T>(
    conn: &mut AnyConnection,
    needed: bool,
    op: impl AsyncFnOnce(&mut AnyConnection) -> StoreResult<T>,
) -> StoreResult<T> {
    if !needed {
        return op(conn).await;
    }
    conn.execute("SAVEPOINT mosaic_op").await?;
    match op(conn).await {
        Ok(value) => {
            conn.execute("RELEASE SAVEPOINT mosaic_op").await?;
            Ok(value)
        }
        Err(err) => {
            conn.execute("ROLLBACK TO SAVEPOINT mosaic_op").await?;
            conn.execute("RELEASE SAVEPOINT mosaic_op").await?;
            Err(err)
        }
    }
}

fn document(row: &sqlx::any::AnyRow) -> Result<Document, sqlx::Error> {
    Ok(Document {
        id: row.try_get(0)?,
        version: row.try_get(1)?,
        data: row.try_get(2)?,
        created_at: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}

fn parse_object(data: &str) -> StoreResult<Json> {
    if data.len() > MAX_DOCUMENT_BYTES {
        return Err(StoreError::Invalid(format!(
            "document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
            data.len()
        )));
    }
    match serde_json::from_str::<Json>(data) {
        Ok(v @ Json::Object(_)) if has_nul(&v) => Err(StoreError::Invalid(
            "document data must not contain NUL characters".into(),
        )),
        Ok(v @ Json::Object(_)) => Ok(v),
        Ok(_) => Err(StoreError::Invalid(
            "document data must be a JSON object".into(),
        )),
        Err(e) => Err(StoreError::Invalid(format!(
            "document data is not JSON: {e}"
        ))),
    }
}

/// PostgreSQL's jsonb cannot hold `\u0000`; refused on both databases alike.
fn has_nul(value: &Json) -> bool {
    match value {
        Json::String(s) => s.contains('\0'),
        Json::Array(items) => items.iter().any(has_nul),
        Json::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Json::Null | Json::Bool(_) | Json::Number(_) => false,
    }
}

fn check_collection(name: &str) -> StoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    ok.then_some(())
        .ok_or_else(|| StoreError::Invalid(format!("invalid collection name {name:?}")))
}

fn check_id(id: &str) -> StoreResult<()> {
    let ok = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(())
        .ok_or_else(|| StoreError::Invalid(format!("invalid document id {id:?}")))
}
