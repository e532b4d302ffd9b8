//! Payments of invoices, each with its proof: submitted by a tenant admin, then
//! approved or rejected by a platform admin. A review is a conditional update on
//! the payment's status, so a payment is reviewed once, however many admins try
//! at the same moment; approving settles the invoice and the subscription in the
//! same transaction.

use sqlx::{AnyConnection, Row as _};

use super::Announce;
use super::subscriptions::{Subscription, settle};
use crate::store::invoices::{self, Invoice, InvoiceState};
use crate::store::{AuditEntry, Db, DbResult, Origin};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    PendingVerification,
    Completed,
    Failed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingVerification => "pending_verification",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for PaymentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "pending_verification" => Self::PendingVerification,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            other => return Err(format!("unknown payment status {other:?}")),
        })
    }
}

/// The proof of a payment, as described (its bytes are fetched on their own).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Proof {
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: String,
    pub tenant_id: String,
    pub invoice_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub method: String,
    pub reference: Option<String>,
    pub status: PaymentStatus,
    pub proof: Proof,
    pub submitted_by: String,
    pub submitted_at: i64,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    /// Why it was rejected.
    pub reason: Option<String>,
}

/// A payment a tenant admin submits; its amount and currency are the invoice's.
pub struct NewPayment<'a> {
    pub invoice_id: &'a str,
    pub method: &'a str,
    pub reference: Option<&'a str>,
    pub proof: &'a Proof,
    pub proof_bytes: &'a [u8],
    pub submitted_by: &'a str,
}

/// Why a payment was not submitted or not reviewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentRefusal {
    UnknownInvoice,
    InvoiceNot(InvoiceState),
    /// A payment of this invoice awaits verification already.
    AlreadyPending,
    UnknownPayment,
    /// Reviewed already (by another admin, perhaps at the same moment).
    AlreadyReviewed(PaymentStatus),
}

impl std::fmt::Display for PaymentRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownInvoice => write!(f, "No such invoice"),
            Self::InvoiceNot(state) => write!(f, "The invoice is {}", state.as_str()),
            Self::AlreadyPending => write!(
                f,
                "A payment of this invoice is awaiting verification already"
            ),
            Self::UnknownPayment => write!(f, "No such payment"),
            Self::AlreadyReviewed(status) => write!(
                f,
                "The payment was reviewed already: it is {}",
                status.as_str()
            ),
        }
    }
}

/// What an approval or a rejection did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Reviewed {
    pub payment: Payment,
    pub invoice: Option<Invoice>,
    pub subscription: Option<Subscription>,
}

const COLUMNS: &str = "id, tenant_id, invoice_id, amount_minor, currency, method, reference, \
    status, proof_name, proof_type, proof_size, proof_sha256, submitted_by, submitted_at, \
    reviewed_by, reviewed_at, reason";

fn payment(row: &sqlx::any::AnyRow) -> DbResult<Payment> {
    let status: String = row.try_get("status")?;
    Ok(Payment {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        invoice_id: row.try_get("invoice_id")?,
        amount_minor: row.try_get("amount_minor")?,
        currency: row.try_get("currency")?,
        method: row.try_get("method")?,
        reference: row.try_get("reference")?,
        status: status
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        proof: Proof {
            name: row.try_get("proof_name")?,
            content_type: row.try_get("proof_type")?,
            size: row.try_get("proof_size")?,
            sha256: row.try_get("proof_sha256")?,
        },
        submitted_by: row.try_get("submitted_by")?,
        submitted_at: row.try_get("submitted_at")?,
        reviewed_by: row.try_get("reviewed_by")?,
        reviewed_at: row.try_get("reviewed_at")?,
        reason: row.try_get("reason")?,
    })
}

/// Moves a pending payment to `to`, if it is still pending: the one guard that
/// makes a review happen once.
async fn review(
    conn: &mut AnyConnection,
    (tenant_id, id): (&str, &str),
    to: PaymentStatus,
    (reviewer, reason): (&str, Option<&str>),
    now: i64,
) -> DbResult<Result<Payment, PaymentRefusal>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE payments SET status = $1, reviewed_by = $2, reviewed_at = $3, reason = $4 \
         WHERE tenant_id = $5 AND id = $6 AND status = 'pending_verification' RETURNING {COLUMNS}"
    )))
    .bind(to.as_str())
    .bind(reviewer)
    .bind(now)
    .bind(reason)
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = row {
        return Ok(Ok(payment(&row)?));
    }
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM payments WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(Err(match status {
        Some(status) => PaymentRefusal::AlreadyReviewed(
            status
                .parse()
                .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        ),
        None => PaymentRefusal::UnknownPayment,
    }))
}

impl Db {
    /// Records a payment of the tenant's open invoice, awaiting verification.
    pub async fn submit_payment(
        &self,
        tenant_id: &str,
        new: &NewPayment<'_>,
        now: i64,
        audit: AuditEntry<'_>,
    ) -> DbResult<Result<Payment, PaymentRefusal>> {
        self.change_tenant(tenant_id, Announce::Silent, audit, async |conn, _, _| {
            let Some(invoice) = invoices::find(conn, tenant_id, new.invoice_id).await? else {
                return Ok(Err(PaymentRefusal::UnknownInvoice));
            };
            if invoice.state != InvoiceState::Open {
                return Ok(Err(PaymentRefusal::InvoiceNot(invoice.state)));
            }
            let id = uuid::Uuid::now_v7().to_string();
            let inserted = sqlx::query(
                "INSERT INTO payments (tenant_id, id, invoice_id, amount_minor, currency, method, \
                 reference, status, proof_name, proof_type, proof_size, proof_sha256, proof, \
                 submitted_by, submitted_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending_verification', $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(tenant_id)
            .bind(&id)
            .bind(&invoice.id)
            .bind(invoice.total_minor)
            .bind(&invoice.currency)
            .bind(new.method)
            .bind(new.reference)
            .bind(&new.proof.name)
            .bind(&new.proof.content_type)
            .bind(new.proof.size)
            .bind(&new.proof.sha256)
            .bind(new.proof_bytes)
            .bind(new.submitted_by)
            .bind(now)
            .execute(&mut *conn)
            .await;
            match inserted {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Ok(Err(PaymentRefusal::AlreadyPending));
                }
                Err(err) => return Err(err),
            }
            Ok(Ok(Payment {
                id,
                tenant_id: tenant_id.to_owned(),
                invoice_id: invoice.id,
                amount_minor: invoice.total_minor,
                currency: invoice.currency,
                method: new.method.to_owned(),
                reference: new.reference.map(str::to_owned),
                status: PaymentStatus::PendingVerification,
                proof: new.proof.clone(),
                submitted_by: new.submitted_by.to_owned(),
                submitted_at: now,
                reviewed_by: None,
                reviewed_at: None,
                reason: None,
            }))
        })
        .await
    }

    /// Approves a pending payment: the invoice is paid and, for a period invoice,
    /// the subscription active for that period, all in one transaction announced to
    /// every replica, with an audit row for the payment (`audit`) and one for the
    /// subscription.
    pub async fn approve_payment(
        &self,
        payment: &Payment,
        reviewer: &str,
        now: i64,
        origin: &Origin,
        audit: AuditEntry<'_>,
    ) -> DbResult<Result<Reviewed, PaymentRefusal>> {
        let tenant_id = payment.tenant_id.as_str();
        self.change_tenant(tenant_id, Announce::Touch, audit, async |conn, at, _| {
            let payment = match review(
                conn,
                (tenant_id, &payment.id),
                PaymentStatus::Completed,
                (reviewer, None),
                now,
            )
            .await?
            {
                Ok(payment) => payment,
                Err(refused) => return Ok(Err(refused)),
            };
            let Some(invoice) =
                invoices::mark_paid(conn, tenant_id, &payment.invoice_id, now).await?
            else {
                // Voided (a plan change replaced it) since the payment came in.
                return Ok(Err(PaymentRefusal::InvoiceNot(InvoiceState::Void)));
            };
            let settled = settle(conn, &invoice, now).await?;
            if let Some((before, after)) = &settled {
                let target = format!("subscription:{tenant_id}");
                AuditEntry::new(
                    origin,
                    reviewer,
                    Some(tenant_id),
                    "subscription.activate",
                    &target,
                )
                .before(before)
                .after(after)
                .insert(conn, self.audit_key()?, at)
                .await?;
            }
            Ok(Ok(Reviewed {
                payment,
                invoice: Some(invoice),
                subscription: settled.map(|(_, after)| after),
            }))
        })
        .await
    }

    /// Rejects a pending payment with the reason the tenant is shown.
    pub async fn reject_payment(
        &self,
        payment: &Payment,
        reviewer: &str,
        reason: &str,
        now: i64,
        audit: AuditEntry<'_>,
    ) -> DbResult<Result<Reviewed, PaymentRefusal>> {
        let tenant_id = payment.tenant_id.as_str();
        self.change_tenant(tenant_id, Announce::Silent, audit, async |conn, _, _| {
            Ok(review(
                conn,
                (tenant_id, &payment.id),
                PaymentStatus::Failed,
                (reviewer, Some(reason)),
                now,
            )
            .await?
            .map(|payment| Reviewed {
                payment,
                invoice: None,
                subscription: None,
            }))
        })
        .await
    }

    /// Payments, newest first: of one tenant, or across tenants; of one status or
    /// all.
    pub async fn payments(
        &self,
        tenant_id: Option<&str>,
        status: Option<PaymentStatus>,
        limit: i64,
    ) -> DbResult<Vec<Payment>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payments WHERE ($1 IS NULL OR tenant_id = $1) \
             AND ($2 IS NULL OR status = $2) ORDER BY submitted_at DESC, id DESC LIMIT $3"
        )))
        .bind(tenant_id)
        .bind(status.map(PaymentStatus::as_str))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(payment).collect()
    }

    /// How many payments there are of one status, of one tenant or across tenants.
    pub async fn count_payments(
        &self,
        tenant_id: Option<&str>,
        status: PaymentStatus,
    ) -> DbResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM payments WHERE ($1 IS NULL OR tenant_id = $1) AND status = $2",
        )
        .bind(tenant_id)
        .bind(status.as_str())
        .fetch_one(&self.pool)
        .await
    }

    /// One payment, by id alone (platform admins) or within a tenant.
    pub async fn payment(&self, tenant_id: Option<&str>, id: &str) -> DbResult<Option<Payment>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payments WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2)"
        )))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(payment).transpose()
    }

    /// The proof's bytes.
    pub async fn payment_proof(&self, tenant_id: &str, id: &str) -> DbResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT proof FROM payments WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }
}
