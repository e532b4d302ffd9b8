//! The append-only audit log. There is deliberately no update or delete here.

use super::DbResult;

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
}

impl AuditEntry<'_> {
    /// Appends the row inside the caller's transaction, so it exists exactly when the
    /// change it describes does.
    pub(super) async fn insert(&self, conn: &mut sqlx::AnyConnection, at: i64) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (tenant_id, actor, action, target, before, after, request_id, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.tenant_id)
        .bind(self.actor)
        .bind(self.action)
        .bind(self.target)
        .bind(self.before.as_deref())
        .bind(self.after.as_deref())
        .bind(self.request_id)
        .bind(at)
        .execute(conn)
        .await?;
        Ok(())
    }
}
