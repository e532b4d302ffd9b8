//! Keeps this replica's tenant cache current with changes made elsewhere: through
//! another replica, or by the CLI.
//!
//! Two paths, one outcome (the tenant is reloaded and its slots rebuilt):
//! - on PostgreSQL, `LISTEN` for the notification each change sends on commit, which
//!   arrives within milliseconds;
//! - on both databases, a sweep that compares every tenant's `generation` with the
//!   one seen last, catching what a lost connection or a missed notification (or a
//!   SQLite file shared with the CLI) would otherwise leave stale.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use sqlx::postgres::PgListener;

use super::Directory;
use crate::runtime::Runtime;
use crate::store::{Db, DbResult, Dialect, TENANT_CHANGES};

/// What following tenant changes needs: where to read them, and the two caches
/// (tenants and their module slots) to clear.
pub struct TenantFollower<'a> {
    pub db: &'a Db,
    /// For the PostgreSQL `LISTEN` connection, which the `Any` pool cannot give.
    pub database_url: String,
    pub directory: &'a Directory,
    pub runtime: &'a Runtime,
}

/// How often a replica sweeps while its `LISTEN` connection is healthy: only to
/// catch a notification lost without the connection dropping, which is rare.
pub const SWEEP_WHILE_LISTENING: Duration = Duration::from_secs(60);

impl TenantFollower<'_> {
    /// Runs until the task is aborted. Without a listener (SQLite, or PostgreSQL
    /// while the connection is down) it sweeps every `sweep_every`; with one, every
    /// [`SWEEP_WHILE_LISTENING`], and at once after the listener (re)connects.
    pub async fn run(&self, sweep_every: Duration) {
        let mut known = HashMap::new();
        if let Err(err) = self.sweep(&mut known, true).await {
            tracing::warn!(error = %err, "first tenant sweep failed");
        }
        let mut listener = None;
        let mut next_sweep = Instant::now() + sweep_every;
        loop {
            if listener.is_none() && self.db.dialect == Dialect::Postgres {
                listener = listen(&self.database_url).await;
                if listener.is_some() {
                    // Whatever changed while nobody listened.
                    next_sweep = Instant::now();
                }
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => Some(l.try_recv().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = notified => match received {
                    Some(Ok(Some(notification))) => {
                        let tenant_id = notification.payload();
                        tracing::debug!(tenant_id, "tenant changed elsewhere");
                        match self.db.tenant_generation(tenant_id).await {
                            Ok(generation) => self.apply(tenant_id, generation).await,
                            Err(err) => {
                                tracing::warn!(tenant_id, error = %err, "reading a changed tenant failed; sweeping");
                                next_sweep = Instant::now();
                            }
                        }
                    }
                    // The connection dropped and sqlx reconnected: notifications may be lost.
                    Some(Ok(None)) => next_sweep = Instant::now(),
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "tenant change listener failed; sweeping until it reconnects");
                        listener = None;
                        next_sweep = Instant::now();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    None => {}
                },
                () = tokio::time::sleep_until(next_sweep) => {
                    if let Err(err) = self.sweep(&mut known, false).await {
                        tracing::warn!(error = %err, "tenant sweep failed");
                    }
                    let every = if listener.is_some() {
                        sweep_every.max(SWEEP_WHILE_LISTENING)
                    } else {
                        sweep_every
                    };
                    next_sweep = Instant::now() + every;
                }
            }
        }
    }

    /// Reloads every tenant whose generation moved (or that appeared or vanished) since
    /// the last sweep. The first sweep only records what it sees.
    async fn sweep(&self, known: &mut HashMap<String, i64>, first: bool) -> DbResult<()> {
        self.runtime.metrics().tenant_swept();
        let current: HashMap<String, i64> =
            self.db.tenant_generations().await?.into_iter().collect();
        if !first {
            let changed: Vec<(&String, Option<i64>)> = current
                .iter()
                .filter(|(id, generation)| known.get(*id) != Some(generation))
                .map(|(id, generation)| (id, Some(*generation)))
                .chain(
                    known
                        .keys()
                        .filter(|id| !current.contains_key(*id))
                        .map(|id| (id, None)),
                )
                .collect();
            for (tenant_id, generation) in changed {
                tracing::debug!(tenant_id, "tenant changed since the last sweep");
                self.apply(tenant_id, generation).await;
            }
        }
        *known = current;
        Ok(())
    }

    /// Reloads the tenant and drops the slots of the modules it no longer runs,
    /// unless this replica already serves `generation` (none: the tenant is gone):
    /// the change was made here, and its maker did both.
    async fn apply(&self, tenant_id: &str, generation: Option<i64>) {
        if generation.is_some() && self.directory.cached_generation(tenant_id) == generation {
            return;
        }
        let before = match self.directory.refresh(tenant_id).await {
            Ok(before) => before,
            Err(err) => {
                // The cached view is gone already; only the domains may be stale
                // until the next sweep.
                tracing::warn!(tenant_id, error = %err, "reloading tenant domains failed");
                None
            }
        };
        match self.directory.by_id(tenant_id).await {
            Ok(now) => {
                self.runtime
                    .retire_slots(tenant_id, before.as_deref(), now.as_deref());
            }
            Err(err) => {
                // What the tenant runs now is unknown: run nothing warm of it.
                tracing::warn!(tenant_id, error = %err, "reloading a changed tenant failed");
                self.runtime
                    .retire_slots(tenant_id, before.as_deref(), None);
            }
        }
        // A module switched on or off elsewhere.
        self.runtime.modules_changed(tenant_id);
    }
}

async fn listen(url: &str) -> Option<PgListener> {
    let connected = async {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(TENANT_CHANGES).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match connected.await {
        Ok(listener) => Some(listener),
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for tenant changes");
            None
        }
    }
}
