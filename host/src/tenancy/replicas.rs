//! Acknowledgements across replicas: a tenant change returns once every replica
//! seen lately has applied it (or a bounded wait ran out, and the answer names who
//! has not), so a module switched off is refused everywhere by then.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::store::replicas::ReplicaInfo;
use crate::store::{Db, DbResult, Dialect, now_ms};

/// How often a serving replica says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A replica silent for longer is not waited for.
const LIVE_FOR: Duration = Duration::from_secs(3);
/// A replica silent for longer is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// How long an acknowledgement is kept for a change that may still be waiting on it.
const KEEP_ACKS: Duration = Duration::from_secs(60);

/// The generation announced for a deleted tenant: later than any other.
pub const GONE: i64 = i64::MAX;

/// Which replicas applied a change before the answer was given.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Acknowledgements {
    pub acknowledged: Vec<ReplicaInfo>,
    /// Replicas seen lately that had not applied it when the wait ran out.
    pub pending: Vec<ReplicaInfo>,
}

/// This replica, and what the others have acknowledged to it.
pub struct Replicas {
    id: String,
    /// Where this replica listens, once it serves.
    address: OnceLock<String>,
    /// Whether acknowledgements can reach this process (its listener is up).
    listening: AtomicBool,
    /// Tenant id → replica id → the generation it applied, and when it said so.
    acks: DashMap<String, HashMap<String, (i64, Instant)>>,
    acked: tokio::sync::Notify,
    wait_at_most: Duration,
}

impl Replicas {
    pub fn new(wait_at_most: Duration) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            address: OnceLock::new(),
            listening: AtomicBool::new(false),
            acks: DashMap::new(),
            acked: tokio::sync::Notify::new(),
            wait_at_most,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// This replica as the others see it (once it serves).
    pub fn info(&self) -> Option<ReplicaInfo> {
        self.address.get().map(|address| ReplicaInfo {
            id: self.id.clone(),
            address: address.clone(),
        })
    }

    /// This replica serves at `address` from now on.
    pub fn serving_at(&self, address: String) {
        let _ = self.address.set(address);
    }

    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
    }

    /// Whether acknowledgements can reach this process now.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// An acknowledgement heard from another replica: `<replica>:<tenant>:<generation>`.
    pub fn record(&self, payload: &str) {
        let mut parts = payload.splitn(3, ':');
        let (Some(replica), Some(tenant), Some(generation)) = (
            parts.next(),
            parts.next(),
            parts.next().and_then(|g| g.parse::<i64>().ok()),
        ) else {
            tracing::warn!(payload, "malformed acknowledgement");
            return;
        };
        let mut seen = self.acks.entry(tenant.to_owned()).or_default();
        let entry = seen
            .entry(replica.to_owned())
            .or_insert((generation, Instant::now()));
        if entry.0 <= generation {
            *entry = (generation, Instant::now());
        }
        drop(seen);
        self.acked.notify_waiters();
    }

    /// Forgets acknowledgements no change can still be waiting for.
    pub fn forget_old(&self) {
        self.acks.retain(|_, replicas| {
            replicas.retain(|_, (_, at)| at.elapsed() < KEEP_ACKS);
            !replicas.is_empty()
        });
    }

    /// Waits until every other replica seen lately has applied `generation` of the
    /// tenant (or [`GONE`]), for at most the configured time.
    pub async fn wait(
        &self,
        db: &Db,
        tenant_id: &str,
        generation: i64,
    ) -> DbResult<Acknowledgements> {
        if db.dialect != Dialect::Postgres {
            return Ok(Acknowledgements::default());
        }
        let since = now_ms() - i64::try_from(LIVE_FOR.as_millis()).unwrap_or(i64::MAX);
        let others: Vec<ReplicaInfo> = db
            .live_replicas(since)
            .await?
            .into_iter()
            .filter(|r| r.id != self.id)
            .collect();
        let deadline = tokio::time::Instant::now() + self.wait_at_most;
        loop {
            // Registered before looking, so an acknowledgement arriving in between
            // still wakes this wait.
            let acked = self.acked.notified();
            tokio::pin!(acked);
            acked.as_mut().enable();
            let (acknowledged, pending): (Vec<ReplicaInfo>, Vec<ReplicaInfo>) = others
                .iter()
                .cloned()
                .partition(|r| self.has_applied(r, tenant_id, generation));
            if pending.is_empty() || !self.is_listening() {
                return Ok(Acknowledgements {
                    acknowledged,
                    pending,
                });
            }
            if tokio::time::timeout_at(deadline, acked).await.is_err() {
                tracing::warn!(tenant_id, generation, pending = ?pending, "replicas did not acknowledge a tenant change in time");
                return Ok(Acknowledgements {
                    acknowledged,
                    pending,
                });
            }
        }
    }

    fn has_applied(&self, replica: &ReplicaInfo, tenant_id: &str, generation: i64) -> bool {
        self.acks
            .get(tenant_id)
            .and_then(|seen| {
                seen.get(&replica.id)
                    .map(|(applied, _)| *applied >= generation)
            })
            .unwrap_or(false)
    }

    /// Keeps this replica registered while it serves; runs until aborted.
    pub async fn beat(&self, db: &Db) {
        let Some(me) = self.info() else { return };
        let forget = i64::try_from(FORGET_AFTER.as_millis()).unwrap_or(i64::MAX);
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = now_ms();
            if let Err(err) = db.replica_heartbeat(&me, now, now - forget).await {
                tracing::warn!(error = %err, "replica heartbeat failed");
            }
            self.forget_old();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(id: &str) -> ReplicaInfo {
        ReplicaInfo {
            id: id.into(),
            address: "127.0.0.1:1".into(),
        }
    }

    #[test]
    fn acknowledgements_count_from_their_generation_on() {
        let replicas = Replicas::new(Duration::from_millis(10));
        replicas.record("b:t1:5");
        assert!(replicas.has_applied(&replica("b"), "t1", 5));
        assert!(replicas.has_applied(&replica("b"), "t1", 4));
        assert!(!replicas.has_applied(&replica("b"), "t1", 6));
        assert!(!replicas.has_applied(&replica("c"), "t1", 5));
        assert!(!replicas.has_applied(&replica("b"), "t2", 1));
        // An older acknowledgement arriving late never lowers it.
        replicas.record("b:t1:3");
        assert!(replicas.has_applied(&replica("b"), "t1", 5));
        replicas.record(&format!("b:t1:{GONE}"));
        assert!(replicas.has_applied(&replica("b"), "t1", GONE));
        // Garbage is ignored.
        replicas.record("b:t1");
        replicas.record("b:t1:x");
    }
}
