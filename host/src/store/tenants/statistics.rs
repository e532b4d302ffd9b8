//! Counts over all tenants, for the admin dashboard.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::store::{Db, DbResult, now_ms};

/// Counts over all tenants, for the admin dashboard.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TenantStatistics {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    /// Tenants with each module switched on (core modules are on for all).
    pub modules_enabled: BTreeMap<String, i64>,
    pub users: i64,
    pub created_last_30_days: i64,
    pub custom_domains: i64,
    pub open_demo_requests: i64,
}

impl Db {
    pub async fn tenant_statistics(&self) -> DbResult<TenantStatistics> {
        let count = |sql: &'static str| async move {
            sqlx::query(sql)
                .fetch_one(&self.pool)
                .await?
                .try_get::<i64, _>(0)
        };
        let pairs = |sql: &'static str| async move {
            sqlx::query(sql)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
                .collect::<DbResult<BTreeMap<_, _>>>()
        };
        let mut by_status: BTreeMap<String, i64> = ["pending", "active", "suspended", "archived"]
            .into_iter()
            .map(|s| (s.to_owned(), 0))
            .collect();
        by_status.extend(pairs("SELECT status, COUNT(*) FROM tenants GROUP BY status").await?);
        let month_ago = now_ms() - 30 * 24 * 3600 * 1000;
        let created_last_30_days =
            sqlx::query("SELECT COUNT(*) FROM tenants WHERE created_at >= $1")
                .bind(month_ago)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
        Ok(TenantStatistics {
            total: count("SELECT COUNT(*) FROM tenants").await?,
            by_status,
            modules_enabled: pairs(
                "SELECT module_key, COUNT(*) FROM tenant_modules WHERE enabled = 1 GROUP BY module_key",
            )
            .await?,
            users: count("SELECT COUNT(*) FROM users").await?,
            created_last_30_days,
            custom_domains: count("SELECT COUNT(*) FROM tenant_domains").await?,
            open_demo_requests: count("SELECT COUNT(*) FROM demo_requests WHERE status = 'new'")
                .await?,
        })
    }
}
