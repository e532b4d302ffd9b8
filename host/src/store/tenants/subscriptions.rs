//! A tenant's subscription to its plan (`tenants.plan`): its state and the times
//! that move it. Each time-driven move is a conditional update with its audit row,
//! announced like any tenant change, so it happens once across replicas and every
//! replica sees it.

use std::str::FromStr;

use sqlx::{AnyConnection, Row as _};

use super::Announce;
use crate::billing::invoice::{InvoiceKind, NewInvoice};
use crate::store::invoices::{self, Invoice};
use crate::store::{AuditEntry, Db, DbResult, Origin};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Subscription {
    pub state: SubscriptionState,
    pub trial_ends_at: Option<i64>,
    /// The paid period: from (with `period_end`, what a plan change pro-rates)...
    pub period_start: Option<i64>,
    /// ...until.
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

/// A trial that starts at a sign-up's approval, with the invoice for the first
/// period after it.
pub struct TrialStart {
    pub ends_at: i64,
    pub first_invoice: NewInvoice,
}

/// Issues the invoices `make` asks for the subscription as it is in `conn`'s
/// transaction (a renewal, a plan change), returning them.
pub type Invoicing<'a> = &'a (dyn Fn(&Subscription, &str) -> Vec<NewInvoice> + Send + Sync);

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

/// Moves the end of a trial still running to `trial.ends_at`, replacing the
/// invoice for the period after it.
pub(super) async fn restart_trial(
    conn: &mut AnyConnection,
    tenant_id: &str,
    trial: &TrialStart,
    now: i64,
) -> DbResult<()> {
    let done = sqlx::query(
        "UPDATE subscriptions SET trial_ends_at = $1, updated_at = $2 \
         WHERE tenant_id = $3 AND state = 'trial'",
    )
    .bind(trial.ends_at)
    .bind(now)
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        invoices::void_open(conn, tenant_id, &[InvoiceKind::Period], now).await?;
        invoices::issue(conn, tenant_id, &trial.first_invoice, now).await?;
    }
    Ok(())
}

/// The tenant's subscription and plan as `conn`'s transaction sees them, the row
/// locked on PostgreSQL.
pub(super) async fn subscription_for_update(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> DbResult<Option<Subscription>> {
    let lock = if conn.backend_name() == "PostgreSQL" {
        " FOR UPDATE"
    } else {
        ""
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1{lock}"
    )))
    .bind(tenant_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(subscription).transpose()
}

pub(super) const COLUMNS: &str = "state, trial_ends_at, period_start, period_end, grace_ends_at";

pub(super) fn subscription(row: &sqlx::any::AnyRow) -> DbResult<Subscription> {
    let state: String = row.try_get(0)?;
    Ok(Subscription {
        state: state
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        trial_ends_at: row.try_get(1)?,
        period_start: row.try_get(2)?,
        period_end: row.try_get(3)?,
        grace_ends_at: row.try_get(4)?,
    })
}

/// Settles a paid invoice on the subscription: a period invoice makes it active for
/// the invoice's period, or, once expired, for as long from `now`. What it was and
/// what it became, for the audit row.
pub(super) async fn settle(
    conn: &mut AnyConnection,
    invoice: &Invoice,
    now: i64,
) -> DbResult<Option<(Subscription, Subscription)>> {
    if invoice.kind != InvoiceKind::Period {
        return Ok(None);
    }
    let Some(before) = subscription_for_update(conn, &invoice.tenant_id).await? else {
        return Ok(None);
    };
    let (start, end) = if before.state == SubscriptionState::Expired && invoice.period_start < now {
        (now, now + (invoice.period_end - invoice.period_start))
    } else {
        (invoice.period_start, invoice.period_end)
    };
    sqlx::query(
        "UPDATE subscriptions SET state = 'active', period_start = $1, period_end = $2, \
         grace_ends_at = NULL, updated_at = $3 WHERE tenant_id = $4",
    )
    .bind(start)
    .bind(end)
    .bind(now)
    .bind(&invoice.tenant_id)
    .execute(conn)
    .await?;
    let after = Subscription {
        state: SubscriptionState::Active,
        period_start: Some(start),
        period_end: Some(end),
        grace_ends_at: None,
        ..before.clone()
    };
    Ok(Some((before, after)))
}

/// Why a tenant admin's cancel or renew was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionRefusal {
    NoSubscription,
    /// Not in a state the action applies to.
    Not(SubscriptionState),
}

/// What renewing did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Renewed {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// The period invoice to pay (none when a cancellation was undone).
    pub invoice: Option<Invoice>,
}

impl Db {
    pub async fn subscription(&self, tenant_id: &str) -> DbResult<Option<Subscription>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1"
        )))
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(subscription).transpose()
    }

    /// How many subscriptions are in each state (pending sign-ups not counted).
    pub async fn subscriptions_by_state(&self) -> DbResult<Vec<(SubscriptionState, i64)>> {
        let rows = sqlx::query(
            "SELECT s.state, COUNT(*) FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id \
             WHERE t.status <> 'pending' GROUP BY s.state ORDER BY s.state",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get(0)?;
                Ok((
                    state
                        .parse()
                        .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
                    row.try_get(1)?,
                ))
            })
            .collect()
    }

    /// The plan of every paying subscription (active, past due or cancelled but
    /// still paid for), with how many tenants are on it: what recurring revenue
    /// is made of.
    pub async fn paying_plans(&self) -> DbResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT t.plan, COUNT(*) FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id \
             WHERE s.state IN ('active', 'past_due', 'cancelled') GROUP BY t.plan ORDER BY t.plan",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// A tenant admin cancels: an active subscription stays served until the end of
    /// its paid period, then expires, and no renewal invoice is made.
    pub async fn cancel_subscription(
        &self,
        tenant_id: &str,
        now: i64,
        audit: AuditEntry<'_>,
    ) -> DbResult<Result<Subscription, SubscriptionRefusal>> {
        self.change_tenant(tenant_id, Announce::Touch, audit, async |conn, _, _| {
            let Some(before) = subscription_for_update(conn, tenant_id).await? else {
                return Ok(Err(SubscriptionRefusal::NoSubscription));
            };
            if before.state != SubscriptionState::Active {
                return Ok(Err(SubscriptionRefusal::Not(before.state)));
            }
            sqlx::query(
                "UPDATE subscriptions SET state = 'cancelled', updated_at = $1 WHERE tenant_id = $2",
            )
            .bind(now)
            .bind(tenant_id)
            .execute(&mut *conn)
            .await?;
            invoices::void_open(conn, tenant_id, &[InvoiceKind::Period], now).await?;
            Ok(Ok(Subscription {
                state: SubscriptionState::Cancelled,
                ..before
            }))
        })
        .await
    }

    /// A tenant admin renews: a cancelled subscription is active again (its renewal
    /// invoice comes at the end of the period); one on trial, past due or expired
    /// gets its open period invoice, or the one `invoice` makes for it, to pay.
    pub async fn renew_subscription(
        &self,
        tenant_id: &str,
        invoice: &(dyn Fn(&Subscription) -> Option<NewInvoice> + Send + Sync),
        now: i64,
        audit: AuditEntry<'_>,
    ) -> DbResult<Result<Renewed, SubscriptionRefusal>> {
        self.change_tenant(tenant_id, Announce::Touch, audit, async |conn, _, _| {
            let Some(before) = subscription_for_update(conn, tenant_id).await? else {
                return Ok(Err(SubscriptionRefusal::NoSubscription));
            };
            if before.state == SubscriptionState::Cancelled {
                sqlx::query(
                    "UPDATE subscriptions SET state = 'active', updated_at = $1 WHERE tenant_id = $2",
                )
                .bind(now)
                .bind(tenant_id)
                .execute(&mut *conn)
                .await?;
                return Ok(Ok(Renewed {
                    subscription: Subscription {
                        state: SubscriptionState::Active,
                        ..before
                    },
                    invoice: None,
                }));
            }
            let open = match invoices::open_period(conn, tenant_id).await? {
                Some(open) => Some(open),
                None => match invoice(&before) {
                    Some(new) => Some(invoices::issue(conn, tenant_id, &new, now).await?),
                    None => None,
                },
            };
            match open {
                Some(invoice) => Ok(Ok(Renewed {
                    subscription: before,
                    invoice: Some(invoice),
                })),
                None => Ok(Err(SubscriptionRefusal::Not(before.state))),
            }
        })
        .await
    }

    /// Makes every move that is due at `now`, each with its audit row by `actor`. A
    /// past-due subscription is served for `grace_ms` after its period ends.
    /// A subscription going past due gets the invoice `renewal` makes for it (the
    /// next period, from the end of the paid one).
    pub async fn advance_subscriptions(
        &self,
        now: i64,
        grace_ms: i64,
        renewal: Invoicing<'_>,
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
                match self
                    .make_move(step, &change, (now, grace_ms), renewal, audit)
                    .await
                {
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
        (now, grace_ms): (i64, i64),
        renewal: Invoicing<'_>,
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
            .change_tenant(&tenant_id, Announce::Touch, audit, async |conn, _, _| {
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(step.to.as_str())
                    .bind(now)
                    .bind(grace_ms)
                    .bind(&tenant_id)
                    .bind(step.from.as_str())
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(Err(()));
                }
                if step.to == SubscriptionState::PastDue {
                    let plan = super::plan_changes::plan_for_update(conn, &tenant_id).await?;
                    if let Some(now_due) = subscription_for_update(conn, &tenant_id).await? {
                        for invoice in renewal(&now_due, &plan) {
                            invoices::issue(conn, &tenant_id, &invoice, now).await?;
                        }
                    }
                }
                Ok(Ok(()))
            })
            .await?;
        Ok(done.is_ok())
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
