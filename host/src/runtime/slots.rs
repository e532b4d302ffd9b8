//! The slot map: a (tenant, module) slot is made on first use while the module is
//! enabled for the tenant, dropped when it is disabled, and evicted when idle.

use std::sync::Arc;
use std::time::Instant;

use super::Runtime;
use super::call::CallContext;
use super::dispatch::ModuleFailure;
use super::slot::Slot;
use crate::store::now_ms;
use crate::tenancy::{TenantStatus, TenantView};

/// A live slot, for operators.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SlotInfo {
    pub tenant_id: String,
    pub module: String,
    pub version: String,
    pub warm_instances: usize,
    pub busy_instances: usize,
    pub calls: u64,
    pub instantiations: u64,
    pub last_used_ms: i64,
}

impl Runtime {
    /// The registered slot of the context's (tenant, module). A request that is
    /// stale — it began before the module was disabled, or runs a version since
    /// replaced (or no longer the tenant's pin) — gets a slot of its own that is dropped with it, so it cannot bring
    /// a dropped slot back or displace the current version's.
    pub(super) fn slot(&self, ctx: &CallContext) -> Arc<Slot> {
        let tenant_id = &ctx.tenant.tenant.id;
        let module = &ctx.module;
        let key = (tenant_id.clone(), module.key.clone());
        // The common case, under a shared lock: the slot exists and runs this version.
        // A registered slot implies the module was not disabled since (a disable
        // removes it, and only requests that passed the gate after that create one).
        if let Some(slot) = self
            .inner
            .slots
            .get(&key)
            .filter(|s| Arc::ptr_eq(&s.module, module))
        {
            return slot.clone();
        }
        let fresh = || {
            Arc::new(Slot::new(
                module.clone(),
                tenant_id.clone(),
                self.guest_log(&ctx.tenant, &module.key),
                &self.inner.limits,
            ))
        };
        let disabled_since_start = self
            .inner
            .disabled_at
            .get(&key)
            .is_some_and(|at| *at >= ctx.started);
        let current = self
            .inner
            .registry
            .resolve(&module.key, ctx.tenant.pinned_version(&module.key))
            .is_some_and(|m| Arc::ptr_eq(&m, module));
        if disabled_since_start || !current {
            return fresh();
        }
        let mut entry = self.inner.slots.entry(key).or_insert_with(fresh);
        if !Arc::ptr_eq(&entry.module, module) {
            *entry = fresh();
        }
        entry.clone()
    }

    /// The engine's instance pool is full: drops the warm instances of the least
    /// recently used slots, about an eighth of the pool, keeping the slots. The hot
    /// slots keep theirs, so a host with more active tenants than instances
    /// re-instantiates its cold tail, not its busiest tenants.
    pub(super) fn shed_idle_instances(&self) {
        let mut warm: Vec<(i64, Arc<Slot>)> = self
            .inner
            .slots
            .iter()
            .filter(|slot| slot.warm_instances() > 0)
            .map(|slot| (slot.last_used_ms(), slot.value().clone()))
            .collect();
        warm.sort_unstable_by_key(|(last_used, _)| *last_used);
        let wanted = usize::try_from(self.inner.limits.total_instances / 8)
            .unwrap_or(usize::MAX)
            .max(1);
        let mut shed = 0;
        for (_, slot) in warm {
            if shed >= wanted {
                break;
            }
            shed += slot.shed_idle();
        }
        tracing::debug!(
            shed,
            "instance pool full; dropped the least recently used idle instances"
        );
    }

    /// Whether the tenant has a live slot of any installed module on this replica.
    pub fn has_tenant_slots(&self, tenant_id: &str) -> bool {
        self.inner
            .registry
            .all()
            .iter()
            .any(|module| self.has_slot(tenant_id, &module.key))
    }

    /// Whether the tenant has a live slot for the module on this replica.
    pub fn has_slot(&self, tenant_id: &str, module: &str) -> bool {
        self.inner
            .slots
            .contains_key(&(tenant_id.to_owned(), module.to_owned()))
    }

    /// Drops a tenant's slot for a module (it was disabled); in-flight requests keep
    /// their instances until they finish.
    pub fn drop_slot(&self, tenant_id: &str, module: &str) -> bool {
        let key = (tenant_id.to_owned(), module.to_owned());
        self.inner.disabled_at.insert(key.clone(), Instant::now());
        self.inner.slots.remove(&key).is_some()
    }

    /// After a change of the tenant (`before` → `now`, none once it is gone): drops
    /// the slots of the modules it no longer runs, and only those, so a change of its
    /// name or colours costs no warm instance. A module the tenant had enabled is
    /// marked disabled even without a slot, so a request that began before the change
    /// cannot register one. Returns the modules whose slot was dropped.
    pub fn retire_slots(
        &self,
        tenant_id: &str,
        before: Option<&TenantView>,
        now: Option<&TenantView>,
    ) -> Vec<String> {
        let runs = |view: Option<&TenantView>, key: &str| {
            view.is_some_and(|v| v.tenant.status == TenantStatus::Active && self.is_enabled(v, key))
        };
        let mut dropped = Vec::new();
        for module in self.inner.registry.all() {
            let key = &module.key;
            if runs(now, key) {
                continue;
            }
            let has_slot = self.has_slot(tenant_id, key);
            if (has_slot || runs(before, key)) && self.drop_slot(tenant_id, key) {
                dropped.push(key.clone());
            }
        }
        dropped
    }

    /// Drops all of a tenant's slots (it was deleted).
    fn drop_tenant_slots(&self, tenant_id: &str) -> usize {
        let modules: Vec<String> = self
            .inner
            .slots
            .iter()
            .filter(|e| e.key().0 == tenant_id)
            .map(|e| e.key().1.clone())
            .collect();
        modules
            .iter()
            .filter(|module| self.drop_slot(tenant_id, module))
            .count()
    }

    /// The tenant's most recent failed module call on this replica.
    pub fn last_failure(&self, tenant_id: &str) -> Option<ModuleFailure> {
        self.inner.last_errors.get(tenant_id).map(|e| e.clone())
    }

    /// Forgets everything about a deleted tenant.
    pub fn forget_tenant(&self, tenant_id: &str) {
        self.drop_tenant_slots(tenant_id);
        self.inner.last_errors.remove(tenant_id);
        self.inner
            .log_budgets
            .retain(|(tenant, _), _| tenant != tenant_id);
    }

    /// Drops every slot idle for longer than the configured timeout.
    pub fn evict_idle(&self) -> usize {
        let idle_ms =
            i64::try_from(self.inner.limits.slot_idle_timeout.as_millis()).unwrap_or(i64::MAX);
        let now = now_ms();
        let before = self.inner.slots.len();
        self.inner
            .slots
            .retain(|_, slot| !slot.is_idle(now, idle_ms));
        before - self.inner.slots.len()
    }

    /// Live slots, without listing them.
    pub fn slot_count(&self) -> usize {
        self.inner.slots.len()
    }

    pub fn slots(&self) -> Vec<SlotInfo> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut all: Vec<SlotInfo> = self
            .inner
            .slots
            .iter()
            .map(|entry| {
                let slot = entry.value();
                SlotInfo {
                    tenant_id: slot.tenant_id.clone(),
                    module: slot.module.key.clone(),
                    version: slot.module.manifest.version.clone(),
                    warm_instances: slot.warm_instances(),
                    busy_instances: slot.busy_instances(),
                    calls: slot.calls.load(Relaxed),
                    instantiations: slot.instantiations.load(Relaxed),
                    last_used_ms: slot.last_used_ms(),
                }
            })
            .collect();
        all.sort_by(|a, b| (&a.tenant_id, &a.module).cmp(&(&b.tenant_id, &b.module)));
        all
    }
}
