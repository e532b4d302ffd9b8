//! The event outbox: events are written with the unit of work that emitted them.

use super::DbResult;

/// An event as stored.
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

impl OutboxEvent<'_> {
    pub async fn insert(&self, conn: &mut sqlx::AnyConnection) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO event_outbox (tenant_id, id, source, kind, subject, data, occurred_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.tenant_id)
        .bind(self.id)
        .bind(self.source)
        .bind(self.kind)
        .bind(self.subject)
        .bind(self.data)
        .bind(self.occurred_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}
