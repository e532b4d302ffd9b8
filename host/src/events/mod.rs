//! Event delivery: the outbox drained into subscribers' `on-event`, retried with
//! backoff, dead letters kept for an admin to replay, delivered events pruned.
//!
//! Order holds per (tenant, subscriber, source module): a stream delivers its next
//! event only once the one before is handled or given up on. Each delivery is a
//! system call in a unit of work of its own (`Runtime::deliver`).

mod worker;

use std::time::Duration;

pub use worker::Deliverer;

use crate::provisioning::Actor;
use crate::runtime::Runtime;
use crate::store::events::{DeadLetter, RetryPolicy, StoredEvent};
use crate::store::{Db, DbResult};
use crate::tenancy::TenantView;

/// How events reach their subscribers.
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// Failed attempts after which a delivery becomes a dead letter.
    pub max_attempts: u32,
    /// The wait after the first failure, doubled after each next one.
    pub retry_base: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
    /// How long a delivered event is kept in the outbox.
    pub retention: Duration,
    /// How often each replica looks for deliveries nobody announced (another
    /// replica's retries, a missed notification).
    pub sweep_interval: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(600),
            retention: Duration::from_secs(7 * 24 * 3600),
            sweep_interval: Duration::from_secs(5),
        }
    }
}

impl EventSettings {
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            base_ms: millis(self.retry_base),
            max_ms: millis(self.retry_max),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What platform admins see of a tenant's events.
pub struct EventLog<'a> {
    pub db: &'a Db,
    pub runtime: &'a Runtime,
}

impl EventLog<'_> {
    /// The tenant's most recent events, newest first, with their pending and dead
    /// deliveries.
    pub async fn recent(&self, tenant_id: &str, limit: u32) -> DbResult<Vec<StoredEvent>> {
        self.db
            .module_data(tenant_id)
            .await?
            .recent_events(tenant_id, limit)
            .await
    }

    /// Dead letters of one tenant, or of every tenant.
    pub async fn dead_letters(
        &self,
        tenant_id: Option<&str>,
        limit: u32,
    ) -> DbResult<Vec<DeadLetter>> {
        let tenant_ids = match tenant_id {
            Some(id) => vec![id.to_owned()],
            None => (self.db.tenant_generations().await?)
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
        };
        let mut letters = Vec::new();
        for tenant_id in &tenant_ids {
            let left = limit.saturating_sub(u32::try_from(letters.len()).unwrap_or(u32::MAX));
            if left == 0 {
                break;
            }
            let data = self.db.module_data(tenant_id).await?;
            letters.extend(data.dead_letters(tenant_id, left).await?);
        }
        Ok(letters)
    }

    /// Puts dead letters of the tenant back in line: all, or one (event id,
    /// subscriber), and audits it. Answers how many (a replay of none is no change). The tenant's change is
    /// announced, so whichever host delivers its events (another process on the same
    /// SQLite file, another replica) looks at it again.
    pub async fn replay(
        &self,
        tenant: &TenantView,
        one: Option<(&str, &str)>,
        actor: &Actor<'_>,
    ) -> DbResult<u64> {
        let tenant_id = &tenant.tenant.id;
        let replayed = self
            .db
            .module_data(tenant_id)
            .await?
            .replay_dead_letters(tenant_id, one, crate::store::now_ms())
            .await?;
        if replayed == 0 {
            return Ok(0);
        }
        let target = format!("tenant:{}/events", tenant.tenant.subdomain);
        let audit = actor
            .audit(Some(tenant_id), "events.replay", &target)
            .after(&serde_json::json!({
                "event_id": one.map(|(event, _)| event),
                "subscriber": one.map(|(_, subscriber)| subscriber),
                "replayed": replayed,
            }));
        self.db.announce_tenant_change(tenant_id, audit).await?;
        self.runtime.deliveries().wake(tenant_id);
        Ok(replayed)
    }
}
