//! Tenants, their domains and which modules they have enabled.
//!
//! Every change to a tenant bumps its `generation` and, on PostgreSQL, sends a
//! notification on [`TENANT_CHANGES`] when the transaction commits, so other
//! replicas drop their cached copy.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use super::{AuditEntry, Db, DbResult, now_ms};
use crate::tenancy::{Tenant, TenantStatus};

/// The PostgreSQL `LISTEN` channel; the payload is the changed tenant's id.
pub const TENANT_CHANGES: &str = "mosaic_tenant_changes";

const TENANT_COLUMNS: &str = "id, name, subdomain, status, plan, timezone, generation, \
     contact_email, primary_color, secondary_color, logo, created_by, status_reason, created_at, updated_at";

/// Tables that hold a tenant's data, all keyed by `tenant_id`; a hard delete empties
/// them (children first) before the tenant row.
const TENANT_TABLES: &[&str] = &[
    "record_keys",
    "records",
    "event_outbox",
    "refresh_tokens",
    "one_time_tokens",
    "mail_outbox",
    "users",
    "tenant_modules",
    "tenant_domains",
];

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
        contact_email: row.try_get(7)?,
        primary_color: row.try_get(8)?,
        secondary_color: row.try_get(9)?,
        logo: row.try_get(10)?,
        created_by: row.try_get(11)?,
        status_reason: row.try_get(12)?,
        created_at: row.try_get(13)?,
        updated_at: row.try_get(14)?,
    })
}

/// Whether a tenant row was written, and if not, why.
pub enum Created {
    Yes,
    SubdomainTaken,
    /// The demo request it was to be created from was converted already.
    DemoRequestConverted,
}

/// A tenant to insert, with what comes into being together with it.
pub struct TenantRow<'a> {
    pub tenant: &'a Tenant,
    pub modules: &'a [String],
    pub admin: Option<super::NewAccount<'a>>,
    /// The demo request this tenant converts, marked converted in the same transaction.
    pub demo_request: Option<&'a str>,
}

/// Which tenants a list returns.
#[derive(Debug, Default, Clone)]
pub struct TenantQuery {
    /// Case-insensitive substring of the name, subdomain or contact email.
    pub search: Option<String>,
    pub status: Option<TenantStatus>,
    pub limit: i64,
    pub offset: i64,
}

/// The editable fields of a tenant; `None` leaves a field as it is, `Some(None)`
/// clears an optional one.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct TenantChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_color: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<Option<String>>,
}

/// Counts over all tenants, for the admin dashboard.
#[derive(Debug, Clone, serde::Serialize)]
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

/// Bumps the tenant's generation and tells the other replicas, inside `conn`'s
/// transaction. False when there is no such tenant.
async fn touch_tenant(conn: &mut sqlx::AnyConnection, tenant_id: &str, now: i64) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE tenants SET generation = generation + 1, updated_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    notify_change(conn, tenant_id).await?;
    Ok(done.rows_affected() == 1)
}

/// `NOTIFY` is transactional: it is delivered when (and only if) the change commits.
async fn notify_change(conn: &mut sqlx::AnyConnection, tenant_id: &str) -> DbResult<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(TENANT_CHANGES)
            .bind(tenant_id)
            .execute(conn)
            .await?;
    }
    Ok(())
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

    /// One page of tenants, newest first, and how many match in all.
    pub async fn list_tenants(&self, query: &TenantQuery) -> DbResult<(Vec<Tenant>, i64)> {
        let pattern = query.search.as_deref().map(|s| {
            let escaped = s
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let mut filter = String::from(" WHERE 1 = 1");
        let mut n = 0;
        if pattern.is_some() {
            n += 1;
            filter.push_str(&format!(
                " AND (lower(name) LIKE ${n} ESCAPE '\\' OR subdomain LIKE ${n} ESCAPE '\\' \
                 OR lower(COALESCE(contact_email, '')) LIKE ${n} ESCAPE '\\')"
            ));
        }
        if query.status.is_some() {
            n += 1;
            filter.push_str(&format!(" AND status = ${n}"));
        }
        let page_sql = format!(
            "SELECT {TENANT_COLUMNS} FROM tenants{filter} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let count_sql = format!("SELECT COUNT(*) FROM tenants{filter}");
        let mut page = sqlx::query(AssertSqlSafe(page_sql));
        let mut count = sqlx::query(AssertSqlSafe(count_sql));
        if let Some(p) = &pattern {
            page = page.bind(p.clone());
            count = count.bind(p.clone());
        }
        if let Some(status) = query.status {
            page = page.bind(status.as_str());
            count = count.bind(status.as_str());
        }
        let tenants = page
            .bind(query.limit)
            .bind(query.offset)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(tenant)
            .collect::<DbResult<_>>()?;
        let total = count.fetch_one(&self.pool).await?.try_get(0)?;
        Ok((tenants, total))
    }

    /// Creates a tenant with its modules, first admin and audit row in one transaction.
    pub async fn create_tenant(
        &self,
        row: &TenantRow<'_>,
        audit: AuditEntry<'_>,
    ) -> DbResult<Created> {
        let tenant = row.tenant;
        let mut w = self.begin_write().await?;
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO tenants (id, name, subdomain, status, plan, timezone, generation, \
             contact_email, primary_color, secondary_color, logo, created_by, status_reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, $11, $12, $13, $13) ON CONFLICT DO NOTHING",
        )
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(&tenant.subdomain)
        .bind(tenant.status.as_str())
        .bind(&tenant.plan)
        .bind(&tenant.timezone)
        .bind(&tenant.contact_email)
        .bind(&tenant.primary_color)
        .bind(&tenant.secondary_color)
        .bind(&tenant.logo)
        .bind(&tenant.created_by)
        .bind(&tenant.status_reason)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(Created::SubdomainTaken);
        }
        for key in row.modules {
            set_module(&mut w.tx, &tenant.id, key, true, now).await?;
        }
        if let Some(admin) = &row.admin {
            super::users::insert_account(&mut w.tx, super::Realm::Tenant(&tenant.id), admin)
                .await?;
        }
        if let Some(request) = row.demo_request
            && !super::demo_requests::mark_converted(&mut w.tx, request, &tenant.id, now).await?
        {
            return Ok(Created::DemoRequestConverted);
        }
        audit.insert(&mut w.tx, now).await?;
        w.commit().await?;
        Ok(Created::Yes)
    }

    /// Applies `changes` with its audit row. False when there is no such tenant.
    pub async fn update_tenant(
        &self,
        tenant_id: &str,
        changes: &TenantChanges,
        audit: AuditEntry<'_>,
    ) -> DbResult<bool> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        if !touch_tenant(&mut w.tx, tenant_id, now).await? {
            return Ok(false);
        }
        let mut sets: Vec<(&str, Option<&str>)> = Vec::new();
        if let Some(name) = &changes.name {
            sets.push(("name", Some(name)));
        }
        for (column, value) in [
            ("contact_email", &changes.contact_email),
            ("primary_color", &changes.primary_color),
            ("secondary_color", &changes.secondary_color),
            ("logo", &changes.logo),
        ] {
            if let Some(value) = value {
                sets.push((column, value.as_deref()));
            }
        }
        if !sets.is_empty() {
            let assignments: Vec<String> = sets
                .iter()
                .enumerate()
                .map(|(i, (column, _))| format!("{column} = ${}", i + 1))
                .collect();
            let sql = format!(
                "UPDATE tenants SET {} WHERE id = ${}",
                assignments.join(", "),
                sets.len() + 1
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (_, value) in &sets {
                query = query.bind(*value);
            }
            query.bind(tenant_id).execute(&mut *w.tx).await?;
        }
        audit.insert(&mut w.tx, now).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Moves a tenant into state `to` from one of `from`, recording the reason, with
    /// its audit row, in one transaction. False when the tenant was in none of `from`.
    pub async fn transition_tenant(
        &self,
        tenant_id: &str,
        from: &[TenantStatus],
        to: TenantStatus,
        reason: Option<&str>,
        audit: AuditEntry<'_>,
    ) -> DbResult<bool> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        let status_params: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            "UPDATE tenants SET status = $1, status_reason = $2, generation = generation + 1, updated_at = $3 \
             WHERE id = ${} AND status IN ({})",
            from.len() + 4,
            status_params.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(to.as_str())
            .bind(reason)
            .bind(now);
        for state in from {
            query = query.bind(state.as_str());
        }
        let done = query.bind(tenant_id).execute(&mut *w.tx).await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        notify_change(&mut w.tx, tenant_id).await?;
        audit.insert(&mut w.tx, now).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Removes the tenant and everything it owns, keeping only the audit log. False
    /// when there was no such tenant.
    pub async fn delete_tenant(&self, tenant_id: &str, audit: AuditEntry<'_>) -> DbResult<bool> {
        let mut w = self.begin_write().await?;
        for table in TENANT_TABLES {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE tenant_id = $1"
            )))
            .bind(tenant_id)
            .execute(&mut *w.tx)
            .await?;
        }
        let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        notify_change(&mut w.tx, tenant_id).await?;
        audit.insert(&mut w.tx, now_ms()).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Adds a custom domain. False when another tenant (or this one) already has it.
    pub async fn add_tenant_domain(
        &self,
        tenant_id: &str,
        domain: &str,
        audit: AuditEntry<'_>,
    ) -> DbResult<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO tenant_domains (domain, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(domain)
        .bind(tenant_id)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let now = now_ms();
        touch_tenant(&mut w.tx, tenant_id, now).await?;
        audit.insert(&mut w.tx, now).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Removes a custom domain. False when the tenant did not have it.
    pub async fn remove_tenant_domain(
        &self,
        tenant_id: &str,
        domain: &str,
        audit: AuditEntry<'_>,
    ) -> DbResult<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM tenant_domains WHERE domain = $1 AND tenant_id = $2")
            .bind(domain)
            .bind(tenant_id)
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let now = now_ms();
        touch_tenant(&mut w.tx, tenant_id, now).await?;
        audit.insert(&mut w.tx, now).await?;
        w.commit().await?;
        Ok(true)
    }

    pub async fn tenant_domains(&self, tenant_id: &str) -> DbResult<Vec<String>> {
        sqlx::query("SELECT domain FROM tenant_domains WHERE tenant_id = $1 ORDER BY domain")
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
    }

    pub async fn all_tenant_domains(&self) -> DbResult<Vec<(String, String)>> {
        sqlx::query("SELECT domain, tenant_id FROM tenant_domains")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Every tenant's id and generation: what a replica compares its cache with.
    pub async fn tenant_generations(&self) -> DbResult<Vec<(String, i64)>> {
        sqlx::query("SELECT id, generation FROM tenants")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
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

    /// Switches a module for a tenant, bumps the tenant's generation and writes the
    /// audit row, all in one transaction. Returns whether it was enabled before.
    pub async fn toggle_module(
        &self,
        tenant_id: &str,
        module: &str,
        enabled: bool,
        audit: AuditEntry<'_>,
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
        touch_tenant(&mut w.tx, tenant_id, now).await?;
        audit.insert(&mut w.tx, now).await?;
        w.commit().await?;
        Ok(before)
    }

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
