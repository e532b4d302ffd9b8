//! Queries over documents: filters, ordering and counting, built as SQL text and
//! its arguments together.

use std::fmt::Write as _;

use futures::TryStreamExt;
use serde_json::Value as Json;
use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, Arguments, AssertSqlSafe, Row};

use super::cursor::Cursor;
use super::indexes::scope_condition;
use super::{
    Filter, FilterOp, FilterValue, MAX_PAGE, MAX_PAGE_BYTES, Page, Records, Scope, Selection,
    StoreError, StoreResult, check_collection, document,
};
use crate::store::Dialect;

impl Records {
    pub async fn query(
        &self,
        conn: &mut AnyConnection,
        scope: Scope<'_>,
        selection: &Selection,
    ) -> StoreResult<Page> {
        let (q, mut page) = self.page_query(scope, selection)?;
        let args = q.any_arguments()?;
        // Rows are read one at a time, so a page stops at its byte budget before the
        // rest are ever materialised; the cursor continues after the last one kept.
        let mut rows = sqlx::query_with(AssertSqlSafe(q.sql), args).fetch(conn);
        while let Some(row) = rows.try_next().await? {
            let row = PageRow {
                doc: document(&row)?,
                seq: row.try_get(5)?,
                order_value: row.try_get(6)?,
            };
            if !page.take(row) {
                break;
            }
        }
        Ok(page.finish())
    }

    /// A page's SQL, and what collects its rows.
    pub(super) fn page_query(
        &self,
        scope: Scope<'_>,
        selection: &Selection,
    ) -> StoreResult<(SqlBuilder, PageBuilder)> {
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
        Ok((q, PageBuilder::new(limit)))
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
        let args = q.any_arguments()?;
        let row = sqlx::query_with(AssertSqlSafe(q.sql), args)
            .fetch_one(conn)
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
    }

    /// `base` filtered to the scope, the collection and `filters`.
    fn filtered(
        &self,
        base: &str,
        scope: Scope<'_>,
        collection: &str,
        filters: &[Filter],
    ) -> StoreResult<SqlBuilder> {
        // The module and collection are literals so that the partial indexes
        // serving declared indexes (`indexes.rs`) apply.
        let mut q = SqlBuilder {
            sql: format!(
                "{base} WHERE tenant_id = $1 AND {}",
                scope_condition(scope.module, collection)
            ),
            args: Vec::new(),
            dialect: self.dialect,
        };
        q.bind_str(scope.tenant_id);
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

/// A row of a page query: the document, its insertion sequence, and its order
/// value as JSON text (none without an order, or for SQL NULL).
pub(super) struct PageRow {
    pub(super) doc: super::Document,
    pub(super) seq: i64,
    pub(super) order_value: Option<String>,
}

/// Collects a page from rows read one at a time: at most `limit` documents and
/// about [`MAX_PAGE_BYTES`] of them, with the cursor after the last one kept.
pub(super) struct PageBuilder {
    limit: usize,
    items: Vec<super::Document>,
    bytes: usize,
    last: Option<(Option<String>, i64)>,
    more: bool,
}

impl PageBuilder {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            items: Vec::new(),
            bytes: 0,
            last: None,
            more: false,
        }
    }

    /// Takes the next row; false once the page is full (the row is not kept).
    pub(super) fn take(&mut self, row: PageRow) -> bool {
        // A page holds at least one document, so paging always progresses.
        let full = self.items.len() == self.limit
            || (!self.items.is_empty() && self.bytes + row.doc.data.len() > MAX_PAGE_BYTES);
        if full {
            self.more = true;
            return false;
        }
        self.bytes += row.doc.data.len();
        self.last = Some((row.order_value, row.seq));
        self.items.push(row.doc);
        true
    }

    pub(super) fn finish(self) -> Page {
        let next_cursor = match self.last {
            Some((value, seq)) if self.more => Some(
                Cursor {
                    // SQLite's json_quote renders SQL NULL as `null`.
                    value: value.filter(|v| v != "null"),
                    seq,
                }
                .encode(),
            ),
            _ => None,
        };
        Page {
            items: self.items,
            next_cursor,
        }
    }
}

/// A parameter of a query, kept as a plain value until it runs: through sqlx, or
/// in place with the SQLite library ([`super::direct`]).
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Text(String),
    Integer(i64),
    Float(f64),
}

/// SQL text and its arguments, built together so the `$N` parameters stay numbered right.
pub(super) struct SqlBuilder {
    pub(super) sql: String,
    pub(super) args: Vec<Arg>,
    dialect: Dialect,
}

impl SqlBuilder {
    /// Binds `arg` as the next parameter; returns its `$N`.
    pub(super) fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    fn bind_str(&mut self, value: &str) -> String {
        self.bind(Arg::Text(value.to_owned()))
    }

    /// A JSON value, bound as text and read back by the database as JSON, so it
    /// compares like the field expressions do.
    pub(super) fn bind_json_text(&mut self, json_text: String) -> String {
        let p = self.bind(Arg::Text(json_text));
        match self.dialect {
            Dialect::Sqlite => format!("json_extract({p}, '$')"),
            Dialect::Postgres => format!("{p}::jsonb"),
        }
    }

    /// The arguments for sqlx.
    pub(super) fn any_arguments(&self) -> StoreResult<AnyArguments> {
        let mut args = AnyArguments::default();
        for arg in &self.args {
            match arg {
                Arg::Text(text) => args.add(text.clone()),
                Arg::Integer(i) => args.add(*i),
                Arg::Float(f) => args.add(*f),
            }
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        }
        Ok(args)
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
            // json_extract gives a boolean as 0 or 1: compared as such too, the
            // filter can use an index on the field.
            (FilterOp::Eq, FilterValue::Boolean(b)) => {
                format!("{expr} = {} AND {ty} = '{b}'", i64::from(*b))
            }
            (FilterOp::Ne, FilterValue::Boolean(b)) => format!("{ty} IS NOT '{b}'"),
            (FilterOp::Eq, v) => format!("{expr} = {}", self.bind_scalar(v)?),
            (FilterOp::Ne, v) => format!("{expr} IS NOT {}", self.bind_scalar(v)?),
            (FilterOp::Prefix, FilterValue::Text(t)) => {
                let p = self.bind(Arg::Text(t.clone()));
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
            (FilterOp::Eq, v) => format!("{expr} = {}", self.bind_json_text(scalar_json(v))),
            (FilterOp::Ne, v) => format!(
                "{expr} IS DISTINCT FROM {}",
                self.bind_json_text(scalar_json(v))
            ),
            (FilterOp::Prefix, FilterValue::Text(t)) => {
                let p = self.bind(Arg::Text(t.clone()));
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
                    self.bind_json_text(scalar_json(v))
                )
            }
        })
    }

    fn bind_scalar(&mut self, value: &FilterValue) -> StoreResult<String> {
        Ok(match value {
            FilterValue::Text(t) => self.bind(Arg::Text(t.clone())),
            FilterValue::Integer(i) => self.bind(Arg::Integer(*i)),
            FilterValue::Float(f) => self.bind(Arg::Float(*f)),
            FilterValue::Boolean(b) => self.bind(Arg::Integer(i64::from(*b))),
            FilterValue::Null => return Err(StoreError::Invalid("null needs eq or ne".into())),
        })
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

/// A document field as the expression queries filter and declared indexes are
/// built on; `field` must have passed [`check_field`].
pub(super) fn field_expr(dialect: Dialect, field: &str) -> String {
    match dialect {
        Dialect::Sqlite => sqlite_extract(field),
        Dialect::Postgres => pg_extract(field),
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

/// Field paths are spliced into SQL, so only `ident(.ident)*` is allowed.
pub(super) fn check_field(field: &str) -> StoreResult<()> {
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
}
