//! Accounts and refresh tokens. Tenant users and platform users live in separate
//! tables; [`Realm`] says which one a query is for.

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{Db, DbResult, now_ms};

/// Which accounts: a tenant's users, or the platform's.
#[derive(Debug, Clone, Copy)]
pub enum Realm<'a> {
    Tenant(&'a str),
    Platform,
}

impl<'a> Realm<'a> {
    /// A tenant's users, or the platform's when there is no tenant.
    pub fn of(tenant_id: Option<&'a str>) -> Self {
        tenant_id.map_or(Realm::Platform, Realm::Tenant)
    }

    fn table(self) -> &'static str {
        match self {
            Realm::Tenant(_) => "users",
            Realm::Platform => "platform_users",
        }
    }

    /// The tenant whose users these are; none for the platform's.
    pub fn tenant(self) -> Option<&'a str> {
        match self {
            Realm::Tenant(id) => Some(id),
            Realm::Platform => None,
        }
    }
}

/// An account as login needs it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub tenant_id: Option<String>,
    pub email: String,
    pub full_name: String,
    /// `TENANT_ADMIN`, `MANAGER`, `MEMBER`; `SUPER_ADMIN` for platform users.
    pub role: String,
    pub password_hash: String,
    pub active: bool,
    pub locked_until: Option<i64>,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub full_name: &'a str,
    pub role: &'a str,
    pub password_hash: &'a str,
}

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

impl Account {
    /// The realm the account lives in.
    pub fn realm(&self) -> Realm<'_> {
        Realm::of(self.tenant_id.as_deref())
    }
}

fn account(row: &sqlx::any::AnyRow, tenant_id: Option<String>) -> DbResult<Account> {
    Ok(Account {
        id: row.try_get(0)?,
        tenant_id,
        email: row.try_get(1)?,
        full_name: row.try_get(2)?,
        role: row.try_get(3)?,
        password_hash: row.try_get(4)?,
        active: row.try_get::<i64, _>(5)? == 1,
        locked_until: row.try_get(6)?,
    })
}

impl Db {
    pub async fn account_by_email(
        &self,
        realm: Realm<'_>,
        email: &str,
    ) -> DbResult<Option<Account>> {
        self.account_where(realm, "email", email).await
    }

    pub async fn account_by_id(&self, realm: Realm<'_>, id: &str) -> DbResult<Option<Account>> {
        self.account_where(realm, "id", id).await
    }

    async fn account_where(
        &self,
        realm: Realm<'_>,
        column: &str,
        value: &str,
    ) -> DbResult<Option<Account>> {
        let (role, tenant_filter) = match realm {
            Realm::Tenant(_) => ("role", " AND tenant_id = $2"),
            Realm::Platform => ("'SUPER_ADMIN'", ""),
        };
        let sql = format!(
            "SELECT id, email, full_name, {role}, password_hash, active, locked_until FROM {} \
             WHERE {column} = $1{tenant_filter}",
            realm.table()
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(value);
        if let Realm::Tenant(tenant_id) = realm {
            query = query.bind(tenant_id);
        }
        let row = query.fetch_optional(&self.pool).await?;
        row.map(|r| account(&r, realm.tenant().map(str::to_owned)))
            .transpose()
    }

    /// Creates an account; false if the email is taken in the realm.
    pub async fn insert_account(&self, realm: Realm<'_>, new: &NewAccount<'_>) -> DbResult<bool> {
        let mut conn = self.pool.acquire().await?;
        insert_account(&mut conn, realm, new).await
    }

    /// Reserves one login attempt before the password is checked, so concurrent
    /// guesses cannot all slip past the limit. None when the account is locked; else
    /// the number of failures in a row, this attempt included.
    pub async fn reserve_login_attempt(
        &self,
        realm: Realm<'_>,
        id: &str,
        now: i64,
    ) -> DbResult<Option<i64>> {
        let sql = format!(
            "UPDATE {} SET failed_logins = failed_logins + 1 \
             WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2) RETURNING failed_logins",
            realm.table()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    /// Locks an account until `until`; the failure count starts again.
    pub async fn lock_account(&self, realm: Realm<'_>, id: &str, until: i64) -> DbResult<()> {
        let sql = format!(
            "UPDATE {} SET locked_until = $1, failed_logins = 0 WHERE id = $2",
            realm.table()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(until)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Clears the failure count after a successful login or a password reset.
    pub async fn record_login_success(&self, realm: Realm<'_>, id: &str) -> DbResult<()> {
        let sql = format!(
            "UPDATE {} SET failed_logins = 0, locked_until = NULL WHERE id = $1",
            realm.table()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

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

    pub async fn set_password(
        &self,
        realm: Realm<'_>,
        id: &str,
        password_hash: &str,
    ) -> DbResult<()> {
        self.set_account_text(realm, id, "password_hash", password_hash)
            .await
    }

    pub async fn set_full_name(&self, realm: Realm<'_>, id: &str, full_name: &str) -> DbResult<()> {
        self.set_account_text(realm, id, "full_name", full_name)
            .await
    }

    async fn set_account_text(
        &self,
        realm: Realm<'_>,
        id: &str,
        column: &'static str,
        value: &str,
    ) -> DbResult<()> {
        let sql = format!(
            "UPDATE {} SET {column} = $1, updated_at = $2 WHERE id = $3",
            realm.table()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(value)
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes every session of a user but `keep` (a refresh-token family), and
    /// every reset or invitation token still waiting for them.
    pub async fn revoke_user_sessions(&self, user_id: &str, keep: Option<&str>) -> DbResult<()> {
        let mut conn = self.pool.acquire().await?;
        revoke_user_sessions(&mut conn, user_id, keep, now_ms()).await
    }

    /// A tenant's users, by email.
    pub async fn tenant_accounts(&self, tenant_id: &str) -> DbResult<Vec<Account>> {
        sqlx::query(
            "SELECT id, email, full_name, role, password_hash, active, locked_until FROM users \
             WHERE tenant_id = $1 ORDER BY email",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| account(r, Some(tenant_id.to_owned())))
        .collect()
    }

    /// Sets a tenant user's role and active flag, with its audit row, in one
    /// transaction; deactivating also ends every session of the user in it.
    pub async fn update_tenant_account(
        &self,
        tenant_id: &str,
        id: &str,
        role: &str,
        active: bool,
        audit: super::AuditEntry<'_>,
    ) -> DbResult<()> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE users SET role = $1, active = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5",
        )
        .bind(role)
        .bind(i64::from(active))
        .bind(now)
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
        if !active {
            revoke_user_sessions(&mut w.tx, id, None, now).await?;
        }
        audit.insert(&mut w.tx, now).await?;
        w.commit().await
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

pub(super) async fn insert_account(
    conn: &mut AnyConnection,
    realm: Realm<'_>,
    new: &NewAccount<'_>,
) -> DbResult<bool> {
    let now = now_ms();
    let done = match realm {
        Realm::Tenant(tenant_id) => {
            sqlx::query(
                "INSERT INTO users (tenant_id, id, email, full_name, role, password_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING",
            )
            .bind(tenant_id)
            .bind(new.id)
            .bind(new.email)
            .bind(new.full_name)
            .bind(new.role)
            .bind(new.password_hash)
            .bind(now)
            .execute(conn)
            .await?
        }
        Realm::Platform => {
            sqlx::query(
                "INSERT INTO platform_users (id, email, full_name, password_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
            )
            .bind(new.id)
            .bind(new.email)
            .bind(new.full_name)
            .bind(new.password_hash)
            .bind(now)
            .execute(conn)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

/// Revokes every session of a user but `keep`, and their waiting one-time tokens,
/// on `conn` (inside its transaction, if it has one).
async fn revoke_user_sessions(
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
