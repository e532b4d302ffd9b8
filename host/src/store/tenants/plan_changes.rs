//! Moving a tenant to another plan: its modules paused and resumed, its open
//! invoices voided and repriced, in one transaction announced to every replica.

use sqlx::AnyConnection;

use super::subscriptions::{Subscription, subscription_for_update};
use crate::billing::invoice::{InvoiceKind, NewInvoice};
use crate::store::invoices::{self, Invoice};
use crate::store::{AuditEntry, Db, DbResult, now_ms};

/// What a plan change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    pub previous: String,
    /// Switched off: on before, and not in the new plan.
    pub paused: Vec<String>,
    /// Switched back on: paused by an earlier change, and in the new plan.
    pub resumed: Vec<String>,
    /// Issued: the voided period invoices repriced, and an upgrade's difference.
    pub invoices: Vec<Invoice>,
}

/// What a plan change reprices: the subscription, the plan paid for through its
/// period (the plan it leaves, when nothing was paid), and the open invoices it
/// voided.
pub struct Repricing<'a> {
    pub paid: &'a str,
    pub subscription: &'a Subscription,
    pub voided: &'a [Invoice],
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

impl Db {
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
    /// previous plan and what changed) is written with it. The open period invoices
    /// are voided, and `reprice` says what to issue instead (and for an upgrade
    /// within a paid period). None when the tenant is gone.
    pub async fn change_plan(
        &self,
        tenant_id: &str,
        (plan, sold_elsewhere, allowed): (&str, &[String], &[String]),
        reprice: &(dyn Fn(&Repricing<'_>) -> Vec<NewInvoice> + Send + Sync),
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
            invoices: Vec::new(),
        };
        if let Some(subscription) = subscription_for_update(&mut w.tx, tenant_id).await? {
            // An upgrade's open difference goes too: the new one is computed from
            // what was paid.
            let voided = invoices::void_open(
                &mut w.tx,
                tenant_id,
                &[InvoiceKind::Period, InvoiceKind::PlanChange],
                now,
            )
            .await?;
            let paid = match subscription.period_end {
                Some(end) => invoices::paid_plan(&mut w.tx, tenant_id, end).await?,
                None => None,
            };
            let basis = Repricing {
                paid: paid.as_deref().unwrap_or(&change.previous),
                subscription: &subscription,
                voided: &voided,
            };
            for invoice in reprice(&basis) {
                let issued = invoices::issue(&mut w.tx, tenant_id, &invoice, now).await?;
                change.invoices.push(issued);
            }
        }
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
            .after(&serde_json::json!({
                "plan": plan, "paused": change.paused, "resumed": change.resumed,
                "invoices": change.invoices.iter().map(|i| &i.label).collect::<Vec<_>>(),
            }))
            .insert(&mut w.tx, self.audit_key()?, now)
            .await?;
        w.commit().await?;
        Ok(Some(change))
    }
}
