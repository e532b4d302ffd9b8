//! A tenant's subscription to its plan (`tenants.plan`): its state and the times
//! that move it. Each time-driven move is a conditional update with its audit row,
//! announced like any tenant change, so it happens once across replicas and every
//! replica sees it.

use std::str::FromStr;

use sqlx::{AnyConnection, Row as _};

use super::{Announce, one_row};
use crate::store::{AuditEntry, Db, DbResult, Origin, now_ms};

/// What a plan change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    pub previous: String,
    /// Switched off: on before, and not in the new plan.
    pub paused: Vec<String>,
    /// Switched back on: paused by an earlier change, and in the new plan.
    pub resumed: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    Trial,
    Active,
    PastDue,
    Cancelled,
    Expired,
}

impl SubscriptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trial => "trial",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
}

impl FromStr for SubscriptionState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "trial" => Self::Trial,
            "active" => Self::Active,
            "past_due" => Self::PastDue,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            other => return Err(format!("unknown subscription state {other:?}")),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Subscription {
    pub state: SubscriptionState,
    pub trial_ends_at: Option<i64>,
    /// Paid until.
    pub period_end: Option<i64>,
    /// Past due, still served until.
    pub grace_ends_at: Option<i64>,
}

/// A time-driven move: from `from` when `column` has passed.
struct Move {
    from: SubscriptionState,
    to: SubscriptionState,
    column: &'static str,
}

/// Every move time makes, in the order they are tried.
const MOVES: &[Move] = &[
    Move {
        from: SubscriptionState::Trial,
        to: SubscriptionState::Expired,
        column: "trial_ends_at",
    },
    Move {
        from: SubscriptionState::Active,
        to: SubscriptionState::PastDue,
        column: "period_end",
    },
    Move {
        from: SubscriptionState::PastDue,
        to: SubscriptionState::Expired,
        column: "grace_ends_at",
    },
    Move {
        from: SubscriptionState::Cancelled,
        to: SubscriptionState::Expired,
        column: "period_end",
    },
];

/// A subscription that time moved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    pub tenant_id: String,
    pub from: SubscriptionState,
    pub to: SubscriptionState,
}

/// Starts a new tenant's trial, in its creation's transaction.
pub(super) async fn start_trial(
    conn: &mut AnyConnection,
    tenant_id: &str,
    trial_ends_at: i64,
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO subscriptions (tenant_id, state, trial_ends_at, created_at, updated_at) \
         VALUES ($1, 'trial', $2, $3, $3)",
    )
    .bind(tenant_id)
    .bind(trial_ends_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The tenant's plan, its row locked until the transaction ends (on PostgreSQL; a
/// SQLite transaction has the one writer already).
pub(super) async fn plan_for_update(conn: &mut AnyConnection, tenant_id: &str) -> DbResult<String> {
    let lock = if conn.backend_name() == "PostgreSQL" {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT plan FROM tenants WHERE id = $1{lock}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .fetch_one(conn)
        .await
}

/// Moves the end of a trial still running to `trial_ends_at`.
pub(super) async fn restart_trial(
    conn: &mut AnyConnection,
    tenant_id: &str,
    trial_ends_at: i64,
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE subscriptions SET trial_ends_at = $1, updated_at = $2 \
         WHERE tenant_id = $3 AND state = 'trial'",
    )
    .bind(trial_ends_at)
    .bind(now)
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(())
}

impl Db {
    pub async fn subscription(&self, tenant_id: &str) -> DbResult<Option<Subscription>> {
        let row = sqlx::query(
            "SELECT state, trial_ends_at, period_end, grace_ends_at FROM subscriptions \
             WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let state: String = row.try_get(0)?;
            Ok(Subscription {
                state: state
                    .parse()
                    .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
                trial_ends_at: row.try_get(1)?,
                period_end: row.try_get(2)?,
                grace_ends_at: row.try_get(3)?,
            })
        })
        .transpose()
    }

    /// Makes every move that is due at `now`, each with its audit row by `actor`. A
    /// past-due subscription is served for `grace_ms` after its period ends.
    pub async fn advance_subscriptions(
        &self,
        now: i64,
        grace_ms: i64,
        actor: &str,
        origin: &Origin,
    ) -> DbResult<Vec<Moved>> {
        let mut moved = Vec::new();
        for step in MOVES {
            // A pending sign-up's trial has not started: it starts at approval.
            let sql = format!(
                "SELECT s.tenant_id FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id \
                 WHERE s.state = $1 AND s.{} <= $2 AND t.status <> 'pending'",
                step.column
            );
            let due: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(step.from.as_str())
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
            for tenant_id in due {
                let change = Moved {
                    tenant_id,
                    from: step.from,
                    to: step.to,
                };
                let target = format!("subscription:{}", change.tenant_id);
                let action = match change.to {
                    SubscriptionState::PastDue => "subscription.past_due",
                    _ => "subscription.expire",
                };
                let audit =
                    AuditEntry::new(origin, actor, Some(&change.tenant_id), action, &target)
                        .before(&serde_json::json!({ "state": change.from }))
                        .after(&serde_json::json!({ "state": change.to }));
                // One row that fails is logged and left for the next tick; the
                // others still move.
                match self.make_move(step, &change, now, grace_ms, audit).await {
                    Ok(true) => moved.push(change),
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(tenant_id = %change.tenant_id, error = %err, "moving a subscription on failed");
                    }
                }
            }
        }
        Ok(moved)
    }

    /// One move, if the subscription is still where it was found (another replica,
    /// or a payment, may have moved it since).
    async fn make_move(
        &self,
        step: &Move,
        change: &Moved,
        now: i64,
        grace_ms: i64,
        audit: AuditEntry<'_>,
    ) -> DbResult<bool> {
        let sql = format!(
            "UPDATE subscriptions SET state = $1, updated_at = $2, \
             grace_ends_at = CASE WHEN $1 = 'past_due' THEN period_end + $3 ELSE grace_ends_at END \
             WHERE tenant_id = $4 AND state = $5 AND {} <= $2",
            step.column
        );
        let tenant_id = change.tenant_id.clone();
        let done = self
            .change_tenant(&tenant_id, Announce::Touch, audit, async |conn, _| {
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(step.to.as_str())
                    .bind(now)
                    .bind(grace_ms)
                    .bind(&tenant_id)
                    .bind(step.from.as_str())
                    .execute(conn)
                    .await?;
                Ok(one_row(&done))
            })
            .await?;
        Ok(done.is_ok())
    }

    /// Modules of the tenant that a plan change switched off.
    pub async fn paused_modules(&self, tenant_id: &str) -> DbResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT module_key FROM tenant_modules WHERE tenant_id = $1 AND paused_by_plan = 1 \
             ORDER BY module_key",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Moves the tenant to `plan` in one transaction announced to every replica:
    /// of `sold_elsewhere` (the modules sold without this plan), those on are
    /// switched off and marked paused; of `allowed` (the modules this plan lets a
    /// tenant have), those paused come back. The audit row (`audit`, given the
    /// previous plan and what changed) is written with it. None when the tenant is
    /// gone.
    pub async fn change_plan(
        &self,
        tenant_id: &str,
        plan: &str,
        sold_elsewhere: &[String],
        allowed: &[String],
        audit: AuditEntry<'_>,
    ) -> DbResult<Option<PlanChange>> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        let previous = match plan_for_update(&mut w.tx, tenant_id).await {
            Ok(previous) => previous,
            Err(sqlx::Error::RowNotFound) => return Ok(None),
            Err(err) => return Err(err),
        };
        sqlx::query("UPDATE tenants SET plan = $1 WHERE id = $2")
            .bind(plan)
            .bind(tenant_id)
            .execute(&mut *w.tx)
            .await?;
        let mut change = PlanChange {
            previous,
            paused: Vec::new(),
            resumed: Vec::new(),
        };
        for (modules, from, to, changed) in [
            (
                sold_elsewhere,
                "enabled = 1",
                (0_i64, 1_i64),
                &mut change.paused,
            ),
            (allowed, "paused_by_plan = 1", (1, 0), &mut change.resumed),
        ] {
            for module in modules {
                let sql = format!(
                    "UPDATE tenant_modules SET enabled = $1, paused_by_plan = $2, updated_at = $3 \
                     WHERE tenant_id = $4 AND module_key = $5 AND {from}"
                );
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(to.0)
                    .bind(to.1)
                    .bind(now)
                    .bind(tenant_id)
                    .bind(module)
                    .execute(&mut *w.tx)
                    .await?;
                if done.rows_affected() > 0 {
                    changed.push(module.clone());
                }
            }
        }
        super::touch_tenant(&mut w.tx, tenant_id, now).await?;
        audit
            .before(&serde_json::json!({ "plan": change.previous }))
            .after(&serde_json::json!({ "plan": plan, "paused": change.paused, "resumed": change.resumed }))
            .insert(&mut w.tx, now)
            .await?;
        w.commit().await?;
        Ok(Some(change))
    }

    /// When the next move after `now` is due, if any subscription has one coming
    /// (a pending tenant's trial has not started).
    pub async fn next_subscription_move(&self, now: i64) -> DbResult<Option<i64>> {
        let mut next: Option<i64> = None;
        for step in MOVES {
            let sql = format!(
                "SELECT MIN(s.{0}) FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id \
                 WHERE s.state = $1 AND s.{0} > $2 AND t.status <> 'pending'",
                step.column
            );
            let at: Option<i64> = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(step.from.as_str())
                .bind(now)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
            next = match (next, at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(next)
    }
}
