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
        if let Some(problem) = foreign_domain(&domain, self.directory.base_domain()) {
            return Err(invalid("domain", problem));
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

/// Top-level names no one can own on the Internet: a host under one resolves to
/// a machine of the platform's or the user's own, never to a tenant's site.
const RESERVED_TOP_LEVEL: &[&str] = &["localhost", "local", "internal", "invalid", "arpa", "home"];

/// Why `domain`, a valid host name, may not be a tenant's own: the platform's base
/// domain and every name under it belong to the platform (and to the tenants'
/// subdomains), a reserved name belongs to no one, and an address is no domain.
fn foreign_domain(domain: &str, base: Option<&str>) -> Option<&'static str> {
    let top = domain.rsplit('.').next().unwrap_or(domain);
    if let Some(base) = base
        && (domain == base || domain.ends_with(&format!(".{base}")))
    {
        Some("must not be the platform's domain or a name under it")
    } else if top.bytes().all(|b| b.is_ascii_digit()) {
        Some("must be a domain name, not an IP address")
    } else if RESERVED_TOP_LEVEL.contains(&top) {
        Some("must not be under a reserved top-level name")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_and_reserved_names_are_no_tenant_domain() {
        let base = Some("mosaic.example");
        for taken in [
            "mosaic.example",
            "alpha.mosaic.example",
            "www.mosaic.example",
            "a.b.mosaic.example",
            "10.0.0.1",
            "127.0.0.1",
            "intranet.local",
            "db.internal",
            "my.localhost",
        ] {
            assert!(foreign_domain(taken, base).is_some(), "{taken}");
        }
        for own in ["hr.acme.example", "notmosaic.example", "acme.com"] {
            assert_eq!(foreign_domain(own, base), None, "{own}");
        }
        assert_eq!(foreign_domain("alpha.mosaic.example", None), None);
    }

    #[test]
    fn domains() {
        assert!(valid_domain("hr.acme.example"));
        assert!(!valid_domain("localhost"));
        assert!(!valid_domain("a..b"));
        assert!(!valid_domain("-a.b"));
        assert!(!valid_domain("ac/me.example"));
    }
}
