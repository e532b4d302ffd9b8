//! Deliveries: which subscriber still has to handle which event, in order per
//! (tenant, subscriber, source), with retries and dead letters.

use sqlx::Row as _;

use crate::store::{Db, DbResult};

/// The tenants with a pending delivery, and when their next one is due.
const PENDING: &str = "SELECT tenant_id, MIN(next_attempt_at) AS due \
     FROM event_deliveries WHERE state = 'pending' GROUP BY tenant_id";

/// [`PENDING`] in one tenant's file, as the host's upkeep visits it.
pub(super) fn pending_in_file(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut pending = conn.prepare_cached(PENDING)?;
    let rows = pending.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// The next event of one (subscriber, source) stream, due now.
#[derive(Debug, Clone)]
pub struct Due {
    pub subscriber: String,
    pub seq: i64,
    /// Failed attempts so far.
    pub attempts: i64,
    pub event: super::StoredEvent,
}

/// How failed deliveries are retried: after `base`, doubling up to `max`, until
/// `max_attempts` have failed and the delivery becomes a dead letter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_ms: i64,
    pub max_ms: i64,
}

impl RetryPolicy {
    /// When to try again after `failed` attempts in a row.
    fn backoff_ms(&self, failed: i64) -> i64 {
        let doublings = u32::try_from(failed.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(40);
        self.base_ms.saturating_mul(1 << doublings).min(self.max_ms)
    }
}

/// A failed attempt, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Tried again at the time given.
    Retry { attempts: i64, at: i64 },
    /// Its last allowed attempt failed: now a dead letter.
    Dead { attempts: i64 },
}

/// A dead letter: a delivery given up on, kept until replayed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub tenant_id: String,
    pub subscriber: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub event: super::StoredEvent,
}

impl Db {
    /// The head of every (subscriber, source) stream of the tenant that is due at
    /// `now`: a stream whose head is waiting out a retry delivers nothing behind it.
    pub async fn due_deliveries(
        &self,
        tenant_id: &str,
        now: i64,
        limit: u32,
    ) -> DbResult<Vec<Due>> {
        let rows = sqlx::query(
            "SELECT d.subscriber, d.event_seq, d.attempts, \
                    e.id, e.source, e.kind, e.subject, e.data, e.occurred_at, e.delivered_at \
             FROM event_deliveries d JOIN event_outbox e ON e.seq = d.event_seq \
             WHERE d.tenant_id = $1 AND d.state = 'pending' AND d.next_attempt_at <= $2 \
               AND NOT EXISTS (SELECT 1 FROM event_deliveries p \
                   WHERE p.tenant_id = d.tenant_id AND p.subscriber = d.subscriber \
                     AND p.source = d.source AND p.state = 'pending' AND p.event_seq < d.event_seq) \
             ORDER BY d.event_seq LIMIT $3",
        )
        .bind(tenant_id)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Due {
                    subscriber: row.try_get("subscriber")?,
                    seq: row.try_get("event_seq")?,
                    attempts: row.try_get("attempts")?,
                    event: super::StoredEvent::from_row(row)?,
                })
            })
            .collect()
    }

    /// When each subscriber of the tenant next has a delivery due, by subscriber.
    pub async fn next_deliveries(&self, tenant_id: &str) -> DbResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT subscriber, MIN(next_attempt_at) AS due FROM event_deliveries \
             WHERE tenant_id = $1 AND state = 'pending' GROUP BY subscriber",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("subscriber")?, r.try_get("due")?)))
            .collect()
    }

    /// Tenants with a pending delivery, and when their next one is due: in every
    /// tenant's file (SQLite), or in the table all tenants share.
    pub async fn tenants_with_deliveries(&self) -> DbResult<Vec<(String, i64)>> {
        if let Some(per_file) = self.visit_tenant_files(false, pending_in_file).await {
            return Ok(per_file?.into_iter().flat_map(|(_, due)| due).collect());
        }
        let rows = sqlx::query(PENDING).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("tenant_id")?, r.try_get("due")?)))
            .collect()
    }

    /// Counts the failed attempt of a delivery, and either schedules the next one or
    /// makes it a dead letter.
    pub async fn record_delivery_failure(
        &self,
        tenant_id: &str,
        subscriber: &str,
        seq: i64,
        error: &str,
        now: i64,
        policy: &RetryPolicy,
    ) -> DbResult<Failure> {
        let mut tx = self.begin_write().await?;
        let attempts: Option<i64> = sqlx::query_scalar(
            "SELECT attempts FROM event_deliveries \
             WHERE tenant_id = $1 AND subscriber = $2 AND event_seq = $3 AND state = 'pending'",
        )
        .bind(tenant_id)
        .bind(subscriber)
        .bind(seq)
        .fetch_optional(&mut *tx.tx)
        .await?;
        // Another replica had it meanwhile, and delivered it or counted its own failure.
        let Some(attempts) = attempts.map(|a| a + 1) else {
            return Ok(Failure::Retry {
                attempts: 0,
                at: now,
            });
        };
        let failure = if attempts >= i64::from(policy.max_attempts) {
            Failure::Dead { attempts }
        } else {
            Failure::Retry {
                attempts,
                at: now + policy.backoff_ms(attempts),
            }
        };
        let (state, at) = match failure {
            Failure::Dead { .. } => ("dead", now),
            Failure::Retry { at, .. } => ("pending", at),
        };
        sqlx::query(
            "UPDATE event_deliveries SET attempts = $1, state = $2, next_attempt_at = $3, last_error = $4 \
             WHERE tenant_id = $5 AND subscriber = $6 AND event_seq = $7",
        )
        .bind(attempts)
        .bind(state)
        .bind(at)
        .bind(truncate(error, 2000))
        .bind(tenant_id)
        .bind(subscriber)
        .bind(seq)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        Ok(failure)
    }

    /// The tenant's dead letters, oldest event first.
    pub async fn dead_letters(&self, tenant_id: &str, limit: u32) -> DbResult<Vec<DeadLetter>> {
        let rows = sqlx::query(
            "SELECT d.subscriber, d.attempts, d.last_error, \
                    e.id, e.source, e.kind, e.subject, e.data, e.occurred_at, e.delivered_at \
             FROM event_deliveries d JOIN event_outbox e ON e.seq = d.event_seq \
             WHERE d.tenant_id = $1 AND d.state = 'dead' \
             ORDER BY d.event_seq, d.subscriber LIMIT $2",
        )
        .bind(tenant_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    tenant_id: tenant_id.to_owned(),
                    subscriber: row.try_get("subscriber")?,
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    event: super::StoredEvent {
                        dead: vec![row.try_get("subscriber")?],
                        ..super::StoredEvent::from_row(row)?
                    },
                })
            })
            .collect()
    }

    /// Puts the tenant's dead letters back in line, with their attempts counted
    /// afresh: all of them, or the one of (event id, subscriber). Answers how many.
    pub async fn replay_dead_letters(
        &self,
        tenant_id: &str,
        one: Option<(&str, &str)>,
        now: i64,
    ) -> DbResult<u64> {
        let mut sql = String::from(
            "UPDATE event_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1 \
             WHERE tenant_id = $2 AND state = 'dead'",
        );
        if one.is_some() {
            sql.push_str(
                " AND subscriber = $3 AND event_seq = \
                 (SELECT seq FROM event_outbox WHERE tenant_id = $2 AND id = $4)",
            );
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(tenant_id);
        if let Some((event_id, subscriber)) = one {
            query = query.bind(subscriber).bind(event_id);
        }
        let mut tx = self.begin_write().await?;
        let replayed = query.execute(&mut *tx.tx).await?.rows_affected();
        tx.commit().await?;
        Ok(replayed)
    }
}

/// Claims a delivery inside the subscriber's unit of work (PostgreSQL). The row
/// stays locked until that unit of work ends, so no other replica delivers it
/// meanwhile; false when another replica holds it or has finished it.
pub async fn claim(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    subscriber: &str,
    seq: i64,
) -> DbResult<bool> {
    let found = sqlx::query(
        "SELECT attempts FROM event_deliveries \
         WHERE tenant_id = $1 AND subscriber = $2 AND event_seq = $3 AND state = 'pending' \
         FOR UPDATE SKIP LOCKED",
    )
    .bind(tenant_id)
    .bind(subscriber)
    .bind(seq)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Removes a handled delivery; an event whose last delivery this was is delivered.
pub async fn acknowledge(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    subscriber: &str,
    seq: i64,
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "DELETE FROM event_deliveries WHERE tenant_id = $1 AND subscriber = $2 AND event_seq = $3",
    )
    .bind(tenant_id)
    .bind(subscriber)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE event_outbox SET delivered_at = $1 WHERE seq = $2 \
         AND NOT EXISTS (SELECT 1 FROM event_deliveries WHERE tenant_id = $3 AND event_seq = $2)",
    )
    .bind(now)
    .bind(seq)
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(())
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
