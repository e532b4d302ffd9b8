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
use super::replicas::Replicas;
use crate::runtime::Runtime;
use crate::store::replicas::TENANT_APPLIED;
use crate::store::{Db, DbResult, Dialect, TENANT_CHANGES};

/// What following tenant changes needs: where to read them, and the two caches
/// (tenants and their module slots) to clear.
pub struct TenantFollower<'a> {
    pub db: &'a Db,
    /// For the PostgreSQL `LISTEN` connection, which the `Any` pool cannot give.
    pub database_url: String,
    pub directory: &'a Directory,
    pub runtime: &'a Runtime,
    /// This replica: it acknowledges what it applied, and hears the others do so.
    pub replicas: &'a Replicas,
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
                listener = listen(&self.database_url, self.replicas.id()).await;
                if listener.is_some() {
                    // Whatever changed while nobody listened.
                    next_sweep = Instant::now();
                }
                self.replicas.set_listening(listener.is_some());
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => Some(l.try_recv().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = notified => match received {
                    Some(Ok(Some(notification))) if notification.channel() == TENANT_APPLIED => {
                        self.replicas.record(notification.payload());
                    }
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
                    // The connection dropped: notifications sent until it listens again
                    // are lost. Listening again first and sweeping after (at the top
                    // of the loop) leaves no change in between unseen.
                    Some(Ok(None)) => {
                        listener = None;
                        self.replicas.set_listening(false);
                    }
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "tenant change listener failed; sweeping until it reconnects");
                        listener = None;
                        self.replicas.set_listening(false);
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
    /// the change was made here, and its maker did both. Either way it then tells
    /// the other replicas that it serves `generation`.
    async fn apply(&self, tenant_id: &str, generation: Option<i64>) {
        if generation.is_none() || self.directory.cached_generation(tenant_id) != generation {
            self.reload(tenant_id).await;
        }
        // The cache entry is gone or current by now: no request that arrives after
        // this acknowledgement is served from the state before the change.
        let applied = generation.unwrap_or(super::replicas::GONE);
        if let Err(err) = self
            .db
            .announce_applied(self.replicas.id(), tenant_id, applied)
            .await
        {
            tracing::warn!(tenant_id, error = %err, "acknowledging a tenant change failed");
        }
    }

    async fn reload(&self, tenant_id: &str) {
        let before = match self.directory.refresh(tenant_id).await {
            Ok(before) => before,
            Err(err) => {
                // The cached view is gone already; only the domains may be stale
                // until the next sweep.
                tracing::warn!(tenant_id, error = %err, "reloading tenant domains failed");
                None
            }
        };
        // A tenant this replica neither cached nor runs anything of stays unloaded.
        if before.is_some() || self.runtime.has_tenant_slots(tenant_id) {
            self.retire_slots(tenant_id, before.as_deref()).await;
        }
        // A module switched on or off elsewhere.
        self.runtime.modules_changed(tenant_id);
    }

    async fn retire_slots(&self, tenant_id: &str, before: Option<&super::TenantView>) {
        match self.directory.by_id(tenant_id).await {
            Ok(now) => {
                self.runtime.retire_slots(tenant_id, before, now.as_deref());
            }
            Err(err) => {
                // What the tenant runs now is unknown: run nothing warm of it.
                tracing::warn!(tenant_id, error = %err, "reloading a changed tenant failed");
                self.runtime.retire_slots(tenant_id, before, None);
            }
        }
    }
}

/// A listener on tenant changes and acknowledgements, named after the replica
/// (`application_name` `mosaic-<replica id>` in `pg_stat_activity`).
async fn listen(url: &str, replica: &str) -> Option<PgListener> {
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}application_name=mosaic-{replica}");
    let connected = async {
        let mut listener = PgListener::connect(&url).await?;
        listener
            .listen_all([TENANT_CHANGES, TENANT_APPLIED])
            .await?;
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
