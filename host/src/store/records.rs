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
        let limit = selection.limit.clamp(1, MAX_PAGE);
        let mut q = self.filtered(
            &format!(
                "SELECT id, version, {}, created_at, updated_at, seq FROM records",
                self.dialect.data_out()
            ),
            scope,
            &selection.collection,
            &selection.filters,
        )?;
        let order = selection
            .order_by
            .as_deref()
            .map(|field| check_field(field).map(|()| self.order_expr(field)))
            .transpose()?;
        if let Some(cursor) = &selection.cursor {
            let cursor = Cursor::decode(cursor)?;
            q.cursor_condition(order.as_deref(), selection.descending, &cursor)?;
        }
        let dir = if selection.descending { "DESC" } else { "ASC" };
        let nulls = if selection.descending {
            "NULLS LAST"
        } else {
            "NULLS FIRST"
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
        let more = rows.len() > limit as usize;
        let mut items = Vec::with_capacity(rows.len().min(limit as usize));
        let mut last_seq = 0;
        for row in rows.iter().take(limit as usize) {
            items.push(document(row)?);
            last_seq = row.try_get::<i64, _>(5)?;
        }
        let next_cursor = match (more, items.last()) {
            (true, Some(last)) => Some(
                Cursor {
                    value: match &selection.order_by {
                        Some(field) => serde_json::from_str::<Json>(&last.data)
                            .ok()
                            .and_then(|d| lookup(&d, field).cloned())
                            .unwrap_or(Json::Null),
                        None => Json::Null,
                    },
                    seq: last_seq,
                }
                .encode(),
            ),
            _ => None,
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

/// SQL text and its arguments, built together so placeholders stay numbered right.
struct SqlBuilder {
    sql: String,
    args: AnyArguments,
    next: usize,
    dialect: Dialect,
}

impl SqlBuilder {
    fn placeholder(&mut self) -> String {
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
        Ok(self.placeholder())
    }

    fn bind_str(&mut self, value: &str) -> StoreResult<String> {
        self.bind(value.to_owned())
    }

    /// Binds a JSON value for comparison with the dialect's field expression.
    fn bind_json(&mut self, value: &Json) -> StoreResult<String> {
        match self.dialect {
            Dialect::Postgres => Ok(format!("{}::jsonb", self.bind(value.to_string())?)),
            // json_extract yields SQL values: text, integer (booleans as 0/1), real.
            Dialect::Sqlite => match value {
                Json::String(s) => self.bind(s.clone()),
                Json::Bool(b) => self.bind(i64::from(*b)),
                Json::Number(n) => match n.as_i64() {
                    Some(i) => self.bind(i),
                    None => self.bind(n.as_f64().unwrap_or(0.0)),
                },
                Json::Null | Json::Array(_) | Json::Object(_) => {
                    Err(StoreError::Invalid("cursor value is not a scalar".into()))
                }
            },
        }
    }

    fn filter(&mut self, filter: &Filter) -> StoreResult<()> {
        let field = &filter.field;
        let cond = match self.dialect {
            Dialect::Sqlite => self.sqlite_filter(field, filter.op, &filter.value)?,
            Dialect::Postgres => self.pg_filter(field, filter.op, &filter.value)?,
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
            (op, v @ FilterValue::Text(_)) => {
                format!(
                    "{ty} = 'text' AND {expr} {} {}",
                    sql_op(op),
                    self.bind_scalar(v)?
                )
            }
            (op, v @ (FilterValue::Integer(_) | FilterValue::Float(_))) => format!(
                "{ty} IN ('integer', 'real') AND {expr} {} {}",
                sql_op(op),
                self.bind_scalar(v)?
            ),
            (op, _) => return Err(unsupported_filter(op, value)),
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
            (FilterOp::Eq, v) => format!("{expr} = {}", self.bind_json(&scalar_json(v))?),
            (FilterOp::Ne, v) => format!(
                "{expr} IS DISTINCT FROM {}",
                self.bind_json(&scalar_json(v))?
            ),
            (FilterOp::Prefix, FilterValue::Text(t)) => {
                let p = self.bind(t.clone())?;
                format!(
                    "jsonb_typeof({expr}) = 'string' AND starts_with(data #>> '{}', {p})",
                    pg_path(field)
                )
            }
            (op, v @ FilterValue::Text(_)) => format!(
                "jsonb_typeof({expr}) = 'string' AND {expr} {} {}",
                sql_op(op),
                self.bind_json(&scalar_json(v))?
            ),
            (op, v @ (FilterValue::Integer(_) | FilterValue::Float(_))) => format!(
                "jsonb_typeof({expr}) = 'number' AND {expr} {} {}",
                sql_op(op),
                self.bind_json(&scalar_json(v))?
            ),
            (op, _) => return Err(unsupported_filter(op, value)),
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
        let (after, after_seq) = if descending { ("<", "<") } else { (">", ">") };
        let cond = match (order, &cursor.value) {
            (None, _) => format!("seq {after_seq} {seq}"),
            (Some(expr), Json::Null) if descending => format!("{expr} IS NULL AND seq < {seq}"),
            (Some(expr), Json::Null) => {
                format!("({expr} IS NULL AND seq > {seq}) OR {expr} IS NOT NULL")
            }
            (Some(expr), value) => {
                let v = self.bind_json(value)?;
                let nulls_after = if descending {
                    format!(" OR {expr} IS NULL")
                } else {
                    String::new()
                };
                format!(
                    "{expr} {after} {v} OR ({expr} = {v} AND seq {after_seq} {seq}){nulls_after}"
                )
            }
        };
        write!(self.sql, " AND ({cond})").ok();
        Ok(())
    }
}

fn sql_op(op: FilterOp) -> &'static str {
    match op {
        FilterOp::Eq => "=",
        FilterOp::Ne => "<>",
        FilterOp::Lt => "<",
        FilterOp::Le => "<=",
        FilterOp::Gt => ">",
        FilterOp::Ge => ">=",
        FilterOp::Prefix => "LIKE",
    }
}

fn unsupported_filter(op: FilterOp, value: &FilterValue) -> StoreError {
    StoreError::Invalid(format!("filter {op:?} cannot compare with {value:?}"))
}

fn scalar_json(value: &FilterValue) -> Json {
    match value {
        FilterValue::Text(t) => Json::from(t.as_str()),
        FilterValue::Integer(i) => Json::from(*i),
        FilterValue::Float(f) => Json::from(*f),
        FilterValue::Boolean(b) => Json::from(*b),
        FilterValue::Null => Json::Null,
    }
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

/// A position in a result: the last row's order value and its insertion sequence.
struct Cursor {
    value: Json,
    seq: i64,
}

impl Cursor {
    fn encode(&self) -> String {
        hex::encode(serde_json::json!([self.value, self.seq]).to_string())
    }

    fn decode(text: &str) -> StoreResult<Self> {
        let bad = || StoreError::Invalid("cursor is not one this host issued".into());
        let bytes = hex::decode(text).map_err(|_| bad())?;
        let (value, seq): (Json, i64) = serde_json::from_slice(&bytes).map_err(|_| bad())?;
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
        Ok(v @ Json::Object(_)) => Ok(v),
        Ok(_) => Err(StoreError::Invalid(
            "document data must be a JSON object".into(),
        )),
        Err(e) => Err(StoreError::Invalid(format!(
            "document data is not JSON: {e}"
        ))),
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
            value: Json::from("x"),
            seq: 42,
        }
        .encode();
        let back = Cursor::decode(&c).expect("decodes");
        assert_eq!((back.value, back.seq), (Json::from("x"), 42));
        assert!(Cursor::decode("zz").is_err());
        assert!(Cursor::decode(&hex::encode("[1]")).is_err());
    }
}
