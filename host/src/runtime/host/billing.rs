//! `billing`: the tenant's plan limits, and usage metering, for modules with the
//! `billing` capability.
//!
//! Three metrics are measured by the host, never taken from a module: `employees`
//! (the employees module's documents), `users` and `storage_bytes` (files). A check
//! of one counts inside the call's unit of work, so its own writes count, and on
//! PostgreSQL under a per-(tenant, metric) lock held to the unit of work's end, so
//! two requests cannot both take the last place. Any other metric is metered:
//! `record-usage` adds to this month's figure in the same unit of work (a request
//! that fails records nothing); plans set no limit on metered metrics.

use super::internal;
use crate::billing::Quota;
use crate::runtime::CallContext;
use crate::runtime::types::{Capability, HostError};
use crate::store::plans::Plan;
use crate::store::{Dialect, advisory_key, files, now_ms, usage};

/// The metrics the host measures, with the plan limit each is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measured {
    Employees,
    Users,
    StorageBytes,
}

impl Measured {
    fn parse(metric: &str) -> Option<Self> {
        match metric {
            "employees" => Some(Self::Employees),
            "users" => Some(Self::Users),
            "storage_bytes" => Some(Self::StorageBytes),
            _ => None,
        }
    }

    fn limit(self, plan: &Plan) -> (&'static str, Option<i64>) {
        match self {
            Self::Employees => ("max_employees", plan.limits.max_employees),
            Self::Users => ("max_users", plan.limits.max_users),
            Self::StorageBytes => ("max_storage_bytes", plan.limits.max_storage_bytes),
        }
    }
}

/// A metered metric's name: lowercase words joined by `_`, `.` or `-`.
fn check_metric(metric: &str) -> Result<(), HostError> {
    let ok = !metric.is_empty()
        && metric.len() <= 64
        && metric
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(HostError::Invalid(format!(
            "metric {metric:?}: 1 to 64 of a-z, 0-9, '_', '.', '-'"
        )))
    }
}

fn amount(amount: u64) -> Result<i64, HostError> {
    i64::try_from(amount).map_err(|_| HostError::Invalid("amount is too large".into()))
}

pub async fn check_quota(ctx: &CallContext, metric: &str, requested: u64) -> Result<(), HostError> {
    ctx.require(Capability::Billing, "billing calls")?;
    check_metric(metric)?;
    let requested = amount(requested)?;
    let Some(measured) = Measured::parse(metric) else {
        // Plans limit only what the host measures.
        return Ok(());
    };
    let tenant = &ctx.tenant.tenant;
    let Some(plan) = &ctx.tenant.plan else {
        return Ok(());
    };
    let (limit, Some(max)) = measured.limit(plan) else {
        return Ok(());
    };
    let used = match measured {
        Measured::Users => ctx
            .uow
            .main_db()
            .count_users(&tenant.id)
            .await
            .map_err(|err| internal(ctx, &err))?,
        Measured::Employees | Measured::StorageBytes => {
            let dialect = ctx.uow.main_db().dialect;
            let counted = ctx
                .uow
                .write(async |conn| {
                    if dialect == Dialect::Postgres {
                        // Storage shares the lock a file put takes, so the two cannot
                        // wait on each other in opposite order.
                        let key = match measured {
                            Measured::StorageBytes => advisory_key(&["files", &tenant.id]),
                            _ => advisory_key(&["quota", &tenant.id, metric]),
                        };
                        sqlx::query("SELECT pg_advisory_xact_lock($1)")
                            .bind(key)
                            .execute(&mut *conn)
                            .await?;
                    }
                    match measured {
                        Measured::Employees => usage::count_employees(conn, &tenant.id).await,
                        _ => files::tenant_total(conn, &tenant.id).await,
                    }
                })
                .await;
            counted.and_then(|r| r).map_err(|err| internal(ctx, &err))?
        }
    };
    if used.saturating_add(requested) <= max {
        return Ok(());
    }
    let quota = Quota::new(plan, metric, limit, max, used, requested);
    Err(HostError::QuotaExceeded(quota.details().to_string()))
}

pub async fn record_usage(ctx: &CallContext, metric: &str, added: u64) -> Result<(), HostError> {
    ctx.require(Capability::Billing, "billing calls")?;
    check_metric(metric)?;
    if Measured::parse(metric).is_some() {
        return Err(HostError::Invalid(format!(
            "{metric} is measured by the host and cannot be recorded"
        )));
    }
    let added = amount(added)?;
    let period = crate::billing::usage_month(&ctx.tenant.tenant.timezone, now_ms());
    let scope = (ctx.tenant.tenant.id.as_str(), ctx.module.key.as_str());
    let result = ctx
        .uow
        .write(async |conn| usage::add(conn, scope, &period, metric, added).await)
        .await;
    result
        .and_then(|r| r)
        .map(|_| ())
        .map_err(|err| internal(ctx, &err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_plain_words() {
        assert!(check_metric("sms.sent").is_ok());
        assert!(check_metric("api_calls-v2").is_ok());
        for bad in ["", "Employees", "a b", "x;DROP", &"m".repeat(65)] {
            assert!(check_metric(bad).is_err(), "{bad:?}");
        }
    }
}
