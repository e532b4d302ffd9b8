//! A tenant's life cycle: approve, suspend, reactivate, archive, restore.

use serde_json::json;

use super::{Actor, ProvisionError, Provisioner, invalid};
use crate::tenancy::{Tenant, TenantStatus};

/// A state change of a tenant. Each one is allowed only from the states listed by
/// [`Transition::from`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Approve,
    Suspend,
    Reactivate,
    Archive,
    Restore,
}

impl Transition {
    pub fn from(self) -> &'static [TenantStatus] {
        use TenantStatus::*;
        match self {
            Self::Approve => &[Pending],
            Self::Suspend => &[Active],
            Self::Reactivate => &[Suspended],
            // Not from pending: restore goes to active, which would skip approval.
            Self::Archive => &[Active, Suspended],
            Self::Restore => &[Archived],
        }
    }

    pub fn to(self) -> TenantStatus {
        match self {
            Self::Approve | Self::Reactivate | Self::Restore => TenantStatus::Active,
            Self::Suspend => TenantStatus::Suspended,
            Self::Archive => TenantStatus::Archived,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Suspend => "suspend",
            Self::Reactivate => "reactivate",
            Self::Archive => "archive",
            Self::Restore => "restore",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Self::Approve => "tenant.approve",
            Self::Suspend => "tenant.suspend",
            Self::Reactivate => "tenant.reactivate",
            Self::Archive => "tenant.archive",
            Self::Restore => "tenant.restore",
        }
    }

    /// Taking a tenant out of service needs a reason; the others may give one.
    fn needs_reason(self) -> bool {
        matches!(self, Self::Suspend | Self::Archive)
    }
}

impl std::str::FromStr for Transition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Approve,
            Self::Suspend,
            Self::Reactivate,
            Self::Archive,
            Self::Restore,
        ]
        .into_iter()
        .find(|t| t.name() == s)
        .ok_or_else(|| format!("unknown transition {s:?}"))
    }
}

impl Provisioner<'_> {
    /// Moves a tenant to another state, if the transition is allowed from its
    /// current one. Suspending or archiving drops its slots at once (`published`).
    pub async fn transition(
        &self,
        tenant_key: &str,
        transition: Transition,
        reason: Option<&str>,
        actor: &Actor<'_>,
    ) -> Result<Tenant, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let tenant = &view.tenant;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        match reason {
            None if transition.needs_reason() => {
                return Err(invalid(
                    "reason",
                    format!("is required to {}", transition.name()),
                ));
            }
            Some(r) if r.chars().count() > 500 => {
                return Err(invalid("reason", "must be at most 500 characters"));
            }
            _ => {}
        }
        let not_allowed = || {
            ProvisionError::InvalidTransition(format!(
                "cannot {} tenant {}: it is {}",
                transition.name(),
                tenant.subdomain,
                tenant.status.as_str()
            ))
        };
        if !transition.from().contains(&tenant.status) {
            return Err(not_allowed());
        }
        let target = format!("tenant:{}", tenant.subdomain);
        let audit = actor
            .audit(Some(&tenant.id), transition.action(), &target)
            .after(&json!({"status": transition.to(), "reason": reason}));
        let trial = if transition == Transition::Approve {
            Some(self.trial_start(&tenant.plan).await?)
        } else {
            None
        };
        if !self
            .db
            .transition_tenant(
                &tenant.id,
                transition.from(),
                transition.to(),
                reason,
                trial.as_ref(),
                audit,
            )
            .await?
        {
            // Someone else moved it first.
            return Err(not_allowed());
        }
        tracing::info!(tenant = %tenant.subdomain, transition = transition.name(), "tenant state changed");
        self.published(&tenant.id).await?;
        let mut changed = tenant.clone();
        changed.status = transition.to();
        changed.status_reason = reason.map(str::to_owned);
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_only_from_their_states() {
        use TenantStatus::*;
        assert_eq!(Transition::Approve.from(), &[Pending]);
        assert!(!Transition::Suspend.from().contains(&Archived));
        assert!(!Transition::Restore.from().contains(&Active));
        assert_eq!("archive".parse::<Transition>(), Ok(Transition::Archive));
        assert!("delete".parse::<Transition>().is_err());
    }
}
