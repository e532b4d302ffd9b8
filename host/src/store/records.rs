//! Module documents: JSON objects in named collections, scoped by (tenant, module).
//!
//! Every function takes the scope first; there is no way to name a document of
//! another tenant or module. Writes that maintain unique-index keys run inside a
//! savepoint so a conflict leaves the surrounding unit of work untouched.

use std::fmt::Write as _;

use serde_json::Value as Json;
use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, Arguments, AssertSqlSafe, Executor, Row};

use super::{Db, Dialect, now_ms};

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

impl UniqueIndex {
    fn name(&self) -> String {
        self.fields.join(",")
    }

    /// The index key of `data`, or none when a field is missing or null (such
    /// documents are not constrained).
    fn key(&self, data: &Json) -> Option<String> {
        let values: Option<Vec<&Json>> = self
            .fields
            .iter()
            .map(|f| lookup(data, f).filter(|v| !v.is_null()))
            .collect();
        values.map(|v| Json::from(v.into_iter().cloned().collect::<Vec<_>>()).to_string())
    }
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
        check_collection(collection)?;
        if check_id(id).is_err() {
            // No document was ever stored under such an id.
            return Ok(None);
        }
        let sql = format!(
            "SELECT id, version, {}, created_at, updated_at FROM records \
             WHERE tenant_id = $1 AND module = $2 AND collection = $3 AND id = $4",
            self.dialect.data_out()
        );
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(scope.tenant_id)
            .bind(scope.module)
            .bind(collection)
            .bind(id)
            .fetch_optional(conn)
            .await?;
        row.map(|r| document(&r)).transpose().map_err(Into::into)
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

    pub async fn query(
        &self,
        conn: &mut AnyConnection,
        scope: Scope<'_>,
        selection: &Selection,
    ) -> StoreResult<Page> {
        check_collection(&selection.collection)?;
        let limit = selection.limit.clamp(1, MAX_PAGE) as usize;
        let order = selection
            .order_by
            .as_deref()
            .map(|field| check_field(field).map(|()| self.order_expr(field)))
            .transpose()?;
        // The last row's order value, as JSON text computed by the database itself,
        // is what the next page's cursor compares with.
        let order_value = match (&order, self.dialect) {
            (Some(expr), Dialect::Sqlite) => format!("json_quote({expr})"),
            (Some(expr), Dialect::Postgres) => format!("({expr})::text"),
            (None, _) => "NULL".to_owned(),
        };
        let mut q = self.filtered(
            &format!(
                "SELECT id, version, {}, created_at, updated_at, seq, {order_value} FROM records",
                self.dialect.data_out()
            ),
            scope,
            &selection.collection,
            &selection.filters,
        )?;
        if let Some(cursor) = &selection.cursor {
            let cursor = Cursor::decode(cursor)?;
            q.cursor_condition(order.as_deref(), selection.descending, &cursor)?;
        }
        let (dir, nulls) = if selection.descending {
            ("DESC", "NULLS LAST")
        } else {
            ("ASC", "NULLS FIRST")
        };
        match &order {
            Some(expr) => write!(q.sql, " ORDER BY {expr} {dir} {nulls}, seq {dir}"),
            None => write!(q.sql, " ORDER BY seq {dir}"),
        }
        .ok();
        write!(q.sql, " LIMIT {}", limit + 1).ok();

        let rows = sqlx::query_with(AssertSqlSafe(q.sql), q.args)
            .fetch_all(conn)
            .await?;
        let items = rows
            .iter()
            .take(limit)
            .map(document)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if rows.len() > limit {
            let last = &rows[limit - 1];
            let value: Option<String> = last.try_get(6)?;
            Some(
                Cursor {
                    // SQLite's json_quote renders SQL NULL as `null`.
                    value: value.filter(|v| v != "null"),
                    seq: last.try_get(5)?,
                }
                .encode(),
            )
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn count(
        &self,
        conn: &mut AnyConnection,
        scope: Scope<'_>,
        collection: &str,
        filters: &[Filter],
    ) -> StoreResult<u64> {
        check_collection(collection)?;
        let q = self.filtered("SELECT COUNT(*) FROM records", scope, collection, filters)?;
        let row = sqlx::query_with(AssertSqlSafe(q.sql), q.args)
            .fetch_one(conn)
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
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

    /// `base` filtered to the scope, the collection and `filters`.
    fn filtered(
        &self,
        base: &str,
        scope: Scope<'_>,
        collection: &str,
        filters: &[Filter],
    ) -> StoreResult<SqlBuilder> {
        let mut q = SqlBuilder {
            sql: format!("{base} WHERE tenant_id = $1 AND module = $2 AND collection = $3"),
            args: AnyArguments::default(),
            next: 1,
            dialect: self.dialect,
        };
        q.bind_str(scope.tenant_id)?;
        q.bind_str(scope.module)?;
        q.bind_str(collection)?;
        for filter in filters {
            check_field(&filter.field)?;
            q.filter(filter)?;
        }
        Ok(q)
    }

    fn order_expr(&self, field: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => sqlite_extract(field),
            // JSON null sorts as SQL NULL, as in SQLite.
            Dialect::Postgres => format!("NULLIF({}, 'null'::jsonb)", pg_extract(field)),
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

fn indexes_of(indexes: &[UniqueIndex], collection: &str) -> Vec<UniqueIndex> {
    indexes
        .iter()
        .filter(|i| i.collection == collection)
        .cloned()
        .collect()
}

async fn insert_keys(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    indexes: &[UniqueIndex],
    collection: &str,
    id: &str,
    data: &Json,
) -> StoreResult<()> {
    for index in indexes {
        let Some(key) = index.key(data) else { continue };
        let done = sqlx::query(
            "INSERT INTO record_keys (tenant_id, module, collection, index_name, key, record_id) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(scope.tenant_id)
        .bind(scope.module)
        .bind(collection)
        .bind(index.name())
        .bind(&key)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "unique index {collection}({}) already holds {key}",
                index.name()
            )));
        }
    }
    Ok(())
}

async fn delete_keys(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    collection: &str,
    id: &str,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM record_keys WHERE tenant_id = $1 AND module = $2 AND collection = $3 AND record_id = $4",
    )
    .bind(scope.tenant_id)
    .bind(scope.module)
    .bind(collection)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
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

/// SQL text and its arguments, built together so the `$N` parameters stay numbered right.
struct SqlBuilder {
    sql: String,
    args: AnyArguments,
    next: usize,
    dialect: Dialect,
}

impl SqlBuilder {
    fn next_param(&mut self) -> String {
        let p = format!("${}", self.next);
        self.next += 1;
        p
    }

    fn bind<T>(&mut self, value: T) -> StoreResult<String>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + 'static,
    {
        self.args
            .add(value)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(self.next_param())
    }

    fn bind_str(&mut self, value: &str) -> StoreResult<String> {
        self.bind(value.to_owned())
    }

    /// A JSON value, bound as text and read back by the database as JSON, so it
    /// compares like the field expressions do.
    fn bind_json_text(&mut self, json_text: String) -> StoreResult<String> {
        let p = self.bind(json_text)?;
        Ok(match self.dialect {
            Dialect::Sqlite => format!("json_extract({p}, '$')"),
            Dialect::Postgres => format!("{p}::jsonb"),
        })
    }

    fn filter(&mut self, filter: &Filter) -> StoreResult<()> {
        let field = &filter.field;
        let cond = match (&filter.value, filter.op) {
            // No stored document holds NUL (PostgreSQL could not store it), and
            // PostgreSQL refuses it as a parameter: decide here.
            (FilterValue::Text(t), op) if t.contains('\0') => {
                if op == FilterOp::Ne { "TRUE" } else { "FALSE" }.to_owned()
            }
            _ => match self.dialect {
                Dialect::Sqlite => self.sqlite_filter(field, filter.op, &filter.value)?,
                Dialect::Postgres => self.pg_filter(field, filter.op, &filter.value)?,
            },
        };
        write!(self.sql, " AND ({cond})").ok();
        Ok(())
    }

    fn sqlite_filter(
        &mut self,
        field: &str,
        op: FilterOp,
        value: &FilterValue,
    ) -> StoreResult<String> {
        let expr = sqlite_extract(field);
        let ty = format!("json_type(data, '$.{field}')");
        Ok(match (op, value) {
            (FilterOp::Eq, FilterValue::Null) => format!("{expr} IS NULL"),
            (FilterOp::Ne, FilterValue::Null) => format!("{expr} IS NOT NULL"),
            (FilterOp::Eq, FilterValue::Boolean(b)) => format!("{ty} = '{b}'"),
            (FilterOp::Ne, FilterValue::Boolean(b)) => format!("{ty} IS NOT '{b}'"),
            (FilterOp::Eq, v) => format!("{expr} = {}", self.bind_scalar(v)?),
            (FilterOp::Ne, v) => format!("{expr} IS NOT {}", self.bind_scalar(v)?),
            (FilterOp::Prefix, FilterValue::Text(t)) => {
                let p = self.bind(t.clone())?;
                format!("{ty} = 'text' AND substr({expr}, 1, length({p})) = {p}")
            }
            (op, v) => {
                let (sql_op, kind) = range(op, v)?;
                let types = match kind {
                    RangeKind::Text => "('text')",
                    RangeKind::Number => "('integer', 'real')",
                };
                format!(
                    "{ty} IN {types} AND {expr} {sql_op} {}",
                    self.bind_scalar(v)?
                )
            }
        })
    }

    fn pg_filter(&mut self, field: &str, op: FilterOp, value: &FilterValue) -> StoreResult<String> {
        let expr = pg_extract(field);
        Ok(match (op, value) {
            (FilterOp::Eq, FilterValue::Null) => {
                format!("COALESCE({expr}, 'null'::jsonb) = 'null'::jsonb")
            }
            (FilterOp::Ne, FilterValue::Null) => {
                format!("COALESCE({expr}, 'null'::jsonb) <> 'null'::jsonb")
            }
            (FilterOp::Eq, v) => format!("{expr} = {}", self.bind_json_text(scalar_json(v))?),
            (FilterOp::Ne, v) => format!(
                "{expr} IS DISTINCT FROM {}",
                self.bind_json_text(scalar_json(v))?
            ),
            (FilterOp::Prefix, FilterValue::Text(t)) => {
                let p = self.bind(t.clone())?;
                format!(
                    "jsonb_typeof({expr}) = 'string' AND starts_with(data #>> '{}', {p})",
                    pg_path(field)
                )
            }
            (op, v) => {
                let (sql_op, kind) = range(op, v)?;
                let json_type = match kind {
                    RangeKind::Text => "string",
                    RangeKind::Number => "number",
                };
                format!(
                    "jsonb_typeof({expr}) = '{json_type}' AND {expr} {sql_op} {}",
                    self.bind_json_text(scalar_json(v))?
                )
            }
        })
    }

    fn bind_scalar(&mut self, value: &FilterValue) -> StoreResult<String> {
        match value {
            FilterValue::Text(t) => self.bind(t.clone()),
            FilterValue::Integer(i) => self.bind(*i),
            FilterValue::Float(f) => self.bind(*f),
            FilterValue::Boolean(b) => self.bind(i64::from(*b)),
            FilterValue::Null => Err(StoreError::Invalid("null needs eq or ne".into())),
        }
    }

    /// Keyset pagination after `cursor`, for `ORDER BY expr NULLS FIRST, seq` (or the
    /// reverse when descending).
    fn cursor_condition(
        &mut self,
        order: Option<&str>,
        descending: bool,
        cursor: &Cursor,
    ) -> StoreResult<()> {
        let seq = self.bind(cursor.seq)?;
        let after = if descending { "<" } else { ">" };
        let cond = match (order, &cursor.value) {
            (None, _) => format!("seq {after} {seq}"),
            (Some(expr), None) if descending => format!("{expr} IS NULL AND seq < {seq}"),
            (Some(expr), None) => {
                format!("({expr} IS NULL AND seq > {seq}) OR {expr} IS NOT NULL")
            }
            (Some(expr), Some(value)) => {
                let v = self.bind_json_text(value.clone())?;
                let nulls_after = if descending {
                    format!(" OR {expr} IS NULL")
                } else {
                    String::new()
                };
                format!("{expr} {after} {v} OR ({expr} = {v} AND seq {after} {seq}){nulls_after}")
            }
        };
        write!(self.sql, " AND ({cond})").ok();
        Ok(())
    }
}

enum RangeKind {
    Text,
    Number,
}

/// The operator and value kind of a range filter (`lt`, `le`, `gt`, `ge` on text or
/// numbers); anything else is refused.
fn range(op: FilterOp, value: &FilterValue) -> StoreResult<(&'static str, RangeKind)> {
    let kind = match value {
        FilterValue::Text(_) => Some(RangeKind::Text),
        FilterValue::Integer(_) | FilterValue::Float(_) => Some(RangeKind::Number),
        FilterValue::Boolean(_) | FilterValue::Null => None,
    };
    match (range_op(op), kind) {
        (Some(sql_op), Some(kind)) => Ok((sql_op, kind)),
        _ => Err(StoreError::Invalid(format!(
            "filter {op:?} cannot compare with {value:?}"
        ))),
    }
}

/// The SQL operator of a range comparison; none for the other operators.
fn range_op(op: FilterOp) -> Option<&'static str> {
    match op {
        FilterOp::Lt => Some("<"),
        FilterOp::Le => Some("<="),
        FilterOp::Gt => Some(">"),
        FilterOp::Ge => Some(">="),
        FilterOp::Eq | FilterOp::Ne | FilterOp::Prefix => None,
    }
}

/// A scalar filter value as JSON text.
fn scalar_json(value: &FilterValue) -> String {
    match value {
        FilterValue::Text(t) => Json::from(t.as_str()),
        FilterValue::Integer(i) => Json::from(*i),
        FilterValue::Float(f) => Json::from(*f),
        FilterValue::Boolean(b) => Json::from(*b),
        FilterValue::Null => Json::Null,
    }
    .to_string()
}

fn sqlite_extract(field: &str) -> String {
    format!("json_extract(data, '$.{field}')")
}

fn pg_path(field: &str) -> String {
    format!("{{{}}}", field.replace('.', ","))
}

fn pg_extract(field: &str) -> String {
    format!("(data #> '{}')", pg_path(field))
}

/// A position in a result: the last row's order value (JSON text, as the database
/// rendered it; none for null or missing) and its insertion sequence.
struct Cursor {
    value: Option<String>,
    seq: i64,
}

impl Cursor {
    fn encode(&self) -> String {
        hex::encode(serde_json::json!([self.value, self.seq]).to_string())
    }

    fn decode(text: &str) -> StoreResult<Self> {
        let bad = || StoreError::Invalid("cursor is not one this host issued".into());
        let bytes = hex::decode(text).map_err(|_| bad())?;
        let (value, seq): (Option<String>, i64) =
            serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if value
            .as_deref()
            .is_some_and(|v| v.contains('\0') || serde_json::from_str::<Json>(v).is_err())
        {
            return Err(bad());
        }
        Ok(Self { value, seq })
    }
}

fn lookup<'a>(data: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(data, |v, key| v.get(key))
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

/// Field paths are spliced into SQL, so only `ident(.ident)*` is allowed.
fn check_field(field: &str) -> StoreResult<()> {
    let ok = field.len() <= 128
        && field.split('.').count() <= 4
        && field.split('.').all(|seg| {
            let mut bytes = seg.bytes();
            bytes
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    ok.then_some(())
        .ok_or_else(|| StoreError::Invalid(format!("invalid field path {field:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_cannot_inject_sql() {
        assert!(check_field("department").is_ok());
        assert!(check_field("address.city").is_ok());
        assert!(check_field("a') OR 1=1 --").is_err());
        assert!(check_field("").is_err());
        assert!(check_field("a..b").is_err());
        assert!(check_field("1abc").is_err());
    }

    #[test]
    fn unique_keys_skip_missing_and_null_fields() {
        let index = UniqueIndex {
            collection: "c".into(),
            fields: vec!["email".into()],
        };
        assert_eq!(
            index.key(&serde_json::json!({"email": "a@b.c"})).as_deref(),
            Some(r#"["a@b.c"]"#)
        );
        assert_eq!(index.key(&serde_json::json!({"email": null})), None);
        assert_eq!(index.key(&serde_json::json!({})), None);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            value: Some("\"x\"".into()),
            seq: 42,
        }
        .encode();
        let back = Cursor::decode(&c).expect("decodes");
        assert_eq!((back.value.as_deref(), back.seq), (Some("\"x\""), 42));
        let forged = hex::encode(r#"["not json", 1]"#);
        assert!(Cursor::decode(&forged).is_err());
        assert!(Cursor::decode("zz").is_err());
        assert!(Cursor::decode(&hex::encode("[1]")).is_err());
    }
}
