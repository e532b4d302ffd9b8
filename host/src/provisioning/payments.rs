//! Verifying payments: a platform admin approves (the invoice is paid and the
//! subscription active, at once on every replica) or rejects with a reason.

use serde_json::json;

use super::{Actor, ProvisionError, Provisioner};
use crate::store::{Payment, PaymentRefusal, PaymentStatus, Reviewed};

impl Provisioner<'_> {
    async fn find_payment(&self, id: &str) -> Result<Payment, ProvisionError> {
        self.db
            .payment(None, id)
            .await?
            .ok_or(ProvisionError::Payment(PaymentRefusal::UnknownPayment))
    }

    /// Approves a pending payment once: a second approval, even at the same moment
    /// by another admin, is refused.
    pub async fn approve_payment(
        &self,
        id: &str,
        actor: &Actor<'_>,
    ) -> Result<Reviewed, ProvisionError> {
        let payment = self.find_payment(id).await?;
        let target = format!("payment:{}", payment.id);
        let audit = actor
            .audit(Some(&payment.tenant_id), "payment.approve", &target)
            .before(&json!({ "status": payment.status }))
            .after(&json!({ "status": PaymentStatus::Completed, "invoice": payment.invoice_id }));
        let now = self.clock.now_ms();
        let reviewed = self
            .db
            .approve_payment(&payment, actor.id, now, &actor.origin, audit)
            .await?
            .map_err(ProvisionError::Payment)?;
        self.directory.refresh(&payment.tenant_id).await?;
        tracing::info!(payment = %payment.id, tenant_id = %payment.tenant_id, "payment approved");
        Ok(reviewed)
    }

    /// Rejects a pending payment with the reason the tenant is shown.
    pub async fn reject_payment(
        &self,
        id: &str,
        reason: &str,
        actor: &Actor<'_>,
    ) -> Result<Reviewed, ProvisionError> {
        const MAX_REASON_CHARS: usize = 500;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(super::invalid(
                "reason",
                format!("required, at most {MAX_REASON_CHARS} characters"),
            ));
        }
        let payment = self.find_payment(id).await?;
        let target = format!("payment:{}", payment.id);
        let audit = actor
            .audit(Some(&payment.tenant_id), "payment.reject", &target)
            .before(&json!({ "status": payment.status }))
            .after(&json!({ "status": PaymentStatus::Failed, "reason": reason }));
        let now = self.clock.now_ms();
        let reviewed = self
            .db
            .reject_payment(&payment, actor.id, reason, now, audit)
            .await?
            .map_err(ProvisionError::Payment)?;
        tracing::info!(payment = %payment.id, tenant_id = %payment.tenant_id, "payment rejected");
        Ok(reviewed)
    }
}
