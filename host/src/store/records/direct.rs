//! Reads of a tenant's SQLite file made in place: on the calling thread, with the
//! SQLite library itself, through a cached prepared statement. sqlx runs each
//! SQLite connection on a thread of its own, and a read through it costs a command
//! sent to that thread and rows sent back, two wake-ups that cost more than the
//! read itself (BENCHMARKS.md (k)).
//!
//! A read in place holds the executor thread it runs on, so it is bounded: SQLite's
//! progress handler interrupts it after [`INLINE_BUDGET`] (or at the request's
//! deadline, if sooner), and one interrupted by its budget is read again through
//! the pool, off the executor, where only the deadline bounds it. A cheap read is
//! never sent to another thread; an expensive one never holds the executor long.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::query::{Arg, PageRow};
use super::{Document, Page, Records, Scope, Selection, StoreError, StoreResult};
use crate::store::Dialect;

/// The longest a read runs in place before it is handed to the pool.
pub const INLINE_BUDGET: Duration = Duration::from_millis(1);
/// SQLite virtual-machine steps between two looks at the clock.
const PROGRESS_STEPS: i32 = 1000;
/// Prepared statements a reader connection keeps.
const STATEMENTS_PER_READER: usize = 64;
/// Connections kept open per file between reads: one per executor thread is enough.
const IDLE_PER_FILE: usize = 2;
/// Second connections kept open between reads over all of a host's files. A file's
/// first kept reader is part of what an open file is budgeted (its descriptors are
/// counted in the open-file cap), so every open file keeps one; a second, for reads
/// side by side, holds three more descriptors (the file, its WAL, its shared memory)
/// and takes one of these places. Past them, such a read opens its connection and
/// closes it after.
pub const KEPT_READERS: usize = 64;

/// How many second reader connections a host keeps between reads, over all its
/// files.
#[derive(Debug)]
pub struct ReaderBudget {
    kept: AtomicUsize,
    most: usize,
}

impl ReaderBudget {
    pub fn new(most: usize) -> Arc<Self> {
        Arc::new(Self {
            kept: AtomicUsize::new(0),
            most,
        })
    }

    /// Takes a place for one more kept connection, if one is free.
    fn take(&self) -> bool {
        self.kept
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |kept| {
                (kept < self.most).then_some(kept + 1)
            })
            .is_ok()
    }

    fn give_back(&self, places: usize) {
        self.kept.fetch_sub(places, Ordering::AcqRel);
    }

    pub fn kept(&self) -> usize {
        self.kept.load(Ordering::Acquire)
    }
}

/// The in-place readers of one SQLite file.
pub struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    budget: Arc<ReaderBudget>,
    /// When a read last ran, in milliseconds since the epoch: idle readers close.
    last_used_ms: AtomicI64,
}

impl Drop for DirectReads {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().map_or(0, |idle| idle.len());
        self.budget.give_back(places(idle));
    }
}

/// The host-wide places `idle` kept connections of one file hold: all but the first.
fn places(idle: usize) -> usize {
    idle.saturating_sub(1)
}

impl std::fmt::Debug for DirectReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectReads")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How a read in place ended.
#[derive(Debug)]
pub enum Direct<T> {
    Done(T),
    /// It ran past its budget (not the deadline): read it through the pool.
    OverBudget,
}

impl DirectReads {
    pub fn new(path: PathBuf, budget: Arc<ReaderBudget>) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            budget,
            last_used_ms: AtomicI64::new(crate::store::now_ms()),
        }
    }

    /// The file read.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn connection(&self) -> rusqlite::Result<Connection> {
        {
            let mut idle = self.idle();
            if let Some(conn) = idle.pop() {
                if !idle.is_empty() {
                    self.budget.give_back(1);
                }
                return Ok(conn);
            }
        }
        // The file was made and put in WAL mode when it was opened.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A query's text names its module and collection (for their indexes):
        // room for every module's shapes of query over a tenant's file.
        conn.set_prepared_statement_cache_capacity(STATEMENTS_PER_READER);
        Ok(conn)
    }

    /// Keeps `conn`, a connection to this file opened to look it over, as the
    /// file's first reader, made read-only: the first read then opens none.
    pub fn adopt(&self, conn: Connection) -> rusqlite::Result<()> {
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS_PER_READER);
        let mut idle = self.idle();
        if idle.is_empty() {
            idle.push(conn);
        }
        Ok(())
    }

    /// Closes the connections kept for reads if none ran for `idle_for`.
    pub fn close_if_idle(&self, idle_for: Duration) {
        let idle_ms = i64::try_from(idle_for.as_millis()).unwrap_or(i64::MAX);
        if crate::store::now_ms() - self.last_used_ms.load(Ordering::Relaxed) >= idle_ms {
            let mut idle = self.idle();
            self.budget.give_back(places(idle.len()));
            idle.clear();
        }
    }

    /// Runs `read` on a connection, interrupted at the earlier of the budget's end
    /// and `deadline`.
    pub(crate) fn run<T>(
        &self,
        deadline: Instant,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<Direct<T>> {
        self.last_used_ms
            .store(crate::store::now_ms(), Ordering::Relaxed);
        let conn = self.connection().map_err(read_error)?;
        let until = deadline.min(Instant::now() + INLINE_BUDGET);
        let result = conn
            .progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= until))
            .and_then(|()| read(&conn));
        if conn.progress_handler(0, None::<fn() -> bool>).is_err() {
            // A connection whose handler is in doubt is not kept.
            return result.map(Direct::Done).map_err(read_error);
        }
        let interrupted = matches!(
            &result,
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::OperationInterrupted
        );
        {
            let mut idle = self.idle();
            if idle.len() < IDLE_PER_FILE && (idle.is_empty() || self.budget.take()) {
                idle.push(conn);
            }
        }
        match result {
            Ok(value) => Ok(Direct::Done(value)),
            Err(_) if interrupted && Instant::now() >= deadline => {
                Err(StoreError::Db(sqlx::Error::PoolTimedOut))
            }
            Err(_) if interrupted => Ok(Direct::OverBudget),
            Err(err) => Err(read_error(err)),
        }
    }
}

fn read_error(err: rusqlite::Error) -> StoreError {
    StoreError::Db(sqlx::Error::Protocol(format!("reading in place: {err}")))
}

/// Binds each `$N` of `statement` to its argument. SQLite numbers the distinct
/// names in order of first use, so each index is mapped back through its name.
fn bind(statement: &mut rusqlite::CachedStatement<'_>, args: &[Arg]) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let arg = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$')?.parse::<usize>().ok())
            .and_then(|n| args.get(n.checked_sub(1)?))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, args.len()))?;
        match arg {
            Arg::Text(text) => statement.raw_bind_parameter(index, text)?,
            Arg::Integer(int) => statement.raw_bind_parameter(index, int)?,
            Arg::Float(float) => statement.raw_bind_parameter(index, float)?,
        }
    }
    Ok(())
}

fn document(row: &rusqlite::Row<'_>) -> rusqlite::Result<Document> {
    Ok(Document {
        id: row.get(0)?,
        version: row.get(1)?,
        data: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

impl Records {
    /// [`Records::query`], read in place.
    pub fn query_direct(
        &self,
        reads: &DirectReads,
        scope: Scope<'_>,
        selection: &Selection,
        deadline: Instant,
    ) -> StoreResult<Direct<Page>> {
        debug_assert_eq!(self.dialect, Dialect::Sqlite);
        let (q, mut page) = self.page_query(scope, selection)?;
        let read = reads.run(deadline, |conn| {
            let mut statement = conn.prepare_cached(&q.sql)?;
            bind(&mut statement, &q.args)?;
            let mut rows = statement.raw_query();
            while let Some(row) = rows.next()? {
                let row = PageRow {
                    doc: document(row)?,
                    seq: row.get(5)?,
                    order_value: row.get(6)?,
                };
                if !page.take(row) {
                    break;
                }
            }
            Ok(())
        })?;
        Ok(match read {
            Direct::Done(()) => Direct::Done(page.finish()),
            Direct::OverBudget => Direct::OverBudget,
        })
    }

    /// [`Records::get`], read in place.
    pub fn get_direct(
        &self,
        reads: &DirectReads,
        scope: Scope<'_>,
        collection: &str,
        id: &str,
        deadline: Instant,
    ) -> StoreResult<Direct<Option<Document>>> {
        debug_assert_eq!(self.dialect, Dialect::Sqlite);
        let Some(sql) = self.get_sql(collection, id)? else {
            return Ok(Direct::Done(None));
        };
        reads.run(deadline, |conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let args =
                [scope.tenant_id, scope.module, collection, id].map(|a| Arg::Text(a.to_owned()));
            bind(&mut statement, &args)?;
            let mut rows = statement.raw_query();
            rows.next()?.map(document).transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("mosaic-direct-{}-{name}.db", std::process::id()));
        Connection::open(&path)
            .and_then(|conn| {
                conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS t (x)")
            })
            .expect("a file");
        path
    }

    fn read(reads: &DirectReads) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let read = reads
            .run(deadline, |conn| {
                conn.query_row("SELECT count(*) FROM t", [], |row| row.get::<_, i64>(0))
            })
            .expect("read");
        assert!(matches!(read, Direct::Done(0)));
    }

    /// A read still running at the request's deadline is stopped, not handed on.
    #[test]
    fn a_read_at_its_deadline_is_stopped() {
        let path = file("deadline");
        let reads = DirectReads::new(path.clone(), ReaderBudget::new(1));
        let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";
        let stopped = reads.run(Instant::now(), |conn| {
            conn.query_row(endless, [], |row| row.get::<_, i64>(0))
        });
        assert!(
            matches!(stopped, Err(StoreError::Db(sqlx::Error::PoolTimedOut))),
            "{stopped:?}"
        );
        // Before its deadline, a read past its budget is handed to the pool instead.
        let deadline = Instant::now() + Duration::from_secs(5);
        let handed_on = reads.run(deadline, |conn| {
            conn.query_row(endless, [], |row| row.get::<_, i64>(0))
        });
        assert!(matches!(handed_on, Ok(Direct::OverBudget)), "{handed_on:?}");
        // The interrupted connection is fit for the next read.
        read(&reads);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    /// Two reads at once on one file: the second opens a connection of its own.
    fn read_during_a_read(reads: &DirectReads) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let outer = reads.run(deadline, |_| {
            read(reads);
            Ok(())
        });
        assert!(matches!(outer, Ok(Direct::Done(()))));
    }

    /// Every file keeps its first reader; a second takes a place of the host's
    /// budget, and past it a file's reads still answer, keeping no second one.
    #[test]
    fn second_readers_kept_between_reads_stay_within_the_budget() {
        let budget = ReaderBudget::new(1);
        let (a, b) = (file("a"), file("b"));
        let first = DirectReads::new(a.clone(), budget.clone());
        let second = DirectReads::new(b.clone(), budget.clone());
        read(&first);
        read(&second);
        assert_eq!(budget.kept(), 0, "a first reader takes no place");
        assert_eq!((first.idle().len(), second.idle().len()), (1, 1));
        read_during_a_read(&first);
        read_during_a_read(&second);
        assert_eq!(budget.kept(), 1);
        assert_eq!((first.idle().len(), second.idle().len()), (2, 1));
        // The kept connections are taken and given back by their own file's reads.
        read_during_a_read(&first);
        read(&second);
        assert_eq!(budget.kept(), 1);
        assert_eq!((first.idle().len(), second.idle().len()), (2, 1));
        drop(first);
        assert_eq!(budget.kept(), 0, "a closed file gives its place back");
        read_during_a_read(&second);
        assert_eq!((budget.kept(), second.idle().len()), (1, 2));
        second.close_if_idle(Duration::ZERO);
        assert_eq!((budget.kept(), second.idle().len()), (0, 0));
        for path in [a, b] {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}
