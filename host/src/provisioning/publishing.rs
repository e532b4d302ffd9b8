//! What a tenant publishes: its `config.json`, its exported site, and the health
//! check that compares them with the database.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::files::{self, WrittenFile};
use super::{Actor, ProvisionError, Provisioner};
use crate::runtime::registry::LoadedModule;
use crate::runtime::{ModuleFailure, SlotInfo};
use crate::tenancy::{RenderedConfig, TenantStatus, TenantView};

/// `GET /api/admin/tenants/{tenant}/health`.
#[derive(Debug, serde::Serialize)]
pub struct TenantHealth {
    pub tenant: String,
    pub status: TenantStatus,
    pub healthy: bool,
    pub folder_exists: bool,
    pub config_present: bool,
    pub config_current: bool,
    pub modules: BTreeMap<String, bool>,
    /// This replica's live slots of the tenant.
    pub slots: Vec<SlotInfo>,
    /// This replica's most recent failed module call for the tenant.
    pub last_error: Option<ModuleFailure>,
    /// Guest log lines over the (tenant, module) budget, dropped on this replica.
    pub log_lines_dropped: BTreeMap<String, u64>,
}

impl Provisioner<'_> {
    /// The tenant's public configuration, rendered once per cached view.
    pub fn config(&self, view: &TenantView) -> Arc<RenderedConfig> {
        view.config
            .get_or_init(|| {
                let modules = self.modules_of(view);
                let refs: Vec<(&LoadedModule, bool)> =
                    modules.iter().map(|(m, on)| (m.as_ref(), *on)).collect();
                Arc::new(files::render_config(view, &refs))
            })
            .clone()
    }

    /// After a change: forget the cached tenant on this replica (others hear of it
    /// through the database) and rewrite its `config.json`.
    pub(super) async fn published(&self, tenant_id: &str) -> Result<(), ProvisionError> {
        self.directory.refresh(tenant_id).await?;
        let view = self.find_tenant(tenant_id).await?;
        let config = self.config(&view);
        let files = self.files.clone();
        let subdomain = view.tenant.subdomain.clone();
        tokio::task::spawn_blocking(move || files.write_config(&subdomain, &config))
            .await
            .map_err(std::io::Error::other)??;
        Ok(())
    }

    /// Exports the tenant's static site into its folder and lists what it wrote.
    pub async fn deploy_site(
        &self,
        tenant_key: &str,
        actor: &Actor<'_>,
    ) -> Result<Vec<WrittenFile>, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let config = self.config(&view);
        let modules = self.modules_of(&view);
        let files = self.files.clone();
        let tenant = view.tenant.clone();
        let written = tokio::task::spawn_blocking(move || {
            let refs: Vec<(&LoadedModule, bool)> =
                modules.iter().map(|(m, on)| (m.as_ref(), *on)).collect();
            files.deploy_site(&tenant, &config, &refs)
        })
        .await
        .map_err(std::io::Error::other)??;
        let target = format!("tenant:{}", view.tenant.subdomain);
        let audit = actor
            .audit(Some(&view.tenant.id), "tenant.deploy_site", &target)
            .after(&json!({"files": written}));
        self.db.append_audit(&audit).await?;
        Ok(written)
    }

    pub async fn health(&self, tenant_key: &str) -> Result<TenantHealth, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let tenant = &view.tenant;
        let config = self.config(&view);
        let on_disk = self.files.config_is_current(&tenant.subdomain, &config);
        let folder_exists = self.files.folder(&tenant.subdomain).is_dir();
        let slots: Vec<SlotInfo> = self
            .runtime
            .slots()
            .into_iter()
            .filter(|s| s.tenant_id == tenant.id)
            .collect();
        let config_current = on_disk == Some(true);
        Ok(TenantHealth {
            tenant: tenant.subdomain.clone(),
            status: tenant.status,
            healthy: folder_exists && config_current,
            folder_exists,
            config_present: on_disk.is_some(),
            config_current,
            modules: self.module_map(&view),
            slots,
            last_error: self.runtime.last_failure(&tenant.id),
            log_lines_dropped: self
                .runtime
                .log_lines_dropped(&tenant.id)
                .into_iter()
                .collect(),
        })
    }
}
