//! One request is one unit of work: every write and event of a `handle` call,
//! including those of modules it calls, commits together or not at all.
//!
//! The write transaction begins lazily at the first write, so read-only requests
//! never take it (nor, on SQLite, the single-writer gate of the tenant's file).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use sqlx::{AnyConnection, AssertSqlSafe, Executor};
use tokio::sync::Mutex;

use super::host::notify::QueuedMail;
use crate::store::records::direct::{Direct, DirectReads};
use crate::store::records::{DeclaredIndex, StoreResult};
use crate::store::{Db, DbResult, Records, WriteTx};
use crate::tenancy::TenantView;

/// How a read of documents went, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadWay {
    /// In place, on the calling thread.
    InPlace,
    /// Through the pool: in a transaction, or on PostgreSQL.
    Pool,
    /// Started in place, over its budget, finished through the pool.
    OverBudget,
}

impl ReadWay {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InPlace => "in_place",
            Self::Pool => "pool",
            Self::OverBudget => "over_budget",
        }
    }
}

pub struct UnitOfWork {
    /// The main database, and the tenant whose module data this unit works on.
    main: Db,
    tenant: Arc<TenantView>,
    /// The database holding that tenant's module data, found on first use.
    data: tokio::sync::OnceCell<Db>,
    state: Mutex<State>,
    /// Waiting for a connection or for the SQLite writer gives up at the request's
    /// deadline, like the module itself.
    deadline: Instant,
    /// A database error happened: whatever the module answers, nothing commits (on
    /// PostgreSQL the transaction is aborted anyway, and COMMIT would hide that).
    poisoned: AtomicBool,
    /// Events emitted so far, by every module on the call chain.
    events: AtomicUsize,
    /// Messages sent so far (`notify`), by every module on the call chain.
    messages: AtomicUsize,
    /// Mails to queue once this unit of work has committed.
    mails: std::sync::Mutex<Vec<QueuedMail>>,
}

#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    #[error("a database error earlier in the request discarded its writes")]
    Poisoned,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[derive(Default)]
struct State {
    tx: Option<WriteTx>,
    /// Open savepoints of nested module calls.
    depth: u32,
}

/// Where a nested call began, to undo only its writes if it fails.
pub struct NestedMark {
    /// The savepoint taken, if a transaction was already open.
    savepoint: Option<String>,
    /// Mails queued before the nested call: a failed call's own are dropped.
    mails: usize,
}

impl UnitOfWork {
    pub fn new(main: Db, tenant: Arc<TenantView>, deadline: Instant) -> Self {
        Self {
            main,
            tenant,
            data: tokio::sync::OnceCell::new(),
            state: Mutex::new(State::default()),
            deadline,
            poisoned: AtomicBool::new(false),
            events: AtomicUsize::new(0),
            messages: AtomicUsize::new(0),
            mails: std::sync::Mutex::default(),
        }
    }

    /// Marks the unit of work failed: it will roll back.
    pub fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }

    /// Counts one more emitted event; answers how many there are now.
    pub fn count_event(&self) -> usize {
        self.events.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts one more message sent; answers how many there are now.
    pub fn count_message(&self) -> usize {
        self.messages.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether any module on the call chain sent a message.
    pub fn sent_messages(&self) -> bool {
        self.messages.load(Ordering::Relaxed) > 0
    }

    /// A mail to queue if, and once, this unit of work commits.
    pub fn queue_mail(&self, mail: QueuedMail) {
        self.pending_mails().push(mail);
    }

    /// The mails to queue now that the unit of work has committed.
    pub fn take_mails(&self) -> Vec<QueuedMail> {
        std::mem::take(&mut *self.pending_mails())
    }

    fn pending_mails(&self) -> std::sync::MutexGuard<'_, Vec<QueuedMail>> {
        self.mails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether any module on the call chain emitted an event.
    pub fn emitted(&self) -> bool {
        self.events.load(Ordering::Relaxed) > 0
    }

    /// `op`, unless the request's deadline passes first.
    async fn by_deadline<T>(&self, op: impl Future<Output = DbResult<T>>) -> DbResult<T> {
        tokio::time::timeout_at(self.deadline.into(), op)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }

    /// The main database: tenants, their module settings.
    pub fn main_db(&self) -> &Db {
        &self.main
    }

    /// Document operations in the dialect of the module data.
    pub fn records(&self) -> Records {
        self.main.records()
    }

    async fn data(&self) -> DbResult<&Db> {
        self.data
            .get_or_try_init(|| self.by_deadline(self.main.module_data(&self.tenant.tenant.id)))
            .await
    }

    /// Starts building the module's declared indexes on `collection` in the
    /// tenant's data, the first time it is queried there. Opening the data can
    /// fail here only as it would for the read that follows, which reports it.
    pub async fn build_declared_indexes(&self, indexes: &[DeclaredIndex], collection: &str) {
        if let Ok(data) = self.data().await {
            data.build_declared_indexes(indexes, collection);
        }
    }

    /// Runs a read, inside the transaction if one is open (to see this request's own
    /// writes), else on a pooled connection.
    pub async fn read<T>(&self, op: impl AsyncFnOnce(&mut AnyConnection) -> T) -> DbResult<T> {
        let mut state = self.state.lock().await;
        match state.tx.as_mut() {
            Some(w) => Ok(op(&mut w.tx).await),
            None => {
                drop(state);
                let data = self.data().await?;
                let mut conn = self.by_deadline(data.pool.acquire()).await?;
                Ok(op(&mut conn).await)
            }
        }
    }

    /// A read of documents: in place on this thread while nothing is written yet and
    /// the module data is a SQLite file (`store::records::direct`), else as
    /// [`UnitOfWork::read`]. A read too long to run in place (`direct` answers
    /// `OverBudget`) goes through the pool.
    pub async fn read_documents<T>(
        &self,
        direct: impl FnOnce(&DirectReads, Instant) -> StoreResult<Direct<T>>,
        pooled: impl AsyncFnOnce(&mut AnyConnection) -> StoreResult<T>,
    ) -> DbResult<(StoreResult<T>, ReadWay)> {
        // Requests call the host one call at a time: no write can begin between this
        // look and the read.
        let writing = self.state.lock().await.tx.is_some();
        let mut way = ReadWay::Pool;
        if !writing && let Some(reads) = self.data().await?.direct_reads() {
            match direct(reads, self.deadline) {
                Ok(Direct::Done(value)) => return Ok((Ok(value), ReadWay::InPlace)),
                Err(err) => return Ok((Err(err), ReadWay::InPlace)),
                Ok(Direct::OverBudget) => way = ReadWay::OverBudget,
            }
        }
        Ok((self.read(pooled).await?, way))
    }

    /// Runs a write inside the transaction, beginning it if needed.
    pub async fn write<T>(&self, op: impl AsyncFnOnce(&mut AnyConnection) -> T) -> DbResult<T> {
        let mut state = self.state.lock().await;
        if state.tx.is_none() {
            let data = self.data().await?;
            state.tx = Some(self.by_deadline(data.begin_write()).await?);
        }
        let w = state.tx.as_mut().expect("transaction begun above");
        Ok(op(&mut w.tx).await)
    }

    pub async fn begin_nested(&self) -> DbResult<NestedMark> {
        let mut state = self.state.lock().await;
        let State { tx, depth } = &mut *state;
        let savepoint = match tx.as_mut() {
            Some(w) => {
                *depth += 1;
                let name = format!("mosaic_call_{depth}");
                w.tx.execute(AssertSqlSafe(format!("SAVEPOINT {name}")))
                    .await?;
                Some(name)
            }
            None => None,
        };
        let mails = self.pending_mails().len();
        Ok(NestedMark { savepoint, mails })
    }

    /// Keeps or undoes the nested call's writes.
    pub async fn end_nested(&self, mark: NestedMark, keep: bool) -> DbResult<()> {
        if !keep {
            self.pending_mails().truncate(mark.mails);
        }
        let mut state = self.state.lock().await;
        match (mark.savepoint, keep) {
            (Some(name), keep) => {
                state.depth -= 1;
                let w = state
                    .tx
                    .as_mut()
                    .expect("a savepoint implies a transaction");
                if !keep {
                    w.tx.execute(AssertSqlSafe(format!("ROLLBACK TO SAVEPOINT {name}")))
                        .await?;
                }
                w.tx.execute(AssertSqlSafe(format!("RELEASE SAVEPOINT {name}")))
                    .await?;
            }
            // The nested call began the transaction: nothing before it to keep.
            (None, false) => {
                if let Some(w) = state.tx.take() {
                    w.tx.rollback().await?;
                }
            }
            (None, true) => {}
        }
        Ok(())
    }

    /// Commits (or rolls back) whatever was written. A poisoned unit of work rolls
    /// back and says so, even when asked to commit.
    pub async fn finish(&self, commit: bool) -> Result<(), FinishError> {
        let tx = self.state.lock().await.tx.take();
        let poisoned = self.poisoned.load(Ordering::Acquire);
        match (tx, commit && !poisoned) {
            (Some(w), true) => w.commit().await?,
            (Some(w), false) => w.tx.rollback().await?,
            (None, _) => {}
        }
        if commit && poisoned {
            return Err(FinishError::Poisoned);
        }
        Ok(())
    }
}
