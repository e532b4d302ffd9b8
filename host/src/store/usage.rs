//! What a tenant uses, against its plan's limits: the counts the host measures
//! (employees, users, file storage) and the usage modules meter
//! (`billing.record-usage`), kept per month with the module's writes (in the
//! tenant's own file on SQLite, like the rest of its module data).

use sqlx::{AnyConnection, Row as _};

use super::{Db, DbResult};

/// The module and collection whose documents are the tenant's employees.
const EMPLOYEES: (&str, &str) = ("employees", "employees");

/// The tenant's employees, as `conn` (a unit of work's, seeing its own writes)
/// sees them.
pub async fn count_employees(conn: &mut AnyConnection, tenant_id: &str) -> DbResult<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM records WHERE tenant_id = $1 AND module = $2 AND collection = $3",
    )
    .bind(tenant_id)
    .bind(EMPLOYEES.0)
    .bind(EMPLOYEES.1)
    .fetch_one(conn)
    .await
}

/// Adds `amount` of `metric` to the month `period` (`YYYY-MM`) for the module; the
/// figure stops at the largest BIGINT rather than overflow.
pub async fn add(
    conn: &mut AnyConnection,
    (tenant_id, module): (&str, &str),
    period: &str,
    metric: &str,
    amount: i64,
) -> DbResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO usage (tenant_id, period, metric, module, amount) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, period, metric, module) DO UPDATE SET amount = \
         CASE WHEN usage.amount > 9223372036854775807 - excluded.amount THEN 9223372036854775807 \
         ELSE usage.amount + excluded.amount END \
         RETURNING amount",
    )
    .bind(tenant_id)
    .bind(period)
    .bind(metric)
    .bind(module)
    .bind(amount)
    .fetch_one(conn)
    .await
}

/// This month's metered usage of `metric`, all modules together.
pub async fn metered(
    conn: &mut AnyConnection,
    tenant_id: &str,
    period: &str,
    metric: &str,
) -> DbResult<i64> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM usage \
         WHERE tenant_id = $1 AND period = $2 AND metric = $3",
    )
    .bind(tenant_id)
    .bind(period)
    .bind(metric)
    .fetch_one(conn)
    .await
}

/// One metered figure of a month.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Metered {
    pub metric: String,
    pub module: String,
    pub amount: i64,
}

/// What a tenant uses now: the measured counts, and the month's metered usage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub employees: i64,
    pub users: i64,
    pub storage_bytes: i64,
    /// The month (`YYYY-MM`, in the tenant's zone) `metered` is of.
    pub period: String,
    pub metered: Vec<Metered>,
}

impl Db {
    /// The tenant's users.
    pub async fn count_users(&self, tenant_id: &str) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&self.pool)
            .await
    }

    /// Everything the tenant uses, `period` being this month in its zone.
    pub async fn usage(&self, tenant_id: &str, period: &str) -> DbResult<Usage> {
        let users = self.count_users(tenant_id).await?;
        let data = self.module_data(tenant_id).await?;
        let mut conn = data.pool.acquire().await?;
        let employees = count_employees(&mut conn, tenant_id).await?;
        let storage_bytes = super::files::tenant_total(&mut conn, tenant_id).await?;
        let rows = sqlx::query(
            "SELECT metric, module, amount FROM usage WHERE tenant_id = $1 AND period = $2 \
             ORDER BY metric, module",
        )
        .bind(tenant_id)
        .bind(period)
        .fetch_all(&mut *conn)
        .await?;
        let metered = rows
            .iter()
            .map(|row| {
                Ok(Metered {
                    metric: row.try_get(0)?,
                    module: row.try_get(1)?,
                    amount: row.try_get(2)?,
                })
            })
            .collect::<DbResult<_>>()?;
        Ok(Usage {
            employees,
            users,
            storage_bytes,
            period: period.to_owned(),
            metered,
        })
    }
}
