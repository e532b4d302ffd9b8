//! A tenant's custom domains.

use sqlx::Row;

use super::{Announce, one_row};
use crate::store::{AuditEntry, Db, DbResult};

/// A custom domain added to a tenant or removed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainChange {
    Add,
    Remove,
}

impl DomainChange {
    /// The statement, on (`$1` domain, `$2` tenant id); it changes no row when the
    /// domain is taken (add) or not the tenant's (remove).
    fn sql(self) -> &'static str {
        match self {
            Self::Add => {
                "INSERT INTO tenant_domains (domain, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            }
            Self::Remove => "DELETE FROM tenant_domains WHERE domain = $1 AND tenant_id = $2",
        }
    }
}

impl Db {
    /// Adds or removes a custom domain, with its audit row. False when another tenant
    /// (or this one) already has the domain to add, or the tenant did not have the
    /// domain to remove.
    pub async fn change_tenant_domain(
        &self,
        tenant_id: &str,
        domain: &str,
        change: DomainChange,
        audit: AuditEntry<'_>,
    ) -> DbResult<bool> {
        let changed = self
            .change_tenant(tenant_id, Announce::Touch, audit, async |conn, _, _| {
                let done = sqlx::query(change.sql())
                    .bind(domain)
                    .bind(tenant_id)
                    .execute(conn)
                    .await?;
                Ok(one_row(&done))
            })
            .await?;
        Ok(changed.is_ok())
    }

    pub async fn tenant_domains(&self, tenant_id: &str) -> DbResult<Vec<String>> {
        self.tenant_texts(
            "SELECT domain FROM tenant_domains WHERE tenant_id = $1 ORDER BY domain",
            tenant_id,
        )
        .await
    }

    pub async fn all_tenant_domains(&self) -> DbResult<Vec<(String, String)>> {
        sqlx::query("SELECT domain, tenant_id FROM tenant_domains")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
