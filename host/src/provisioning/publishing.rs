//! What a tenant publishes: its `config.json`, its exported site, and the health
//! check that compares them with the database.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::files::{FileFailure, TenantFiles, WrittenFile};
use super::site;
use super::{Actor, ProvisionError, Provisioner};
use crate::runtime::registry::LoadedModule;
use crate::runtime::{ModuleFailure, SlotInfo};
use crate::tenancy::replicas::Acknowledgements;
use crate::tenancy::{RenderedConfig, TenantStatus, TenantView};

/// What a committed change did beyond its transaction.
#[derive(Debug)]
pub struct Published {
    /// The modules whose slot of the tenant this replica dropped.
    pub dropped: Vec<String>,
    /// Which other replicas applied the change before the answer.
    pub replicas: Acknowledgements,
}

/// `GET /api/admin/tenants/{tenant}/health`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TenantHealth {
    pub tenant: String,
    pub status: TenantStatus,
    pub healthy: bool,
    pub folder_exists: bool,
    pub config_present: bool,
    pub config_current: bool,
    /// A write to its folder that failed after a committed change.
    pub files_error: Option<FileFailure>,
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
                Arc::new(site::render_config(view, &refs))
            })
            .clone()
    }

    /// After a committed change: reloads the tenant on this replica, drops the slots
    /// of the modules it no longer runs (only those), rewrites its `config.json`,
    /// and waits (bounded) for the other replicas to apply the change. A failed file
    /// write does not undo the change: it is logged and shown in the tenant's health
    /// until a later write succeeds.
    pub(super) async fn published(&self, tenant_id: &str) -> Result<Published, ProvisionError> {
        let before = self.directory.refresh(tenant_id).await?;
        let view = self.find_tenant(tenant_id).await?;
        let dropped = self
            .runtime
            .retire_slots(tenant_id, before.as_deref(), Some(&view));
        self.runtime.modules_changed(tenant_id);
        let generation = view.tenant.generation;
        let config = self.config(&view);
        let written = self
            .on_disk(move |files| files.write_config(&view.tenant.subdomain, &config))
            .await;
        self.files.record(tenant_id, "config.json", written);
        let replicas = self.replicas.wait(self.db, tenant_id, generation).await?;
        Ok(Published { dropped, replicas })
    }

    /// Runs blocking file work on the tenant files off the executor.
    pub(super) async fn on_disk<T: Send + 'static>(
        &self,
        work: impl FnOnce(&TenantFiles) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let files = self.files.clone();
        tokio::task::spawn_blocking(move || work(&files))
            .await
            .map_err(std::io::Error::other)?
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
        let tenant = view.tenant.clone();
        let written = self
            .on_disk(move |files| {
                let refs: Vec<(&LoadedModule, bool)> =
                    modules.iter().map(|(m, on)| (m.as_ref(), *on)).collect();
                files.deploy_site(&tenant, &config, &refs)
            })
            .await?;
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
        let files_error = self.files.failure(&tenant.id);
        Ok(TenantHealth {
            tenant: tenant.subdomain.clone(),
            status: tenant.status,
            healthy: folder_exists && config_current && files_error.is_none(),
            folder_exists,
            config_present: on_disk.is_some(),
            config_current,
            files_error,
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
