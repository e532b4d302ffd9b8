//! `on-schedule`: one firing of a module's schedule for one tenant, as a system
//! call (no caller) in a unit of work of its own, under the module's limits.

use std::sync::Arc;

use super::Runtime;
use super::call::{CallContext, Export};
use super::dispatch::DispatchError;
use super::registry::LoadedModule;
use super::slot::Instance;
use crate::config::Limits;
use crate::tenancy::TenantView;

/// `on-schedule`: `Err` is the module's own failure.
struct OnSchedule {
    schedule: String,
    fired_at: i64,
}

impl Export for OnSchedule {
    type Output = Result<(), String>;

    async fn call(self, instance: &mut Instance) -> wasmtime::Result<Self::Output> {
        instance
            .bindings
            .on_schedule(&mut instance.store, &self.schedule, self.fired_at)
            .await
    }

    fn check(output: Self::Output, _limits: &Limits) -> Result<Self::Output, DispatchError> {
        Ok(output)
    }

    fn keeps_writes(output: &Self::Output) -> bool {
        output.is_ok()
    }
}

impl Runtime {
    /// Runs the firing of `schedule` due at `fired_at` (ms since the epoch); `Err`
    /// says why it failed, for the schedule's record and the log.
    pub async fn fire(
        &self,
        tenant: Arc<TenantView>,
        module: Arc<LoadedModule>,
        schedule: &str,
        fired_at: i64,
    ) -> Result<(), String> {
        let request_id: Arc<str> = format!("schedule:{}:{schedule}:{fired_at}", module.key).into();
        let ctx = CallContext::outermost(self, tenant, module, None, request_id);
        let firing = OnSchedule {
            schedule: schedule.to_owned(),
            fired_at,
        };
        match self.run_unit(ctx, firing).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refusal)) => Err(format!("the module answered: {refusal}")),
            Err(err) => Err(err.to_string()),
        }
    }
}
