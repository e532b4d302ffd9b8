//! Tenants, their domains and which modules they have enabled.
//!
//! Every change to a tenant bumps its `generation` and, on PostgreSQL, sends a
//! notification on [`TENANT_CHANGES`] when the transaction commits, so other
//! replicas drop their cached copy. `Db::change_tenant` is the one way a change
//! is written.

mod changes;
mod domains;
mod modules;
mod payments;
mod plan_changes;
mod statistics;
mod subscriptions;

use std::str::FromStr;

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{AuditEntry, Db, DbResult, now_ms};

pub use changes::{Created, TenantChanges, TenantRow};
pub use domains::DomainChange;
pub use modules::module_settings;
pub use payments::{NewPayment, Payment, PaymentRefusal, PaymentStatus, Proof, Reviewed};
pub use plan_changes::{PlanChange, Repricing};
pub use statistics::TenantStatistics;
pub use subscriptions::{
    Moved, Renewed, Subscription, SubscriptionRefusal, SubscriptionState, TrialStart,
};

/// The PostgreSQL `LISTEN` channel; the payload is the changed tenant's id.
pub const TENANT_CHANGES: &str = "mosaic_tenant_changes";

const TENANT_COLUMNS: &str = "id, name, subdomain, status, plan, timezone, generation, \
     contact_email, primary_color, secondary_color, logo, created_by, status_reason, created_at, updated_at";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Pending,
    Active,
    Suspended,
    Archived,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Archived => "archived",
        }
    }
}

impl FromStr for TenantStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "archived" => Ok(Self::Archived),
            other => Err(format!("unknown tenant status {other:?}")),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub subdomain: String,
    pub status: TenantStatus,
    pub plan: String,
    pub timezone: String,
    /// Bumped by every change that a cached copy must notice.
    pub generation: i64,
    pub contact_email: Option<String>,
    /// `#rrggbb`.
    pub primary_color: Option<String>,
    pub secondary_color: Option<String>,
    /// File name of the logo in the tenant's folder.
    pub logo: Option<String>,
    /// Who created it: `user:<id>`, `cli:<login>` or `signup`.
    pub created_by: Option<String>,
    /// Why it entered its current state.
    pub status_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

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

/// Which tenants a list returns.
#[derive(Debug, Default, Clone)]
pub struct TenantQuery {
    /// Case-insensitive substring of the name, subdomain or contact email.
    pub search: Option<String>,
    pub status: Option<TenantStatus>,
    pub limit: i64,
    pub offset: i64,
}

/// How the other replicas learn of a committed change.
enum Announce {
    /// Bump the tenant's generation and notify.
    Touch,
    /// Only notify: the statement bumped the generation itself, or removed the tenant.
    Notify,
    /// Nothing: a new tenant is in no replica's cache.
    Silent,
}

/// The state a change found before it changed anything, for its audit row.
#[derive(Default)]
struct Before(Option<serde_json::Value>);

impl Before {
    fn record(&mut self, state: serde_json::Value) {
        self.0 = Some(state);
    }
}

/// A change the tenant's rows did not allow (no such tenant, domain or state).
struct Unchanged;

/// `Ok` when the statement changed a row.
fn one_row(done: &sqlx::any::AnyQueryResult) -> Result<(), Unchanged> {
    if done.rows_affected() == 0 {
        Err(Unchanged)
    } else {
        Ok(())
    }
}

/// Bumps the tenant's generation and tells the other replicas, inside `conn`'s
/// transaction.
async fn touch_tenant(conn: &mut AnyConnection, tenant_id: &str, now: i64) -> DbResult<()> {
    sqlx::query("UPDATE tenants SET generation = generation + 1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    notify_change(conn, tenant_id).await
}

/// `NOTIFY` is transactional: it is delivered when (and only if) the change commits.
async fn notify_change(conn: &mut AnyConnection, tenant_id: &str) -> DbResult<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(TENANT_CHANGES)
            .bind(tenant_id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The tenant as `conn`'s transaction sees it.
async fn tenant_in(conn: &mut AnyConnection, tenant_id: &str) -> DbResult<Option<Tenant>> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(tenant).transpose()
}

impl Db {
    /// One audited change of a tenant, in one transaction: `statement` runs first and
    /// may refuse (`Err`), which writes nothing; otherwise the change is announced,
    /// its audit row appended and everything committed together. The statement
    /// records on the audit entry the state it found before changing it (read in the
    /// transaction, never from a cache). On PostgreSQL the tenant's row is locked
    /// before anything else, so every change of a tenant (and a plan change, which
    /// starts the same way) takes its locks in one order: tenant, subscription,
    /// invoices and payments, the invoice counter.
    async fn change_tenant<T, R>(
        &self,
        tenant_id: &str,
        announce: Announce,
        mut audit: AuditEntry<'_>,
        statement: impl AsyncFnOnce(&mut AnyConnection, i64, &mut Before) -> DbResult<Result<T, R>>,
    ) -> DbResult<Result<T, R>> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        if self.dialect == super::Dialect::Postgres {
            sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
                .bind(tenant_id)
                .fetch_optional(&mut *w.tx)
                .await?;
        }
        let mut before = Before::default();
        let changed = match statement(&mut w.tx, now, &mut before).await? {
            Ok(changed) => changed,
            refused @ Err(_) => return Ok(refused),
        };
        if let Some(state) = before.0 {
            audit.record_before(&state);
        }
        match announce {
            Announce::Touch => touch_tenant(&mut w.tx, tenant_id, now).await?,
            Announce::Notify => notify_change(&mut w.tx, tenant_id).await?,
            Announce::Silent => {}
        }
        audit.insert(&mut w.tx, self.audit_key()?, now).await?;
        w.commit().await?;
        Ok(Ok(changed))
    }

    pub async fn tenant_by_id(&self, id: &str) -> DbResult<Option<Tenant>> {
        self.tenant_where("id", id).await
    }

    pub async fn tenant_by_subdomain(&self, subdomain: &str) -> DbResult<Option<Tenant>> {
        self.tenant_where("subdomain", subdomain).await
    }

    /// The tenant whose `column` (a unique one) holds `value`.
    async fn tenant_where(&self, column: &'static str, value: &str) -> DbResult<Option<Tenant>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE {column} = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant).transpose()
    }

    /// The text in the first column of each row `sql` selects for the tenant `$1`.
    async fn tenant_texts(&self, sql: &'static str, tenant_id: &str) -> DbResult<Vec<String>> {
        sqlx::query(sql)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
    }

    /// Every tenant.
    pub async fn all_tenants(&self) -> DbResult<Vec<Tenant>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants");
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(tenant)
            .collect()
    }

    /// Every tenant's subscription, by tenant.
    pub async fn all_subscriptions(&self) -> DbResult<Vec<(String, Subscription)>> {
        let sql = format!(
            "SELECT {}, tenant_id FROM subscriptions",
            subscriptions::COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(5)?, subscriptions::subscription(row)?)))
            .collect()
    }

    /// Every tenant's id.
    pub async fn all_tenant_ids(&self) -> DbResult<Vec<String>> {
        sqlx::query_scalar("SELECT id FROM tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await
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

    /// One tenant's generation; none if it is gone.
    pub async fn tenant_generation(&self, tenant_id: &str) -> DbResult<Option<i64>> {
        sqlx::query_scalar("SELECT generation FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await
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
}
