//! The indexes a manifest declares, served by expression indexes over `records`.
//!
//! Each declared index becomes a partial index on one (module, collection): its
//! rows are that collection's documents only, so a module's indexes cost nothing
//! on other modules' writes. Its key starts with the tenant and then each field as
//! the very expression a query filters on, so it serves an equality on the fields
//! (or a range on the first). On SQLite the key also holds module and collection,
//! so that, without statistics, it matches more equalities than `records_scan`;
//! on PostgreSQL it ends with `seq`, and the build is followed by `ANALYZE`.
//!
//! A database builds an index the first time its collection is queried there (a
//! tenant's file on SQLite, the shared database on PostgreSQL), in the background:
//! a query never waits for a build, and answers the same with or without it.

use dashmap::DashSet;
use sqlx::{AssertSqlSafe, Executor};
use tracing::Instrument;

use super::query::{check_field, field_expr};
use super::{StoreError, StoreResult, check_collection};
use crate::store::{Db, DbResult, Dialect, advisory_key};

/// The most indexes one module may declare: each is updated on every write to
/// its collection, under its tenant's single writer on SQLite.
pub const MAX_INDEXES: usize = 16;
/// The most fields one index may cover.
pub const MAX_INDEX_FIELDS: usize = 4;
/// How long a PostgreSQL build waits before trying the build lock again.
const BUILD_LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// An index a module's manifest declares on one of its collections.
#[derive(Debug, Clone)]
pub struct DeclaredIndex {
    module: String,
    pub collection: String,
    fields: Vec<String>,
    /// `records_ix_` and a hash of the above: the same index in every database.
    name: String,
}

impl DeclaredIndex {
    /// Checks that the collection and each field can be spliced into SQL.
    pub fn new(module: &str, collection: &str, fields: &[String]) -> StoreResult<Self> {
        check_collection(collection)?;
        if fields.is_empty() || fields.len() > MAX_INDEX_FIELDS {
            return Err(StoreError::Invalid(format!(
                "an index on {collection} covers 1 to {MAX_INDEX_FIELDS} fields, not {}",
                fields.len()
            )));
        }
        for field in fields {
            check_field(field)?;
        }
        let name = {
            use sha2::{Digest, Sha256};
            let mut hash = Sha256::new();
            for part in std::iter::once(module)
                .chain([collection])
                .chain(fields.iter().map(String::as_str))
            {
                hash.update(part);
                hash.update([0]);
            }
            format!("records_ix_{}", &hex::encode(hash.finalize())[..16])
        };
        Ok(Self {
            module: module.to_owned(),
            collection: collection.to_owned(),
            fields: fields.to_vec(),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn create_sql(&self, dialect: Dialect) -> String {
        let fields = self.fields.iter().map(|field| field_expr(dialect, field));
        let (concurrently, columns) = match dialect {
            // Module and collection are keyed too, constant as they are: SQLite's
            // planner, without statistics, prefers the index that matches the most
            // equalities. The rowid (`seq`) ends every SQLite index already.
            Dialect::Sqlite => (
                "",
                ["module".to_owned(), "collection".to_owned()]
                    .into_iter()
                    .chain(fields)
                    .collect::<Vec<_>>(),
            ),
            // PostgreSQL drops the equalities the partial index's condition implies
            // from its search, so keyed columns for them would stand between the
            // tenant and the fields. CONCURRENTLY: a build must not stop other
            // tenants' writes. `seq` last, so an equality on the fields reads its
            // rows in the order a page wants them.
            Dialect::Postgres => (
                "CONCURRENTLY ",
                fields
                    .map(|expr| format!("({expr})"))
                    .chain(["seq".to_owned()])
                    .collect(),
            ),
        };
        format!(
            "CREATE INDEX {concurrently}IF NOT EXISTS {} ON records (tenant_id, {}) WHERE {}",
            self.name,
            columns.join(", "),
            scope_condition(&self.module, &self.collection),
        )
    }
}

/// `module = '…' AND collection = '…'` with both as literals: a partial index is
/// used only by a query whose condition names the same literals.
pub(super) fn scope_condition(module: &str, collection: &str) -> String {
    format!(
        "module = {} AND collection = {}",
        text_literal(module),
        text_literal(collection)
    )
}

fn text_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The declared indexes a database has, or is building.
#[derive(Debug, Default)]
pub(crate) struct BuiltIndexes(DashSet<String>);

impl BuiltIndexes {
    /// Notes the declared indexes `conn`'s SQLite file already has.
    pub(crate) fn of_sqlite_file(conn: &rusqlite::Connection) -> rusqlite::Result<Self> {
        let mut names = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'records_ix_%'",
        )?;
        let names = names.query_map([], |row| row.get::<_, String>(0))?;
        Ok(Self(names.collect::<rusqlite::Result<_>>()?))
    }
}

impl Db {
    /// Starts building those of `indexes` on `collection` this database has not
    /// built yet, one after another (on PostgreSQL, one at a time over every
    /// replica: see `create_index`). The build's span is a child of the
    /// caller's, so its log names the request that started it. A build that fails
    /// is logged and not retried until the database is opened again: queries
    /// answer the same without it.
    pub fn build_declared_indexes(&self, indexes: &[DeclaredIndex], collection: &str) {
        let built = &self.built_indexes.0;
        let missing: Vec<DeclaredIndex> = indexes
            .iter()
            .filter(|i| i.collection == collection)
            // Looked up before inserting: a query should not allocate for this.
            .filter(|i| !built.contains(i.name()) && built.insert(i.name.clone()))
            .cloned()
            .collect();
        let Some(first) = missing.first() else {
            return;
        };
        let span = tracing::info_span!(
            "declared_indexes",
            module = %first.module,
            collection = %first.collection,
        );
        let db = self.clone();
        tokio::spawn(
            async move {
                for index in missing {
                    let started = std::time::Instant::now();
                    match db.create_index(&index).await {
                        Ok(()) => tracing::info!(
                            index = %index.name,
                            fields = ?index.fields,
                            took_ms = started.elapsed().as_millis(),
                            "declared index built"
                        ),
                        Err(err) => tracing::warn!(
                            index = %index.name,
                            %err,
                            "building a declared index failed"
                        ),
                    }
                }
            }
            .instrument(span),
        );
    }

    async fn create_index(&self, index: &DeclaredIndex) -> DbResult<()> {
        let sql = index.create_sql(self.dialect);
        match self.dialect {
            Dialect::Sqlite => {
                let ddl = sql.clone();
                if let Some(built) = self
                    .in_place(true, move |conn| conn.execute_batch(&ddl))
                    .await
                {
                    return built;
                }
                // Behind the writer gate, as every write to the file.
                let mut write = self.begin_write().await?;
                (&mut *write.tx).execute(AssertSqlSafe(sql)).await?;
                write.commit().await
            }
            Dialect::Postgres => {
                let mut conn = self.pool.acquire().await?;
                // One build at a time over every replica and collection: two
                // concurrent builds on one table deadlock. The lock is tried, not
                // waited for: a session waiting for it would hold a snapshot that
                // the running build must wait out, a deadlock again.
                let lock = advisory_key(&["declared-indexes"]);
                while !sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                    .bind(lock)
                    .fetch_one(&mut *conn)
                    .await?
                {
                    tokio::time::sleep(BUILD_LOCK_RETRY).await;
                }
                let built = async {
                    conn.execute(AssertSqlSafe(sql.clone())).await?;
                    // Under the lock no build is under way, so an invalid index is
                    // what a failed one left (here or on another replica), which
                    // `IF NOT EXISTS` keeps: it is dropped and built again, once.
                    if !is_valid(&mut conn, index.name()).await? {
                        tracing::warn!(
                            index = %index.name,
                            "a failed build left the declared index invalid: building it again"
                        );
                        let drop_sql = format!("DROP INDEX CONCURRENTLY IF EXISTS {}", index.name);
                        conn.execute(AssertSqlSafe(drop_sql)).await?;
                        conn.execute(AssertSqlSafe(sql)).await?;
                        if !is_valid(&mut conn, index.name()).await? {
                            return Err(sqlx::Error::Protocol(format!(
                                "index {} is invalid after building it again",
                                index.name()
                            )));
                        }
                    }
                    // The planner knows an expression's values only once it has
                    // sampled them for its index; until then it guesses, and may
                    // read a collection in `seq` order for a value none has.
                    conn.execute("ANALYZE records").await.map(drop)
                }
                .await;
                let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(lock)
                    .execute(&mut *conn)
                    .await;
                if unlocked.is_err() {
                    // A session lock lives as long as its session.
                    conn.close_on_drop();
                }
                built
            }
        }
    }
}

/// Whether the PostgreSQL index `name` can serve queries: a `CONCURRENTLY` build
/// that failed leaves it in the catalog, invalid.
async fn is_valid(conn: &mut sqlx::AnyConnection, name: &str) -> DbResult<bool> {
    sqlx::query_scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)")
        .bind(name)
        .fetch_one(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::super::{Filter, FilterOp, FilterValue, Scope, Selection};
    use super::*;

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    /// SQLite's plan for the page query of `filters` on `employees`, after
    /// `indexes` were built.
    async fn plan(name: &str, indexes: &[DeclaredIndex], filters: Vec<Filter>) -> String {
        let (db, dir) = crate::store::scratch_database(&format!("ix-{name}")).await;
        db.build_declared_indexes(indexes, "employees");
        // One connection: looking at the catalog reloads its schema, which
        // EXPLAIN alone would not.
        let mut conn = db.pool.acquire().await.expect("a connection");
        for index in indexes {
            // Built in the background; the catalog shows when.
            let sql = "SELECT count(*) FROM sqlite_master WHERE name = $1";
            while sqlx::query_scalar::<_, i64>(sql)
                .bind(index.name())
                .fetch_one(&mut *conn)
                .await
                .expect("the catalog")
                == 0
            {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        let scope = Scope {
            tenant_id: "t1",
            module: "employees",
        };
        let selection = Selection {
            collection: "employees".into(),
            filters,
            order_by: None,
            descending: false,
            limit: 20,
            cursor: None,
        };
        let (q, _) = db.records().page_query(scope, &selection).expect("a query");
        let args = q.any_arguments().expect("arguments");
        let rows = sqlx::query_with(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {}", q.sql)), args)
            .fetch_all(&mut *conn)
            .await
            .expect("a plan");
        let _ = std::fs::remove_dir_all(&dir);
        let plan = rows
            .iter()
            .map(|row| sqlx::Row::get::<String, _>(row, 3))
            .collect::<Vec<_>>()
            .join("; ");
        format!("{plan} <- {}", q.sql)
    }

    fn filter(field: &str, op: FilterOp, value: FilterValue) -> Filter {
        Filter {
            field: field.into(),
            op,
            value,
        }
    }

    #[tokio::test]
    async fn sqlite_filters_use_the_declared_index() {
        let by_department =
            DeclaredIndex::new("employees", "employees", &fields(&["department"])).unwrap();
        let text = FilterValue::Text("Sales".into());
        let plan_eq = plan(
            "eq",
            std::slice::from_ref(&by_department),
            vec![filter("department", FilterOp::Eq, text.clone())],
        )
        .await;
        assert!(plan_eq.contains(by_department.name()), "{plan_eq}");
        let plan_range = plan(
            "range",
            std::slice::from_ref(&by_department),
            vec![filter("department", FilterOp::Ge, text)],
        )
        .await;
        assert!(plan_range.contains(by_department.name()), "{plan_range}");
        // A boolean field, second in a two-field index.
        let by_user_read =
            DeclaredIndex::new("employees", "employees", &fields(&["user_id", "read"])).unwrap();
        let plan_bool = plan(
            "bool",
            std::slice::from_ref(&by_user_read),
            vec![
                filter("user_id", FilterOp::Eq, FilterValue::Text("u1".into())),
                filter("read", FilterOp::Eq, FilterValue::Boolean(false)),
            ],
        )
        .await;
        assert!(
            plan_bool.contains(by_user_read.name()) && plan_bool.contains("<expr>=? AND <expr>=?"),
            "{plan_bool}"
        );
        // Without a filter on it, the list keeps reading in insertion order.
        let plan_list = plan("list", std::slice::from_ref(&by_department), Vec::new()).await;
        assert!(plan_list.contains("records_scan"), "{plan_list}");
    }

    #[test]
    fn an_index_is_named_by_what_it_covers_and_refuses_what_cannot_be_spliced() {
        let a = DeclaredIndex::new("employees", "employees", &fields(&["department"])).unwrap();
        let b = DeclaredIndex::new("employees", "employees", &fields(&["department"])).unwrap();
        let c = DeclaredIndex::new("tasks", "employees", &fields(&["department"])).unwrap();
        assert_eq!(a.name(), b.name());
        assert_ne!(a.name(), c.name());
        assert!(DeclaredIndex::new("m", "c", &fields(&["a') OR 1=1 --"])).is_err());
        assert!(DeclaredIndex::new("m", "C'", &fields(&["a"])).is_err());
        assert!(DeclaredIndex::new("m", "c", &[]).is_err());
        assert!(DeclaredIndex::new("m", "c", &fields(&["a", "b", "c", "d", "e"])).is_err());
        assert_eq!(text_literal("it's"), "'it''s'");
    }
}
