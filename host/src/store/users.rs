//! Accounts. Tenant users and platform users live in separate tables; [`Realm`]
//! says which one a query is for. Their login sessions are in `sessions.rs`.

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

    pub(super) fn table(self) -> &'static str {
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
            "SELECT id, email, full_name, {role}, password_hash, active FROM {} \
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

    /// Creates an invited tenant account, its invitation and the audit row in one
    /// transaction, unless the tenant has `max` users already (`Err(used)`); false
    /// if the email is taken. Two at once take turns on PostgreSQL, so both cannot
    /// take the last place.
    pub async fn invite_tenant_account(
        &self,
        tenant_id: &str,
        new: &NewAccount<'_>,
        max: Option<i64>,
        invitation: &super::TokenMail<'_>,
        audit: &super::AuditEntry<'_>,
    ) -> DbResult<Result<bool, i64>> {
        let mut w = self.begin_write().await?;
        if let Some(max) = max {
            if self.dialect == super::Dialect::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(super::advisory_key(&["users", tenant_id]))
                    .execute(&mut *w.tx)
                    .await?;
            }
            let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_one(&mut *w.tx)
                .await?;
            if used >= max {
                return Ok(Err(used));
            }
        }
        if !insert_account(&mut w.tx, Realm::Tenant(tenant_id), new).await? {
            return Ok(Ok(false));
        }
        let now = super::now_ms();
        invitation.insert(&mut w.tx, now).await?;
        audit.insert(&mut w.tx, self.audit_key()?, now).await?;
        w.commit().await?;
        Ok(Ok(true))
    }

    /// Counts one more failed-or-pending login of the account from `client`, unless
    /// that client is locked out of it: the failures so far, or none when locked.
    pub async fn reserve_login_attempt(
        &self,
        account_id: &str,
        client: &str,
        now: i64,
    ) -> DbResult<Option<i64>> {
        let row = sqlx::query(
            "INSERT INTO login_failures (account_id, client, failures, locked_until, updated_at) \
             VALUES ($1, $2, 1, NULL, $3) \
             ON CONFLICT (account_id, client) DO UPDATE \
             SET failures = login_failures.failures + 1, locked_until = NULL, updated_at = $3 \
             WHERE login_failures.locked_until IS NULL OR login_failures.locked_until <= $3 \
             RETURNING failures",
        )
        .bind(account_id)
        .bind(client)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    /// Until when `client` is locked out of the account, if it is.
    pub async fn login_locked_until(
        &self,
        account_id: &str,
        client: &str,
    ) -> DbResult<Option<i64>> {
        let until: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT locked_until FROM login_failures WHERE account_id = $1 AND client = $2",
        )
        .bind(account_id)
        .bind(client)
        .fetch_optional(&self.pool)
        .await?;
        Ok(until.flatten())
    }

    /// Locks `client` out of the account until `until`; its count starts again.
    pub async fn lock_login(&self, account_id: &str, client: &str, until: i64) -> DbResult<()> {
        sqlx::query(
            "UPDATE login_failures SET locked_until = $1, failures = 0 \
             WHERE account_id = $2 AND client = $3",
        )
        .bind(until)
        .bind(account_id)
        .bind(client)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Clears the account's failures from `client` after a successful login, or
    /// from every client after a password reset.
    pub async fn clear_login_failures(
        &self,
        account_id: &str,
        client: Option<&str>,
    ) -> DbResult<()> {
        let query = match client {
            Some(client) => {
                sqlx::query("DELETE FROM login_failures WHERE account_id = $1 AND client = $2")
                    .bind(account_id)
                    .bind(client)
            }
            None => {
                sqlx::query("DELETE FROM login_failures WHERE account_id = $1").bind(account_id)
            }
        };
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// Forgets counts untouched since `before` that lock nobody out any more.
    pub async fn forget_login_failures(&self, before: i64, now: i64) -> DbResult<u64> {
        Ok(sqlx::query(
            "DELETE FROM login_failures WHERE updated_at < $1 \
             AND (locked_until IS NULL OR locked_until <= $2)",
        )
        .bind(before)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected())
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

    /// A tenant's users, by email.
    pub async fn tenant_accounts(&self, tenant_id: &str) -> DbResult<Vec<Account>> {
        sqlx::query(
            "SELECT id, email, full_name, role, password_hash, active FROM users \
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
            super::sessions::revoke_user_sessions(&mut w.tx, id, None, now).await?;
        }
        audit.insert(&mut w.tx, self.audit_key()?, now).await?;
        w.commit().await
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
