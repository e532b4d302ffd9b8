//! A tenant's custom domains.

use super::{Actor, ProvisionError, Provisioner, TenantDetails, invalid};
use crate::store::DomainChange;
use crate::tenancy::TenantView;

impl Provisioner<'_> {
    /// Adds a custom domain; requests for it resolve to the tenant before any
    /// subdomain match.
    pub async fn add_domain(
        &self,
        tenant_key: &str,
        domain: &str,
        actor: &Actor<'_>,
    ) -> Result<TenantDetails, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if !valid_domain(&domain) {
            return Err(invalid(
                "domain",
                "must be a host name of two or more DNS labels",
            ));
        }
        self.change_domain(&view, domain, DomainChange::Add, actor)
            .await
    }

    pub async fn remove_domain(
        &self,
        tenant_key: &str,
        domain: &str,
        actor: &Actor<'_>,
    ) -> Result<TenantDetails, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        self.change_domain(
            &view,
            domain.to_ascii_lowercase(),
            DomainChange::Remove,
            actor,
        )
        .await
    }

    async fn change_domain(
        &self,
        view: &TenantView,
        domain: String,
        change: DomainChange,
        actor: &Actor<'_>,
    ) -> Result<TenantDetails, ProvisionError> {
        let tenant = &view.tenant;
        let (action, refused): (_, fn(String) -> ProvisionError) = match change {
            DomainChange::Add => ("tenant.domain.add", ProvisionError::DomainTaken),
            DomainChange::Remove => ("tenant.domain.remove", ProvisionError::UnknownDomain),
        };
        let target = format!("tenant:{}/domain:{domain}", tenant.subdomain);
        let audit = actor.audit(Some(&tenant.id), action, &target);
        if !self
            .db
            .change_tenant_domain(&tenant.id, &domain, change, audit)
            .await?
        {
            return Err(refused(domain));
        }
        self.published(&tenant.id).await?;
        self.details(&tenant.id).await
    }
}

/// A host name: two or more DNS labels, lower-case.
fn valid_domain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').count() >= 2
        && s.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert!(valid_domain("hr.acme.example"));
        assert!(!valid_domain("localhost"));
        assert!(!valid_domain("a..b"));
        assert!(!valid_domain("-a.b"));
        assert!(!valid_domain("ac/me.example"));
    }
}
