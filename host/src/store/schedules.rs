//! Schedule runs: when each (tenant, module, schedule) fires next, who holds its
//! current firing, and how its last one went. In the main database, beside the
//! tenants whose status decides whether a schedule is due at all.

use sqlx::Row as _;

use super::{Db, DbResult};

/// One (tenant, module, schedule).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ScheduleKey {
    pub tenant_id: String,
    pub module: String,
    pub schedule: String,
}

/// A schedule's record.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ScheduleRun {
    #[serde(flatten)]
    pub key: ScheduleKey,
    pub next_at: i64,
    /// Until when a firing in progress holds it.
    pub lease_until: Option<i64>,
    pub runs: i64,
    pub failures: i64,
    pub last_fired_at: Option<i64>,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "s.tenant_id, s.module, s.schedule_id, s.next_at, s.lease_until, \
                       s.runs, s.failures, s.last_fired_at, s.last_error";

fn run(row: &sqlx::any::AnyRow) -> DbResult<ScheduleRun> {
    Ok(ScheduleRun {
        key: ScheduleKey {
            tenant_id: row.try_get("tenant_id")?,
            module: row.try_get("module")?,
            schedule: row.try_get("schedule_id")?,
        },
        next_at: row.try_get("next_at")?,
        lease_until: row.try_get("lease_until")?,
        runs: row.try_get("runs")?,
        failures: row.try_get("failures")?,
        last_fired_at: row.try_get("last_fired_at")?,
        last_error: row.try_get("last_error")?,
    })
}

/// Due and free: not held by a firing whose lease still runs, of an active tenant.
const DUE: &str = "s.next_at <= $1 AND (s.lease_until IS NULL OR s.lease_until <= $1) \
                   AND t.status = 'active'";

/// `AND (module, schedule) is one of `declared``, with parameters from `$first`: a
/// replica looks only at the schedules it can run (another may run a newer version
/// of a module during a rolling deploy).
fn declared_only(declared: &[(String, String)], first: usize) -> String {
    if declared.is_empty() {
        return " AND 1 = 0".into();
    }
    let params: Vec<String> = (0..declared.len())
        .map(|i| format!("${}", first + i))
        .collect();
    format!(
        " AND s.module || '/' || s.schedule_id IN ({})",
        params.join(", ")
    )
}

fn bind_declared<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    declared: &'q [(String, String)],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for (module, schedule) in declared {
        query = query.bind(format!("{module}/{schedule}"));
    }
    query
}

impl Db {
    /// Every schedule with a record, and the plan its next time was made by.
    pub async fn schedule_plans(&self) -> DbResult<Vec<(ScheduleKey, String)>> {
        sqlx::query("SELECT tenant_id, module, schedule_id, plan FROM schedule_runs")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let key = ScheduleKey {
                    tenant_id: row.try_get(0)?,
                    module: row.try_get(1)?,
                    schedule: row.try_get(2)?,
                };
                Ok((key, row.try_get(3)?))
            })
            .collect()
    }

    /// Starts a record, first firing at `next_at`, or re-plans one whose plan (its
    /// cadence or the tenant's zone) changed. A record of the same plan is left alone.
    /// A re-plan only ever brings the next firing closer: during a rolling deploy
    /// replicas with the old and the new cadence re-plan in turn, and neither may
    /// push the firing away for good; after it, each firing plans the next with the
    /// cadence of the replica that ran it.
    pub async fn plan_schedule(&self, key: &ScheduleKey, plan: &str, next_at: i64) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO schedule_runs (tenant_id, module, schedule_id, plan, next_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, module, schedule_id) DO UPDATE \
             SET plan = excluded.plan, next_at = CASE WHEN excluded.next_at < schedule_runs.next_at \
             THEN excluded.next_at ELSE schedule_runs.next_at END \
             WHERE schedule_runs.plan <> excluded.plan",
        )
        .bind(&key.tenant_id)
        .bind(&key.module)
        .bind(&key.schedule)
        .bind(plan)
        .bind(next_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Up to `limit` of the `declared` (module, schedule)s due at `now`, earliest
    /// first.
    pub async fn due_schedules(
        &self,
        now: i64,
        declared: &[(String, String)],
        limit: u32,
    ) -> DbResult<Vec<ScheduleRun>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM schedule_runs s JOIN tenants t ON t.id = s.tenant_id \
             WHERE {DUE}{} ORDER BY s.next_at LIMIT $2",
            declared_only(declared, 3)
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(i64::from(limit));
        bind_declared(query, declared)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(run)
            .collect()
    }

    /// When the earliest of the `declared` (module, schedule)s of an active tenant is
    /// due (a held one, when its lease runs out).
    pub async fn next_schedule_at(&self, declared: &[(String, String)]) -> DbResult<Option<i64>> {
        let sql = format!(
            "SELECT MIN(CASE WHEN s.lease_until > s.next_at THEN s.lease_until ELSE s.next_at END) \
             FROM schedule_runs s JOIN tenants t ON t.id = s.tenant_id \
             WHERE t.status = 'active'{}",
            declared_only(declared, 1)
        );
        bind_declared(sqlx::query(sqlx::AssertSqlSafe(sql)), declared)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)
    }

    /// Takes the firing of `due` (still due at `now`, and free) until `until`.
    /// False when another process took it first.
    pub async fn lease_schedule(
        &self,
        due: &ScheduleRun,
        now: i64,
        until: i64,
        token: &str,
    ) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE schedule_runs SET lease_until = $1, lease_token = $2 \
             WHERE tenant_id = $3 AND module = $4 AND schedule_id = $5 AND next_at = $6 \
             AND (lease_until IS NULL OR lease_until <= $7)",
        )
        .bind(until)
        .bind(token)
        .bind(&due.key.tenant_id)
        .bind(&due.key.module)
        .bind(&due.key.schedule)
        .bind(due.next_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the firing held with `token`, and when the next one is due.
    pub async fn finish_schedule(
        &self,
        key: &ScheduleKey,
        token: &str,
        fired_at: i64,
        next_at: i64,
        error: Option<&str>,
    ) -> DbResult<()> {
        sqlx::query(
            "UPDATE schedule_runs SET next_at = $1, lease_until = NULL, lease_token = NULL, \
             runs = runs + 1, failures = failures + $2, last_fired_at = $3, last_error = $4 \
             WHERE tenant_id = $5 AND module = $6 AND schedule_id = $7 AND lease_token = $8",
        )
        .bind(next_at)
        .bind(i64::from(error.is_some()))
        .bind(fired_at)
        .bind(error)
        .bind(&key.tenant_id)
        .bind(&key.module)
        .bind(&key.schedule)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Moves a schedule due at `due` on to `next_at` without firing it (its module
    /// is off for the tenant), unless a live lease holds it. Answers whether it moved.
    pub async fn pass_schedule(&self, due: &ScheduleRun, now: i64, next_at: i64) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE schedule_runs SET next_at = $1, lease_until = NULL, lease_token = NULL \
             WHERE tenant_id = $2 AND module = $3 AND schedule_id = $4 AND next_at = $5 \
             AND (lease_until IS NULL OR lease_until <= $6)",
        )
        .bind(next_at)
        .bind(&due.key.tenant_id)
        .bind(&due.key.module)
        .bind(&due.key.schedule)
        .bind(due.next_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The records of one tenant, or of all, by tenant, module and schedule.
    pub async fn schedule_runs(&self, tenant_id: Option<&str>) -> DbResult<Vec<ScheduleRun>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM schedule_runs s \
             WHERE (CAST($1 AS TEXT) IS NULL OR s.tenant_id = $1) \
             ORDER BY s.tenant_id, s.module, s.schedule_id LIMIT 1000"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(run)
            .collect()
    }
}
