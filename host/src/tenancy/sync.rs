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

use sqlx::postgres::PgListener;

use crate::AppState;
use crate::store::{DbResult, Dialect, TENANT_CHANGES};

/// Runs until the task is aborted.
pub async fn follow_changes(state: AppState, sweep_every: Duration) {
    let mut known = HashMap::new();
    if let Err(err) = sweep(&state, &mut known, true).await {
        tracing::warn!(error = %err, "first tenant sweep failed");
    }
    let mut listener = None;
    let mut tick = tokio::time::interval(sweep_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if listener.is_none() && state.db.dialect == Dialect::Postgres {
            listener = listen(&state.config.database_url()).await;
            if listener.is_some() {
                // Whatever changed while nobody listened.
                tick.reset_immediately();
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
                    apply(&state, tenant_id).await;
                }
                // The connection dropped and sqlx reconnected: notifications may be lost.
                Some(Ok(None)) => tick.reset_immediately(),
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "tenant change listener failed; sweeping until it reconnects");
                    listener = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                None => {}
            },
            _ = tick.tick() => {
                if let Err(err) = sweep(&state, &mut known, false).await {
                    tracing::warn!(error = %err, "tenant sweep failed");
                }
            }
        }
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

/// Reloads every tenant whose generation moved (or that appeared or vanished) since
/// the last sweep. The first sweep only records what it sees.
async fn sweep(state: &AppState, known: &mut HashMap<String, i64>, first: bool) -> DbResult<()> {
    let current: HashMap<String, i64> = state.db.tenant_generations().await?.into_iter().collect();
    if !first {
        let changed: Vec<&String> = current
            .iter()
            .filter(|(id, generation)| known.get(*id) != Some(generation))
            .map(|(id, _)| id)
            .chain(known.keys().filter(|id| !current.contains_key(*id)))
            .collect();
        for tenant_id in changed {
            tracing::debug!(tenant_id, "tenant changed since the last sweep");
            apply(state, tenant_id).await;
        }
    }
    *known = current;
    Ok(())
}

async fn apply(state: &AppState, tenant_id: &str) {
    if let Err(err) = state.directory.refresh(tenant_id).await {
        // The cached view is gone already; only the domains may be stale until the
        // next sweep.
        tracing::warn!(tenant_id, error = %err, "reloading tenant domains failed");
    }
    state.runtime.drop_tenant_slots(tenant_id);
}
