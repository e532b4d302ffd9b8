//! A tenant's custom domains.

use super::{Actor, ProvisionError, Provisioner, TenantDetails, invalid};

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
        let target = format!("tenant:{}/domain:{domain}", view.tenant.subdomain);
        let audit = actor.audit(Some(&view.tenant.id), "tenant.domain.add", &target);
        if !self
            .db
            .add_tenant_domain(&view.tenant.id, &domain, audit)
            .await?
        {
            return Err(ProvisionError::DomainTaken(domain));
        }
        self.published(&view.tenant.id).await?;
        self.details(&view.tenant.id).await
    }

    pub async fn remove_domain(
        &self,
        tenant_key: &str,
        domain: &str,
        actor: &Actor<'_>,
    ) -> Result<TenantDetails, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let domain = domain.to_ascii_lowercase();
        let target = format!("tenant:{}/domain:{domain}", view.tenant.subdomain);
        let audit = actor.audit(Some(&view.tenant.id), "tenant.domain.remove", &target);
        if !self
            .db
            .remove_tenant_domain(&view.tenant.id, &domain, audit)
            .await?
        {
            return Err(ProvisionError::UnknownDomain(domain));
        }
        self.published(&view.tenant.id).await?;
        self.details(&view.tenant.id).await
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
