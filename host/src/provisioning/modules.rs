//! Which modules a tenant has switched on.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::{Actor, BulkItem, ProvisionError, Provisioner, plans};
use crate::runtime::registry::LoadedModule;
use crate::tenancy::TenantView;
use crate::tenancy::replicas::Acknowledgements;

/// The result of a toggle.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Toggled {
    pub tenant: String,
    pub module: String,
    pub enabled: bool,
    pub was_enabled: bool,
    pub slot_dropped: bool,
    /// The other replicas (PostgreSQL) that applied the toggle before this answer,
    /// and those that had not when the wait ran out.
    pub replicas: Acknowledgements,
}

impl Provisioner<'_> {
    pub(super) fn check_modules(&self, modules: &[String]) -> Result<(), String> {
        let unknown: Vec<&str> = modules
            .iter()
            .filter(|k| self.runtime.module(k).is_none())
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(format!("unknown modules: {}", unknown.join(", ")))
        }
    }

    /// Every installed module and whether the tenant has it on.
    pub(super) fn module_map(&self, view: &TenantView) -> BTreeMap<String, bool> {
        self.modules_of(view)
            .into_iter()
            .map(|(m, on)| (m.key.clone(), on))
            .collect()
    }

    /// Every installed module in catalog order, and whether the tenant has it on.
    pub(super) fn modules_of(&self, view: &TenantView) -> Vec<(Arc<LoadedModule>, bool)> {
        let mut modules: Vec<(Arc<LoadedModule>, bool)> = self
            .runtime
            .modules()
            .into_iter()
            .map(|m| {
                let on = self.runtime.is_enabled(view, &m.key);
                (m, on)
            })
            .collect();
        modules.sort_by(|(a, _), (b, _)| {
            (a.manifest.sort_order, &a.key).cmp(&(b.manifest.sort_order, &b.key))
        });
        modules
    }

    /// Switches `module` for a tenant. When this returns, the next request on this
    /// replica sees the change; disabling drops the module's slot of the tenant and
    /// no other (requests in flight finish on their instances). Data is kept either
    /// way.
    pub async fn toggle_module(
        &self,
        tenant_key: &str,
        module: &str,
        enabled: bool,
        actor: &Actor<'_>,
    ) -> Result<Toggled, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let loaded = self
            .runtime
            .module(module)
            .ok_or_else(|| ProvisionError::UnknownModule(module.to_owned()))?;
        if loaded.core && !enabled {
            return Err(ProvisionError::CoreModule(module.to_owned()));
        }
        // The plans that include a sold module, checked against the tenant's plan in
        // the switch's own transaction.
        let allowed_plans = if enabled {
            self.plans_allowing(module).await?
        } else {
            None
        };
        let tenant_id = view.tenant.id.clone();
        let target = format!("tenant:{}/module:{module}", view.tenant.subdomain);
        let action = if enabled {
            "module.enable"
        } else {
            "module.disable"
        };
        let audit = actor
            .audit(Some(&tenant_id), action, &target)
            .after(&json!({"enabled": enabled}));
        // The change's own notification may reach this replica's tenant follower,
        // which drops the tenant's slots, before the line below does.
        let had_slot = !enabled && self.runtime.has_slot(&tenant_id, module);
        let was_enabled = match self
            .db
            .toggle_module(&tenant_id, module, enabled, allowed_plans.as_deref(), audit)
            .await?
        {
            Ok(was_enabled) => was_enabled,
            Err(plan) => {
                let plans = self.db.plans(true).await?;
                return Err(ProvisionError::NotInPlan {
                    module: module.to_owned(),
                    upgrade_to: plans::cheapest_with(&plans, &plan, module),
                    plan,
                });
            }
        };
        let published = self.published(&tenant_id).await?;
        let slot_dropped = !enabled && (published.dropped.iter().any(|m| m == module) || had_slot);
        tracing::info!(tenant = %view.tenant.subdomain, %module, enabled, was_enabled, "module toggled");
        Ok(Toggled {
            tenant: view.tenant.subdomain.clone(),
            module: module.to_owned(),
            enabled,
            was_enabled,
            slot_dropped,
            replicas: published.replicas,
        })
    }

    /// A module's settings for a tenant.
    pub async fn module_settings(
        &self,
        tenant_key: &str,
        module: &str,
    ) -> Result<serde_json::Value, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        self.runtime
            .module(module)
            .ok_or_else(|| ProvisionError::UnknownModule(module.to_owned()))?;
        let text = self.db.module_settings(&view.tenant.id, module).await?;
        Ok(serde_json::from_str(&text).unwrap_or_else(|_| json!({})))
    }

    /// Replaces a module's settings for a tenant; the module's next call reads them.
    pub async fn set_module_settings(
        &self,
        tenant_key: &str,
        module: &str,
        settings: &serde_json::Map<String, serde_json::Value>,
        actor: &Actor<'_>,
    ) -> Result<(), ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        self.runtime
            .module(module)
            .ok_or_else(|| ProvisionError::UnknownModule(module.to_owned()))?;
        let target = format!("tenant:{}/module:{module}", view.tenant.subdomain);
        let audit = actor
            .audit(Some(&view.tenant.id), "module.settings", &target)
            .after(&json!(settings));
        let text = serde_json::to_string(settings).expect("a JSON map serializes");
        self.db
            .set_module_settings(&view.tenant.id, module, &text, audit)
            .await?;
        self.published(&view.tenant.id).await?;
        Ok(())
    }

    /// The same toggle for many tenants, each on its own.
    pub async fn bulk_toggle(
        &self,
        tenants: &[String],
        module: &str,
        enabled: bool,
        actor: &Actor<'_>,
    ) -> Vec<BulkItem<Toggled>> {
        let mut results = Vec::with_capacity(tenants.len());
        for (index, key) in tenants.iter().enumerate() {
            let toggled = self.toggle_module(key, module, enabled, actor).await;
            results.push(BulkItem::from_result(index, toggled));
        }
        results
    }
}
