//! Billing plans: the catalog tenants subscribe from. Every change is written with
//! its audit row in one transaction.

use sqlx::Row as _;

use super::{AuditEntry, Db, DbResult, now_ms};

/// A plan as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Plan {
    pub key: String,
    pub name: String,
    /// In the currency's minor units (cents).
    pub price_minor: i64,
    /// ISO 4217, e.g. `USD`.
    pub currency: String,
    pub period: Period,
    /// Module keys beyond the core ones, which every plan has.
    pub modules: Vec<String>,
    pub limits: Limits,
    pub sort_order: i64,
    /// When it stopped taking new subscribers.
    pub retired_at: Option<i64>,
}

impl Plan {
    /// Whether a tenant may start on, or move to, this plan.
    pub fn takes_subscribers(&self) -> bool {
        self.retired_at.is_none()
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Month,
    Year,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
        }
    }
}

/// A plan's limits; none is unlimited.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Limits {
    pub max_employees: Option<i64>,
    pub max_storage_bytes: Option<i64>,
    pub max_requests_per_second: Option<i64>,
    pub max_users: Option<i64>,
}

const COLUMNS: &str = "plan_key, name, price_minor, currency, period, modules, max_employees, \
                       max_storage_bytes, max_requests_per_second, max_users, sort_order, retired_at";

fn plan(row: &sqlx::any::AnyRow) -> DbResult<Plan> {
    let period: String = row.try_get("period")?;
    let modules: String = row.try_get("modules")?;
    let decode = |what: &str, e: &dyn std::fmt::Display| {
        sqlx::Error::Decode(format!("plan {what}: {e}").into())
    };
    Ok(Plan {
        key: row.try_get("plan_key")?,
        name: row.try_get("name")?,
        price_minor: row.try_get("price_minor")?,
        currency: row.try_get("currency")?,
        period: match period.as_str() {
            "month" => Period::Month,
            "year" => Period::Year,
            other => return Err(decode("period", &other)),
        },
        modules: serde_json::from_str(&modules).map_err(|e| decode("modules", &e))?,
        limits: Limits {
            max_employees: row.try_get("max_employees")?,
            max_storage_bytes: row.try_get("max_storage_bytes")?,
            max_requests_per_second: row.try_get("max_requests_per_second")?,
            max_users: row.try_get("max_users")?,
        },
        sort_order: row.try_get("sort_order")?,
        retired_at: row.try_get("retired_at")?,
    })
}

impl Db {
    /// Every plan in sort order; retired ones only when asked.
    pub async fn plans(&self, with_retired: bool) -> DbResult<Vec<Plan>> {
        let filter = if with_retired {
            ""
        } else {
            " WHERE retired_at IS NULL"
        };
        let sql = format!("SELECT {COLUMNS} FROM plans{filter} ORDER BY sort_order, plan_key");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(plan)
            .collect()
    }

    pub async fn plan(&self, key: &str) -> DbResult<Option<Plan>> {
        let sql = format!("SELECT {COLUMNS} FROM plans WHERE plan_key = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(plan)
            .transpose()
    }

    /// Adds `new`; false when its key is taken.
    pub async fn insert_plan(&self, new: &Plan, audit: AuditEntry<'_>) -> DbResult<bool> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO plans (plan_key, name, price_minor, currency, period, modules, \
             max_employees, max_storage_bytes, max_requests_per_second, max_users, sort_order, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (plan_key) DO NOTHING",
        )
        .bind(&new.key)
        .bind(&new.name)
        .bind(new.price_minor)
        .bind(&new.currency)
        .bind(new.period.as_str())
        .bind(serde_json::to_string(&new.modules).unwrap_or_else(|_| "[]".into()))
        .bind(new.limits.max_employees)
        .bind(new.limits.max_storage_bytes)
        .bind(new.limits.max_requests_per_second)
        .bind(new.limits.max_users)
        .bind(new.sort_order)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        audit
            .after(new)
            .insert(&mut w.tx, self.audit_key()?, now)
            .await?;
        w.commit().await?;
        Ok(true)
    }

    /// Replaces the plan `changed.key` names (its retirement is kept), and bumps
    /// its subscribers' generations so every replica reloads their limits. The
    /// subscribers, or None when there is no such plan.
    pub async fn update_plan(
        &self,
        changed: &Plan,
        audit: AuditEntry<'_>,
    ) -> DbResult<Option<Vec<String>>> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE plans SET name = $1, price_minor = $2, currency = $3, period = $4, \
             modules = $5, max_employees = $6, max_storage_bytes = $7, \
             max_requests_per_second = $8, max_users = $9, sort_order = $10, updated_at = $11 \
             WHERE plan_key = $12",
        )
        .bind(&changed.name)
        .bind(changed.price_minor)
        .bind(&changed.currency)
        .bind(changed.period.as_str())
        .bind(serde_json::to_string(&changed.modules).unwrap_or_else(|_| "[]".into()))
        .bind(changed.limits.max_employees)
        .bind(changed.limits.max_storage_bytes)
        .bind(changed.limits.max_requests_per_second)
        .bind(changed.limits.max_users)
        .bind(changed.sort_order)
        .bind(now)
        .bind(&changed.key)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let subscribers: Vec<String> = sqlx::query_scalar(
            "UPDATE tenants SET generation = generation + 1, updated_at = $1 WHERE plan = $2 \
             RETURNING id",
        )
        .bind(now)
        .bind(&changed.key)
        .fetch_all(&mut *w.tx)
        .await?;
        if self.dialect == super::Dialect::Postgres {
            for tenant_id in &subscribers {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(super::TENANT_CHANGES)
                    .bind(tenant_id)
                    .execute(&mut *w.tx)
                    .await?;
            }
        }
        audit
            .after(changed)
            .insert(&mut w.tx, self.audit_key()?, now)
            .await?;
        w.commit().await?;
        Ok(Some(subscribers))
    }

    /// Stops the plan taking new subscribers; false when there is no such plan or it
    /// is retired already.
    pub async fn retire_plan(&self, key: &str, audit: AuditEntry<'_>) -> DbResult<bool> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE plans SET retired_at = $1, updated_at = $1 \
             WHERE plan_key = $2 AND retired_at IS NULL",
        )
        .bind(now)
        .bind(key)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        audit.insert(&mut w.tx, self.audit_key()?, now).await?;
        w.commit().await?;
        Ok(true)
    }
}
