//! Which modules a tenant has switched on, and their settings.

use std::convert::Infallible;

use sqlx::Row;

use super::Announce;
use crate::store::{AuditEntry, Db, DbResult};

impl Db {
    /// The module keys enabled for a tenant, each with the version it is pinned to.
    pub async fn enabled_modules(
        &self,
        tenant_id: &str,
    ) -> DbResult<Vec<(String, Option<String>)>> {
        sqlx::query(
            "SELECT module_key, pinned_version FROM tenant_modules \
             WHERE tenant_id = $1 AND enabled = 1",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }

    /// Every tenant's enabled modules: (tenant, module key, pinned version).
    pub async fn all_enabled_modules(&self) -> DbResult<Vec<(String, String, Option<String>)>> {
        sqlx::query(
            "SELECT tenant_id, module_key, pinned_version FROM tenant_modules WHERE enabled = 1",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
    }

    /// Switches a module for a tenant, bumps the tenant's generation and writes the
    /// audit row, all in one transaction. Returns whether it was enabled before, or
    /// the tenant's plan when `allowed_plans` (the plans that include the module, for
    /// a module that is sold) does not name it: read in the same transaction as the
    /// switch, so a plan change at the same moment cannot slip between the two.
    pub async fn toggle_module(
        &self,
        tenant_id: &str,
        module: &str,
        enabled: bool,
        allowed_plans: Option<&[String]>,
        audit: AuditEntry<'_>,
    ) -> DbResult<Result<bool, String>> {
        self.change_tenant(
            tenant_id,
            Announce::Touch,
            audit,
            async |conn, now, found| {
                if let Some(allowed) = allowed_plans {
                    let plan = super::plan_changes::plan_for_update(conn, tenant_id).await?;
                    if !allowed.contains(&plan) {
                        return Ok(Err(plan));
                    }
                }
                let before = sqlx::query(
                    "SELECT enabled FROM tenant_modules WHERE tenant_id = $1 AND module_key = $2",
                )
                .bind(tenant_id)
                .bind(module)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get::<i64, _>(0))
                .transpose()?
                    == Some(1);
                found.record(serde_json::json!({"enabled": before}));
                set_module(conn, tenant_id, module, enabled, now).await?;
                Ok(Ok(before))
            },
        )
        .await
    }

    /// Holds the tenant on `version` of `module` (`None`: back to the current), if it
    /// has the module enabled; false if it has not.
    pub async fn pin_module_version(
        &self,
        tenant_id: &str,
        module: &str,
        version: Option<&str>,
        audit: AuditEntry<'_>,
    ) -> DbResult<bool> {
        let pinned = self
            .change_tenant(tenant_id, Announce::Touch, audit, async |conn, now, found| {
                // Every replica loads the versions tenants are pinned to: they follow
                // the catalog. (The catalog row first, as every catalog change takes it.)
                crate::store::packages::bump_catalog(conn).await?;
                let before: Option<String> = sqlx::query(
                    "SELECT pinned_version FROM tenant_modules WHERE tenant_id = $1 AND module_key = $2",
                )
                .bind(tenant_id)
                .bind(module)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
                .flatten();
                found.record(serde_json::json!({"pinned_version": before}));
                let changed = sqlx::query(
                    "UPDATE tenant_modules SET pinned_version = $3, updated_at = $4 \
                     WHERE tenant_id = $1 AND module_key = $2 AND enabled = 1",
                )
                .bind(tenant_id)
                .bind(module)
                .bind(version)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok(if changed == 1 { Ok(()) } else { Err(()) })
            })
            .await?;
        Ok(pinned.is_ok())
    }

    /// Writes the audit row of a change made to the tenant's module data (a replay
    /// of dead letters, say) and bumps its generation, so that every replica, and a
    /// host serving the same SQLite file, looks at the tenant again.
    pub async fn announce_tenant_change(
        &self,
        tenant_id: &str,
        audit: AuditEntry<'_>,
    ) -> DbResult<()> {
        let announced = self
            .change_tenant(tenant_id, Announce::Touch, audit, async |_, _, _| {
                Ok(Ok::<_, Infallible>(()))
            })
            .await?;
        let Ok(()) = announced;
        Ok(())
    }

    /// A module's settings for a tenant, as a JSON object (`{}` when none were set).
    pub async fn module_settings(&self, tenant_id: &str, module: &str) -> DbResult<String> {
        let mut conn = self.pool.acquire().await?;
        module_settings(&mut conn, tenant_id, module).await
    }

    /// Replaces a module's settings for a tenant (whether or not it is enabled), with
    /// the audit row, in one transaction. Modules read their settings on every call,
    /// so the next call sees them.
    pub async fn set_module_settings(
        &self,
        tenant_id: &str,
        module: &str,
        settings: &str,
        audit: AuditEntry<'_>,
    ) -> DbResult<()> {
        let written = self
            .change_tenant(tenant_id, Announce::Touch, audit, async |conn, now, found| {
                let before = module_settings(conn, tenant_id, module).await?;
                found.record(
                    serde_json::from_str(&before).unwrap_or_else(|_| serde_json::json!({})),
                );
                sqlx::query(
                    "INSERT INTO tenant_modules (tenant_id, module_key, enabled, settings, updated_at) \
                     VALUES ($1, $2, 0, $3, $4) \
                     ON CONFLICT (tenant_id, module_key) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
                )
                .bind(tenant_id)
                .bind(module)
                .bind(settings)
                .bind(now)
                .execute(conn)
                .await?;
                Ok(Ok::<_, Infallible>(()))
            })
            .await?;
        let Ok(()) = written;
        Ok(())
    }
}

pub(super) async fn set_module(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    module: &str,
    enabled: bool,
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO tenant_modules (tenant_id, module_key, enabled, settings, updated_at) \
         VALUES ($1, $2, $3, '{}', $4) \
         ON CONFLICT (tenant_id, module_key) DO UPDATE SET enabled = excluded.enabled, \
         paused_by_plan = 0, updated_at = excluded.updated_at",
    )
    .bind(tenant_id)
    .bind(module)
    .bind(i64::from(enabled))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
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
