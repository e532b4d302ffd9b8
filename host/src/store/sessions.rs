//! Login sessions: single-use refresh tokens grouped in families (one family a
//! session), and the revocations that end them.

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{Db, DbResult, Realm, now_ms};

/// Why a session token no longer speaks for its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionProblem {
    Deactivated,
    Revoked,
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum RefreshUse {
    /// Unused and unrevoked: now used up.
    Fresh {
        family_id: String,
        user_id: String,
        tenant_id: Option<String>,
        expires_at: i64,
    },
    /// Used or revoked before: a replay. Carries the session to revoke.
    Replayed {
        family_id: String,
        user_id: String,
        tenant_id: Option<String>,
    },
    Unknown,
}

impl Db {
    pub async fn insert_refresh_token(
        &self,
        token_hash: &str,
        family_id: &str,
        user_id: &str,
        tenant_id: Option<&str>,
        expires_at: i64,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, tenant_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(family_id)
        .bind(user_id)
        .bind(tenant_id)
        .bind(expires_at)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Uses a refresh token up, atomically: of two concurrent uses, one is `Fresh` and
    /// the other `Replayed`.
    pub async fn use_refresh_token(&self, token_hash: &str) -> DbResult<RefreshUse> {
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL \
             RETURNING family_id, user_id, tenant_id, expires_at",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return Ok(RefreshUse::Fresh {
                family_id: row.try_get(0)?,
                user_id: row.try_get(1)?,
                tenant_id: row.try_get(2)?,
                expires_at: row.try_get(3)?,
            });
        }
        let family = sqlx::query(
            "SELECT family_id, user_id, tenant_id FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match family {
            Some(row) => RefreshUse::Replayed {
                family_id: row.try_get(0)?,
                user_id: row.try_get(1)?,
                tenant_id: row.try_get(2)?,
            },
            None => RefreshUse::Unknown,
        })
    }

    /// Revokes a session: recorded first, then its tokens marked.
    pub async fn revoke_refresh_family(&self, family_id: &str) -> DbResult<()> {
        let now = now_ms();
        sqlx::query("INSERT INTO revoked_sessions (family_id, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(family_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// For a request carrying a session token: the account's role if the account is
    /// active and the session not revoked, in one read.
    pub async fn live_session_role(
        &self,
        realm: Realm<'_>,
        user_id: &str,
        family_id: &str,
    ) -> DbResult<Result<String, SessionProblem>> {
        let (role, tenant_filter) = match realm {
            Realm::Tenant(_) => ("role", " AND tenant_id = $3"),
            Realm::Platform => ("'SUPER_ADMIN'", ""),
        };
        let sql = format!(
            "SELECT active, {role}, EXISTS (SELECT 1 FROM revoked_sessions WHERE family_id = $2) \
             FROM {} WHERE id = $1{tenant_filter}",
            realm.table()
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(user_id)
            .bind(family_id);
        if let Realm::Tenant(tenant_id) = realm {
            query = query.bind(tenant_id);
        }
        let Some(row) = query.fetch_optional(&self.pool).await? else {
            return Ok(Err(SessionProblem::Deactivated));
        };
        Ok(if row.try_get::<i64, _>(0)? != 1 {
            Err(SessionProblem::Deactivated)
        } else if row
            .try_get::<bool, _>(2)
            .or_else(|_| row.try_get::<i64, _>(2).map(|v| v != 0))?
        {
            Err(SessionProblem::Revoked)
        } else {
            Ok(row.try_get(1)?)
        })
    }

    /// Whether a session has been revoked.
    pub async fn session_revoked(&self, family_id: &str) -> DbResult<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM revoked_sessions WHERE family_id = $1")
                .bind(family_id)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Revokes every session of a user but `keep` (a refresh-token family), and
    /// every reset or invitation token still waiting for them.
    pub async fn revoke_user_sessions(&self, user_id: &str, keep: Option<&str>) -> DbResult<()> {
        let mut conn = self.pool.acquire().await?;
        revoke_user_sessions(&mut conn, user_id, keep, now_ms()).await
    }

    /// The session (family), user and tenant of a refresh token, if it is known.
    pub async fn session_of(
        &self,
        token_hash: &str,
    ) -> DbResult<Option<(String, String, Option<String>)>> {
        sqlx::query(
            "SELECT family_id, user_id, tenant_id FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()
    }
}

/// Revokes every session of a user but `keep`, and their waiting one-time tokens,
/// on `conn` (inside its transaction, if it has one).
pub(super) async fn revoke_user_sessions(
    conn: &mut AnyConnection,
    user_id: &str,
    keep: Option<&str>,
    now: i64,
) -> DbResult<()> {
    let keep = keep.unwrap_or_default();
    sqlx::query(
        "INSERT INTO revoked_sessions (family_id, revoked_at) \
         SELECT DISTINCT family_id, $1 FROM refresh_tokens WHERE user_id = $2 AND family_id <> $3 \
         ON CONFLICT DO NOTHING",
    )
    .bind(now)
    .bind(user_id)
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 \
         WHERE user_id = $2 AND revoked_at IS NULL AND family_id <> $3",
    )
    .bind(now)
    .bind(user_id)
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}
