//! The append-only audit log. There is deliberately no update or delete here: each
//! row carries a keyed hash of its content chained to the previous row's hash
//! (`audit_chain.rs`), so `mosaic audit verify` finds any row altered or removed
//! behind the code's back.

use serde::Serialize;
use sqlx::Row;

use super::audit_chain::{self, AuditKey, RowContent};
use super::{Db, DbResult, now_ms};

/// Key of the PostgreSQL advisory lock that makes appends take turns: each new row
/// must see the hash of the one before it. (SQLite writers already take turns.)
const AUDIT_CHAIN_LOCK: i64 = 0x6d6f_7361_6963_0001;

/// The most of an actor, a target and a user agent an audit row keeps, in bytes
/// (an email is at most 254; a target names a tenant and a key or two).
const MAX_ACTOR: usize = 320;
const MAX_TARGET: usize = 512;
const MAX_USER_AGENT: usize = 256;

/// `text` cut to at most `max` bytes on a character boundary, marked with `…` when cut.
fn capped(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// Where a request came from, as the audit log records it; empty for the CLI and
/// background work.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// One audited action: who did what to which target, from where, with the state
/// before and after. Made with [`AuditEntry::new`].
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub tenant_id: Option<&'a str>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub before: Option<String>,
    pub after: Option<String>,
    pub origin: &'a Origin,
}

impl<'a> AuditEntry<'a> {
    /// `actor` (`user:<id>`, `cli:<login>`, ...) did `action` to `target`, in
    /// `tenant_id` or on the platform.
    pub fn new(
        origin: &'a Origin,
        actor: &'a str,
        tenant_id: Option<&'a str>,
        action: &'a str,
        target: &'a str,
    ) -> Self {
        Self {
            tenant_id,
            actor,
            action,
            target,
            before: None,
            after: None,
            origin,
        }
    }

    /// The target's state before the action, as JSON.
    pub fn before(mut self, state: &impl Serialize) -> Self {
        self.record_before(state);
        self
    }

    /// Records the target's state before the action, as read by the transaction
    /// that changes it.
    pub fn record_before(&mut self, state: &impl Serialize) {
        self.before = Some(serde_json::to_string(state).unwrap_or_default());
    }

    /// The target's state after the action, as JSON.
    pub fn after(mut self, state: &impl Serialize) -> Self {
        self.after = Some(serde_json::to_string(state).unwrap_or_default());
        self
    }
}

impl AuditEntry<'_> {
    /// Appends the row inside the caller's write transaction, so it exists exactly
    /// when the change it describes does.
    pub(super) async fn insert(
        &self,
        conn: &mut sqlx::AnyConnection,
        key: &AuditKey,
        at: i64,
    ) -> DbResult<()> {
        if conn.backend_name() == "PostgreSQL" {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(AUDIT_CHAIN_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        let seal = audit_chain::seal(conn).await?;
        audit_chain::check_key(seal.as_ref(), key)?;
        let prev_hash: Option<String> =
            sqlx::query("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?
                .map(|row| row.try_get(0))
                .transpose()?
                .flatten();
        // What a request's sender chose (an email typed at a login, a user agent) is
        // stored only up to a size, so no request can grow the log at will.
        let actor = capped(self.actor, MAX_ACTOR);
        let target = capped(self.target, MAX_TARGET);
        let user_agent = self
            .origin
            .user_agent
            .as_deref()
            .map(|ua| capped(ua, MAX_USER_AGENT));
        let hash = RowContent {
            prev_hash: prev_hash.as_deref(),
            tenant_id: self.tenant_id,
            actor: &actor,
            action: self.action,
            target: &target,
            before: self.before.as_deref(),
            after: self.after.as_deref(),
            request_id: self.origin.request_id.as_deref(),
            ip: self.origin.ip.as_deref(),
            user_agent: user_agent.as_deref(),
            at,
        }
        .sealed_hash(key);
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO audit_log (tenant_id, actor, action, target, before, after, request_id, at, ip, user_agent, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq",
        )
        .bind(self.tenant_id)
        .bind(&*actor)
        .bind(self.action)
        .bind(&*target)
        .bind(self.before.as_deref())
        .bind(self.after.as_deref())
        .bind(self.origin.request_id.as_deref())
        .bind(at)
        .bind(self.origin.ip.as_deref())
        .bind(user_agent.as_deref())
        .bind(prev_hash)
        .bind(hash)
        .fetch_one(&mut *conn)
        .await?;
        if seal.is_none() {
            audit_chain::record_seal(conn, seq, key, at).await?;
        }
        Ok(())
    }
}

/// A stored audit row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub seq: i64,
    pub tenant_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub at: i64,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// Which rows `Db::audit_page` returns, newest first.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub tenant_id: Option<String>,
    pub actor: Option<String>,
    /// An exact action, or a prefix ending in `.` (`tenant.` for every tenant action).
    pub action: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Rows older than this sequence number (the previous page's `next`).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

pub(super) const AUDIT_COLUMNS: &str = "seq, tenant_id, actor, action, target, before, after, request_id, ip, user_agent, at, prev_hash, hash";

pub(super) fn audit_record(row: &sqlx::any::AnyRow) -> DbResult<AuditRecord> {
    let json = |i: usize| -> DbResult<Option<serde_json::Value>> {
        let text: Option<String> = row.try_get(i)?;
        Ok(text.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t))))
    };
    Ok(AuditRecord {
        seq: row.try_get(0)?,
        tenant_id: row.try_get(1)?,
        actor: row.try_get(2)?,
        action: row.try_get(3)?,
        target: row.try_get(4)?,
        before: json(5)?,
        after: json(6)?,
        request_id: row.try_get(7)?,
        ip: row.try_get(8)?,
        user_agent: row.try_get(9)?,
        at: row.try_get(10)?,
        prev_hash: row.try_get(11)?,
        hash: row.try_get(12)?,
    })
}

impl Db {
    /// Appends an entry on its own (for actions that change nothing else).
    pub async fn append_audit(&self, entry: &AuditEntry<'_>) -> DbResult<()> {
        let mut w = self.begin_write().await?;
        entry.insert(&mut w.tx, self.audit_key()?, now_ms()).await?;
        w.commit().await
    }

    /// One page of the log, newest first.
    pub async fn audit_page(&self, filter: &AuditFilter) -> DbResult<Vec<AuditRecord>> {
        enum Bind<'a> {
            Text(&'a str),
            Int(i64),
        }
        let mut conditions: Vec<(std::borrow::Cow<'_, str>, Bind<'_>)> = Vec::new();
        if let Some(tenant) = &filter.tenant_id {
            conditions.push(("tenant_id =".into(), Bind::Text(tenant)));
        }
        if let Some(actor) = &filter.actor {
            conditions.push(("actor =".into(), Bind::Text(actor)));
        }
        match filter.action.as_deref() {
            // `tenant.` matches `tenant.approve` etc. Compared character for
            // character, not as a range, whose bounds a database's collation orders
            // as it likes (one that ignores punctuation puts `tenant.approve` after
            // `tenant/`).
            Some(prefix) if prefix.ends_with('.') => {
                let length = prefix.chars().count();
                conditions.push((
                    format!("substr(action, 1, {length}) =").into(),
                    Bind::Text(prefix),
                ));
            }
            Some(action) => conditions.push(("action =".into(), Bind::Text(action))),
            None => {}
        }
        if let Some(since) = filter.since_ms {
            conditions.push(("at >=".into(), Bind::Int(since)));
        }
        if let Some(until) = filter.until_ms {
            conditions.push(("at <".into(), Bind::Int(until)));
        }
        if let Some(before) = filter.before_seq {
            conditions.push(("seq <".into(), Bind::Int(before)));
        }
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1");
        for (i, (condition, _)) in conditions.iter().enumerate() {
            sql.push_str(&format!(" AND {condition} ${}", i + 1));
        }
        sql.push_str(&format!(
            " ORDER BY seq DESC LIMIT ${}",
            conditions.len() + 1
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (_, value) in conditions {
            query = match value {
                Bind::Text(v) => query.bind(v),
                Bind::Int(v) => query.bind(v),
            };
        }
        query
            .bind(filter.limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_record)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::capped;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(capped("short", 10), "short");
        let long = "é".repeat(400);
        let cut = capped(&long, 320);
        assert!(cut.len() <= 320 && cut.ends_with('…'), "{}", cut.len());
    }
}
