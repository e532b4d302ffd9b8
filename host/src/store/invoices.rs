//! Invoices: numbered across the platform with no gaps, each written in the
//! transaction of what made it (a trial's start, a renewal, a plan change), so an
//! invoice exists exactly when its cause does.

use sqlx::{AnyConnection, Row as _};

use super::{Db, DbResult};
use crate::billing::invoice::{InvoiceKind, InvoiceLine, NewInvoice};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceState {
    Open,
    Paid,
    Void,
}

impl InvoiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Void => "void",
        }
    }
}

/// An invoice as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Invoice {
    pub id: String,
    pub tenant_id: String,
    pub number: i64,
    /// The number as printed: `INV-000042`.
    pub label: String,
    pub kind: InvoiceKind,
    pub plan: String,
    pub state: InvoiceState,
    pub currency: String,
    pub period_start: i64,
    pub period_end: i64,
    pub lines: Vec<InvoiceLine>,
    pub subtotal_minor: i64,
    pub tax_rate_bps: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub issued_at: i64,
    pub due_at: i64,
    pub paid_at: Option<i64>,
    pub voided_at: Option<i64>,
}

const COLUMNS: &str = "id, tenant_id, number, kind, plan_key, state, currency, period_start, \
    period_end, lines, subtotal_minor, tax_rate_bps, tax_minor, total_minor, issued_at, due_at, \
    paid_at, voided_at";

fn decode(what: &str, e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("invoice {what}: {e}").into())
}

fn invoice(row: &sqlx::any::AnyRow) -> DbResult<Invoice> {
    let number: i64 = row.try_get("number")?;
    let kind = match row.try_get::<String, _>("kind")?.as_str() {
        "period" => InvoiceKind::Period,
        "plan_change" => InvoiceKind::PlanChange,
        other => return Err(decode("kind", other)),
    };
    let state = match row.try_get::<String, _>("state")?.as_str() {
        "open" => InvoiceState::Open,
        "paid" => InvoiceState::Paid,
        "void" => InvoiceState::Void,
        other => return Err(decode("state", other)),
    };
    let lines: String = row.try_get("lines")?;
    Ok(Invoice {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        number,
        label: label(number),
        kind,
        plan: row.try_get("plan_key")?,
        state,
        currency: row.try_get("currency")?,
        period_start: row.try_get("period_start")?,
        period_end: row.try_get("period_end")?,
        lines: serde_json::from_str(&lines).map_err(|e| decode("lines", e))?,
        subtotal_minor: row.try_get("subtotal_minor")?,
        tax_rate_bps: row.try_get("tax_rate_bps")?,
        tax_minor: row.try_get("tax_minor")?,
        total_minor: row.try_get("total_minor")?,
        issued_at: row.try_get("issued_at")?,
        due_at: row.try_get("due_at")?,
        paid_at: row.try_get("paid_at")?,
        voided_at: row.try_get("voided_at")?,
    })
}

pub fn label(number: i64) -> String {
    format!("INV-{number:06}")
}

/// Numbers and writes `new` for the tenant inside `conn`'s transaction. The number
/// comes from the one counter row, which the transaction holds until it ends: two
/// issuers take turns, and a rolled-back invoice gives its number back.
pub(crate) async fn issue(
    conn: &mut AnyConnection,
    tenant_id: &str,
    new: &NewInvoice,
    now: i64,
) -> DbResult<Invoice> {
    let number: i64 = sqlx::query_scalar(
        "UPDATE invoice_numbers SET next_number = next_number + 1 WHERE id = 1 \
         RETURNING next_number - 1",
    )
    .fetch_one(&mut *conn)
    .await?;
    let invoice = Invoice {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_owned(),
        number,
        label: label(number),
        kind: new.kind,
        plan: new.plan.clone(),
        state: InvoiceState::Open,
        currency: new.currency.clone(),
        period_start: new.period_start,
        period_end: new.period_end,
        lines: new.lines.clone(),
        subtotal_minor: new.subtotal_minor,
        tax_rate_bps: new.tax_rate_bps,
        tax_minor: new.tax_minor,
        total_minor: new.total_minor,
        issued_at: now,
        due_at: new.due_at,
        paid_at: None,
        voided_at: None,
    };
    let lines = serde_json::to_string(&invoice.lines).map_err(|e| decode("lines", e))?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO invoices ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL, NULL)"
    )))
    .bind(&invoice.id)
    .bind(tenant_id)
    .bind(number)
    .bind(invoice.kind.as_str())
    .bind(&invoice.plan)
    .bind(&invoice.currency)
    .bind(invoice.period_start)
    .bind(invoice.period_end)
    .bind(lines)
    .bind(invoice.subtotal_minor)
    .bind(invoice.tax_rate_bps)
    .bind(invoice.tax_minor)
    .bind(invoice.total_minor)
    .bind(now)
    .bind(invoice.due_at)
    .execute(conn)
    .await?;
    Ok(invoice)
}

/// Why a payment awaiting verification fails when its invoice is voided.
const VOIDED: &str = "The invoice was voided (replaced by a plan change, or the subscription \
                      was cancelled); pay the invoice that replaced it";

/// Voids the tenant's open invoices of `kinds` (a plan change replaces them, a
/// cancellation means the next period is not wanted) and returns them as they were.
/// A payment of one awaiting verification fails with the reason, so none is left
/// pending on an invoice that can no longer be paid.
pub(crate) async fn void_open(
    conn: &mut AnyConnection,
    tenant_id: &str,
    kinds: &[InvoiceKind],
    now: i64,
) -> DbResult<Vec<Invoice>> {
    let mut voided = Vec::new();
    for kind in kinds {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE invoices SET state = 'void', voided_at = $1 \
             WHERE tenant_id = $2 AND state = 'open' AND kind = $3 RETURNING {COLUMNS}"
        )))
        .bind(now)
        .bind(tenant_id)
        .bind(kind.as_str())
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            voided.push(invoice(row)?);
        }
    }
    for invoice in &voided {
        sqlx::query(
            "UPDATE payments SET status = 'failed', reviewed_by = 'billing', reviewed_at = $1, \
             reason = $2 WHERE tenant_id = $3 AND invoice_id = $4 AND status = 'pending_verification'",
        )
        .bind(now)
        .bind(VOIDED)
        .bind(tenant_id)
        .bind(&invoice.id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(voided)
}

/// The plan the tenant has paid for through `period_end`: that of the last paid
/// invoice (a period's, or an upgrade's) ending then.
pub(crate) async fn paid_plan(
    conn: &mut AnyConnection,
    tenant_id: &str,
    period_end: i64,
) -> DbResult<Option<String>> {
    sqlx::query_scalar(
        "SELECT plan_key FROM invoices WHERE tenant_id = $1 AND state = 'paid' AND period_end = $2 \
         ORDER BY number DESC LIMIT 1",
    )
    .bind(tenant_id)
    .bind(period_end)
    .fetch_optional(conn)
    .await
}

/// The tenant's open period invoice, if it has one.
pub(crate) async fn open_period(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> DbResult<Option<Invoice>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invoices WHERE tenant_id = $1 AND state = 'open' AND kind = 'period' \
         ORDER BY number DESC LIMIT 1"
    )))
    .bind(tenant_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(invoice).transpose()
}

/// One of the tenant's invoices; another tenant's id is not found.
pub(crate) async fn find(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
) -> DbResult<Option<Invoice>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invoices WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(invoice).transpose()
}

/// Marks the tenant's open invoice paid. None when it is not open (paid or void).
pub(crate) async fn mark_paid(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
    now: i64,
) -> DbResult<Option<Invoice>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE invoices SET state = 'paid', paid_at = $1 \
         WHERE tenant_id = $2 AND id = $3 AND state = 'open' RETURNING {COLUMNS}"
    )))
    .bind(now)
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(invoice).transpose()
}

/// Open invoices past their due date, across tenants: what the platform dashboard
/// calls overdue.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Overdue {
    pub tenant_id: String,
    pub invoices: i64,
    pub total_minor: i64,
    pub currency: String,
    pub oldest_due_at: i64,
}

impl Db {
    /// The tenant's invoices, newest first.
    pub async fn invoices(&self, tenant_id: &str) -> DbResult<Vec<Invoice>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM invoices WHERE tenant_id = $1 ORDER BY number DESC"
        )))
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(invoice).collect()
    }

    /// One of the tenant's invoices; another tenant's id is not found.
    pub async fn invoice(&self, tenant_id: &str, id: &str) -> DbResult<Option<Invoice>> {
        find(&mut *self.pool.acquire().await?, tenant_id, id).await
    }

    /// Per tenant and currency, the open invoices due before `now`.
    pub async fn overdue_invoices(&self, now: i64) -> DbResult<Vec<Overdue>> {
        let rows = sqlx::query(
            "SELECT tenant_id, currency, COUNT(*), CAST(SUM(total_minor) AS BIGINT), MIN(due_at) FROM invoices \
             WHERE state = 'open' AND due_at < $1 GROUP BY tenant_id, currency \
             ORDER BY MIN(due_at), tenant_id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Overdue {
                    tenant_id: row.try_get(0)?,
                    currency: row.try_get(1)?,
                    invoices: row.try_get(2)?,
                    total_minor: row.try_get(3)?,
                    oldest_due_at: row.try_get(4)?,
                })
            })
            .collect()
    }
}
