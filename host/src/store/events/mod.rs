//! The event outbox and its deliveries. An event is written with the unit of work
//! that emitted it, together with one delivery row per subscriber; the subscriber's
//! unit of work removes its row when it has handled the event.
//!
//! Every function here works on one tenant's module data (`Db::module_data`): on
//! SQLite that is the tenant's own file, on PostgreSQL the shared database.

mod deliveries;

pub use deliveries::{DeadLetter, Due, Failure, RetryPolicy, acknowledge, claim};

use sqlx::Row as _;

use super::{Db, DbResult, Dialect};

/// An event to store.
#[derive(Debug, Clone)]
pub struct OutboxEvent<'a> {
    pub tenant_id: &'a str,
    pub id: &'a str,
    pub source: &'a str,
    pub kind: &'a str,
    pub subject: Option<&'a str>,
    pub data: &'a str,
    pub occurred_at: i64,
}

/// Deletes the delivered events older than `$1`.
const PRUNE: &str = "DELETE FROM event_outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1";

/// The channel on which PostgreSQL replicas hear that a tenant has new events.
pub const EVENTS_EMITTED: &str = "mosaic_events";

impl OutboxEvent<'_> {
    /// Writes the event and one pending delivery per subscriber. An event nobody
    /// subscribes to is delivered as it is written.
    pub async fn insert(
        &self,
        conn: &mut sqlx::AnyConnection,
        dialect: Dialect,
        subscribers: &[&str],
    ) -> DbResult<()> {
        if dialect == Dialect::Postgres && !subscribers.is_empty() {
            // Emitters of one (tenant, source) commit one at a time, so that the
            // order of their sequence numbers is the order of their commits, which
            // is the order their subscribers see. An event nobody receives has no
            // place in that order.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(super::advisory_key(&[self.tenant_id, self.source]))
                .execute(&mut *conn)
                .await?;
        }
        let delivered_at = subscribers.is_empty().then_some(self.occurred_at);
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO event_outbox \
             (tenant_id, id, source, kind, subject, data, occurred_at, delivered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
        )
        .bind(self.tenant_id)
        .bind(self.id)
        .bind(self.source)
        .bind(self.kind)
        .bind(self.subject)
        .bind(self.data)
        .bind(self.occurred_at)
        .bind(delivered_at)
        .fetch_one(&mut *conn)
        .await?;
        for subscriber in subscribers {
            sqlx::query(
                "INSERT INTO event_deliveries \
                 (tenant_id, subscriber, event_seq, source, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(self.tenant_id)
            .bind(*subscriber)
            .bind(seq)
            .bind(self.source)
            .bind(self.occurred_at)
            .execute(&mut *conn)
            .await?;
        }
        if dialect == Dialect::Postgres && !subscribers.is_empty() {
            // Sent at commit, once per transaction and tenant.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_EMITTED)
                .bind(self.tenant_id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// An event as stored, with what is left of its delivery.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StoredEvent {
    pub id: String,
    pub source: String,
    pub kind: String,
    pub subject: Option<String>,
    /// A JSON object, shown as one (not as text) to admins.
    #[serde(serialize_with = "as_json")]
    #[schema(value_type = Object)]
    pub data: String,
    pub occurred_at: i64,
    /// When its last subscriber had it; none while a delivery is pending or dead.
    pub delivered_at: Option<i64>,
    /// Subscribers still to deliver to, and those given up on.
    pub pending: Vec<String>,
    pub dead: Vec<String>,
}

/// Stored JSON text, written as the JSON it holds.
fn as_json<S: serde::Serializer>(data: &str, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize as _;
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(value) => value.serialize(serializer),
        Err(_) => serializer.serialize_str(data),
    }
}

impl StoredEvent {
    /// The event's columns of a row (`id`, `source`, `kind`, `subject`, `data`,
    /// `occurred_at`, `delivered_at`), with no deliveries yet.
    fn from_row(row: &sqlx::any::AnyRow) -> DbResult<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            source: row.try_get("source")?,
            kind: row.try_get("kind")?,
            subject: row.try_get("subject")?,
            data: row.try_get("data")?,
            occurred_at: row.try_get("occurred_at")?,
            delivered_at: row.try_get("delivered_at")?,
            pending: Vec::new(),
            dead: Vec::new(),
        })
    }
}

impl Db {
    /// A tenant's most recent events, newest first (this `Db` holds its module data).
    pub async fn recent_events(&self, tenant_id: &str, limit: u32) -> DbResult<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT e.id, e.source, e.kind, e.subject, e.data, e.occurred_at, e.delivered_at, \
                    d.subscriber, d.state \
             FROM (SELECT * FROM event_outbox WHERE tenant_id = $1 ORDER BY seq DESC LIMIT $2) e \
             LEFT JOIN event_deliveries d ON d.tenant_id = e.tenant_id AND d.event_seq = e.seq \
             ORDER BY e.seq DESC, d.subscriber",
        )
        .bind(tenant_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut events: Vec<StoredEvent> = Vec::new();
        for row in rows {
            let id: String = row.try_get("id")?;
            if events.last().is_none_or(|e| e.id != id) {
                events.push(StoredEvent::from_row(&row)?);
            }
            let event = events.last_mut().expect("pushed above");
            let subscriber: Option<String> = row.try_get("subscriber")?;
            let state: Option<String> = row.try_get("state")?;
            match (subscriber, state.as_deref()) {
                (Some(s), Some("dead")) => event.dead.push(s),
                (Some(s), _) => event.pending.push(s),
                _ => {}
            }
        }
        Ok(events)
    }

    /// Deletes delivered events older than `before`, in every tenant's file
    /// (SQLite) or in the table all tenants share; answers how many.
    pub async fn prune_events(&self, before: i64) -> DbResult<u64> {
        let prune = move |conn: &rusqlite::Connection| conn.execute(PRUNE, [before]);
        if let Some(per_file) = self.visit_tenant_files(true, prune).await {
            return Ok(per_file?.into_iter().map(|(_, n)| n as u64).sum());
        }
        Ok(sqlx::query(PRUNE)
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// [`Db::prune_events`] and [`Db::tenants_with_deliveries`] together, as the
    /// host starts: on SQLite each tenant's file is visited once for both, not twice.
    pub async fn prune_and_find_deliveries(
        &self,
        before: i64,
    ) -> DbResult<(u64, Vec<(String, i64)>)> {
        let both = move |conn: &rusqlite::Connection| {
            Ok((
                conn.execute(PRUNE, [before])?,
                deliveries::pending_in_file(conn)?,
            ))
        };
        if let Some(per_file) = self.visit_tenant_files(true, both).await {
            let (mut pruned, mut pending) = (0, Vec::new());
            for (_, (deleted, due)) in per_file? {
                pruned += deleted as u64;
                pending.extend(due);
            }
            return Ok((pruned, pending));
        }
        Ok((
            self.prune_events(before).await?,
            self.tenants_with_deliveries().await?,
        ))
    }
}
