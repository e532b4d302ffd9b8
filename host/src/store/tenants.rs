//! Tenants, their domains and which modules they have enabled.

use sqlx::{AssertSqlSafe, Row};

use super::{Db, DbResult, now_ms};
use crate::tenancy::{Tenant, TenantStatus};

const TENANT_COLUMNS: &str = "id, name, subdomain, status, plan, timezone, generation";

fn tenant(row: &sqlx::any::AnyRow) -> DbResult<Tenant> {
    let status: String = row.try_get(3)?;
    Ok(Tenant {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        subdomain: row.try_get(2)?,
        status: status.parse().unwrap_or(TenantStatus::Suspended),
        plan: row.try_get(4)?,
        timezone: row.try_get(5)?,
        generation: row.try_get(6)?,
    })
}

/// Whether a tenant row was written or its subdomain was taken.
pub enum Created {
    Yes,
    SubdomainTaken,
}

impl Db {
    pub async fn tenant_by_id(&self, id: &str) -> DbResult<Option<Tenant>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant).transpose()
    }

    pub async fn tenant_by_subdomain(&self, subdomain: &str) -> DbResult<Option<Tenant>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE subdomain = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(subdomain)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant).transpose()
    }

    pub async fn count_tenants(&self) -> DbResult<i64> {
        sqlx::query("SELECT COUNT(*) FROM tenants")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)
    }

    /// Creates a tenant with `modules` enabled and, if given, its first admin, in one
    /// transaction.
    pub async fn create_tenant(
        &self,
        tenant: &Tenant,
        modules: &[String],
        admin: Option<&super::NewAccount<'_>>,
    ) -> DbResult<Created> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO tenants (id, name, subdomain, status, plan, timezone, generation, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(&tenant.subdomain)
        .bind(tenant.status.as_str())
        .bind(&tenant.plan)
        .bind(&tenant.timezone)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(Created::SubdomainTaken);
        }
        for key in modules {
            set_module(&mut w.tx, &tenant.id, key, true, now).await?;
        }
        if let Some(admin) = admin {
            super::users::insert_account(&mut w.tx, super::Realm::Tenant(&tenant.id), admin)
                .await?;
        }
        w.commit().await?;
        Ok(Created::Yes)
    }

    pub async fn add_tenant_domain(&self, tenant_id: &str, domain: &str) -> DbResult<()> {
        sqlx::query("INSERT INTO tenant_domains (domain, tenant_id) VALUES ($1, $2)")
            .bind(domain)
            .bind(tenant_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The module keys enabled for a tenant.
    pub async fn enabled_modules(&self, tenant_id: &str) -> DbResult<Vec<String>> {
        sqlx::query("SELECT module_key FROM tenant_modules WHERE tenant_id = $1 AND enabled = 1")
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
    }

    /// Moves a tenant from one state to another, with its audit row, in one
    /// transaction. False when the tenant was not in state `from`.
    pub async fn transition_tenant(
        &self,
        tenant_id: &str,
        from: TenantStatus,
        to: TenantStatus,
        audit: super::AuditEntry<'_>,
    ) -> DbResult<bool> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE tenants SET status = $1, generation = generation + 1, updated_at = $2 \
             WHERE id = $3 AND status = $4",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(tenant_id)
        .bind(from.as_str())
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        audit.insert(&mut w.tx, now).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Switches a module for a tenant, bumps the tenant's generation and writes the
    /// audit row, all in one transaction. Returns whether it was enabled before.
    pub async fn toggle_module(
        &self,
        tenant_id: &str,
        module: &str,
        enabled: bool,
        audit: super::AuditEntry<'_>,
    ) -> DbResult<bool> {
        let mut w = self.begin_write().await?;
        let before = sqlx::query(
            "SELECT enabled FROM tenant_modules WHERE tenant_id = $1 AND module_key = $2",
        )
        .bind(tenant_id)
        .bind(module)
        .fetch_optional(&mut *w.tx)
        .await?
        .map(|r| r.try_get::<i64, _>(0))
        .transpose()?
            == Some(1);
        let now = now_ms();
        set_module(&mut w.tx, tenant_id, module, enabled, now).await?;
        sqlx::query(
            "UPDATE tenants SET generation = generation + 1, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(tenant_id)
        .execute(&mut *w.tx)
        .await?;
        audit.insert(&mut w.tx, now).await?;
        w.commit().await?;
        Ok(before)
    }
}

async fn set_module(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    module: &str,
    enabled: bool,
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO tenant_modules (tenant_id, module_key, enabled, settings, updated_at) \
         VALUES ($1, $2, $3, '{}', $4) \
         ON CONFLICT (tenant_id, module_key) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
    )
    .bind(tenant_id)
    .bind(module)
    .bind(i64::from(enabled))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

impl Db {
    pub async fn all_tenant_domains(&self) -> DbResult<Vec<(String, String)>> {
        sqlx::query("SELECT domain, tenant_id FROM tenant_domains")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

/// A module's settings for a tenant, as a JSON object (`{}` when none were set). Takes
/// a connection so a request can read inside its own transaction.
pub async fn module_settings(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    module: &str,
) -> DbResult<String> {
    let row =
        sqlx::query("SELECT settings FROM tenant_modules WHERE tenant_id = $1 AND module_key = $2")
            .bind(tenant_id)
            .bind(module)
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some(r) => r.try_get(0)?,
        None => "{}".to_owned(),
    })
}
