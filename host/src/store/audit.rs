//! The append-only audit log. There is deliberately no update or delete here.

use super::{Db, DbResult, now_ms};

/// One audited action: who did what to which target, with the state before and after.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub tenant_id: Option<&'a str>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub before: Option<String>,
    pub after: Option<String>,
    pub request_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl AuditEntry<'_> {
    /// Appends the row inside the caller's transaction, so it exists exactly when the
    /// change it describes does.
    pub(super) async fn insert(&self, conn: &mut sqlx::AnyConnection, at: i64) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (tenant_id, actor, action, target, before, after, request_id, at, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(self.tenant_id)
        .bind(self.actor)
        .bind(self.action)
        .bind(self.target)
        .bind(self.before.as_deref())
        .bind(self.after.as_deref())
        .bind(self.request_id)
        .bind(at)
        .bind(self.ip)
        .bind(self.user_agent)
        .execute(conn)
        .await?;
        Ok(())
    }
}

impl Db {
    /// Appends an entry on its own (for actions that change nothing else).
    pub async fn append_audit(&self, entry: &AuditEntry<'_>) -> DbResult<()> {
        let mut conn = self.pool.acquire().await?;
        entry.insert(&mut conn, now_ms()).await
    }
}
