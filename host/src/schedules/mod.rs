//! Scheduled work: each module's schedules fired for every tenant that has the
//! module enabled, as system calls in units of work of their own.
//!
//! Every (tenant, module, schedule) has a record (`schedule_runs`) with the time it
//! is next due. A replica fires a due schedule only after taking its lease in that
//! record, so each firing runs once across replicas; a replica that dies mid-firing
//! leaves a lease that runs out, and the firing is taken again with the same
//! `fired-at`. A firing that fails is recorded and logged, not retried: the next one
//! comes at its time. Periods missed while no host ran fire once, not once each. A
//! replica looks only at the schedules its own modules declare, so one still on an
//! older version of a module leaves a newer schedule to the replicas that know it.

mod cadence;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tracing::Instrument as _;

pub use cadence::{MIN_EVERY_SECS, Schedule, zone};

use crate::clock::Clock;
use crate::runtime::Runtime;
use crate::store::schedules::{ScheduleKey, ScheduleRun};
use crate::store::{Db, DbResult, SubscriptionState, TenantStatus};
use crate::tenancy::{Directory, TenantView};

/// Firings run at the same time on one replica.
const FIRINGS_AT_ONCE: usize = 16;
/// Due schedules taken per round.
const ROUND: u32 = 64;
/// How often, at most, the scheduler looks at the database unprompted: for
/// records another replica made or freed.
const POLL: Duration = Duration::from_secs(1);
/// How often every tenant's records are compared with its enabled modules, for
/// changes no wake-up announced.
const RECONCILE_EVERY: Duration = Duration::from_secs(60);

pub struct Scheduler<'a> {
    pub db: &'a Db,
    pub directory: &'a Directory,
    pub runtime: &'a Runtime,
    pub clock: &'a Clock,
}

impl Scheduler<'_> {
    /// Runs until the task is aborted.
    pub async fn run(&self) {
        // The plan of each record, so that reconciling writes only what changed.
        let mut known: Plans = HashMap::new();
        let mut next_reconcile = tokio::time::Instant::now();
        let mut woken: Vec<String> = Vec::new();
        // The first reconcile looks at every tenant: their views load in one go.
        if let Err(err) = self.directory.preload().await {
            tracing::warn!(error = %err, "loading every tenant's view failed; they load one by one");
        }
        loop {
            if tokio::time::Instant::now() >= next_reconcile {
                if let Err(err) = self.reconcile_all(&mut known).await {
                    tracing::warn!(error = %err, "reconciling schedules failed");
                }
                next_reconcile = tokio::time::Instant::now() + RECONCILE_EVERY;
            }
            woken.extend(self.runtime.schedules().take());
            for tenant_id in woken.drain(..) {
                if let Err(err) = self.reconcile(&tenant_id, &mut known).await {
                    tracing::warn!(tenant_id, error = %err, "reconciling schedules failed");
                }
            }
            let declared = self.declared();
            // Due records this replica could not move (held by a cache that is behind,
            // or a failing database) are looked at again after a poll, not at once.
            let stuck = match self.fire_due(&declared).await {
                Ok(stuck) => stuck,
                Err(err) => {
                    tracing::warn!(error = %err, "firing due schedules failed");
                    true
                }
            };
            let next_due = if stuck {
                None
            } else {
                match self.db.next_schedule_at(&declared).await {
                    Ok(next) => next,
                    Err(err) => {
                        tracing::warn!(error = %err, "looking for the next schedule failed");
                        None
                    }
                }
            };
            let due = async {
                match next_due {
                    Some(at) => self.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = due => {}
                tenants = self.runtime.schedules().woken() => woken = tenants,
                () = tokio::time::sleep(POLL.min(next_reconcile.saturating_duration_since(tokio::time::Instant::now()))) => {}
            }
        }
    }

    /// The (module, schedule)s this replica can run.
    fn declared(&self) -> Vec<(String, String)> {
        self.runtime
            .modules()
            .iter()
            .flat_map(|m| m.schedules.iter().map(|s| (m.key.clone(), s.id.clone())))
            .collect()
    }

    /// Makes or re-plans the records of every active tenant's enabled schedules.
    async fn reconcile_all(&self, known: &mut Plans) -> DbResult<()> {
        known.clear();
        for (key, plan) in self.db.schedule_plans().await? {
            known.insert((key.tenant_id, key.module, key.schedule), plan);
        }
        for (tenant_id, _) in self.db.tenant_generations().await? {
            self.reconcile(&tenant_id, known).await?;
        }
        Ok(())
    }

    /// Makes the records of the tenant's enabled schedules that have none, first due
    /// one period from now, and re-plans those whose cadence or zone changed.
    async fn reconcile(&self, tenant_id: &str, known: &mut Plans) -> DbResult<()> {
        let Some(tenant) = self.active(tenant_id).await? else {
            return Ok(());
        };
        let zone = zone(&tenant.tenant.timezone);
        let now = self.clock.now_ms();
        for installed in self.runtime.modules() {
            // The version the tenant runs, which a pin may hold back.
            let Some(module) = self.runtime.gate(&tenant, &installed.key) else {
                continue;
            };
            if module.schedules.is_empty() {
                continue;
            }
            for schedule in &module.schedules {
                let id = (
                    tenant_id.to_owned(),
                    module.key.clone(),
                    schedule.id.clone(),
                );
                let plan = schedule.plan(&tenant.tenant.timezone);
                if known.get(&id) == Some(&plan) {
                    continue;
                }
                let key = ScheduleKey {
                    tenant_id: id.0.clone(),
                    module: id.1.clone(),
                    schedule: id.2.clone(),
                };
                self.db
                    .plan_schedule(&key, &plan, schedule.first(now, &zone))
                    .await?;
                known.insert(id, plan);
            }
        }
        Ok(())
    }

    /// Fires every schedule due now, a round at a time. Answers whether some due
    /// record could not be moved on.
    async fn fire_due(&self, declared: &[(String, String)]) -> DbResult<bool> {
        loop {
            let due = self
                .db
                .due_schedules(self.clock.now_ms(), declared, ROUND)
                .await?;
            let full_round = due.len() == ROUND as usize;
            let mut firing = FuturesUnordered::new();
            let mut moved = 0;
            for run in &due {
                if firing.len() >= FIRINGS_AT_ONCE {
                    moved += usize::from(firing.next().await.unwrap_or(false));
                }
                firing.push(self.fire(run));
            }
            while let Some(fired) = firing.next().await {
                moved += usize::from(fired);
            }
            // Another round only while rounds are full and moving.
            if !full_round || moved == 0 {
                return Ok(moved < due.len());
            }
        }
    }

    /// One due schedule: fired if its module is enabled for the tenant, passed on to
    /// its next time if not. Answers whether the record moved on.
    async fn fire(&self, due: &ScheduleRun) -> bool {
        let key = &due.key;
        let span = tracing::info_span!(
            "schedule",
            tenant = %key.tenant_id,
            module = %key.module,
            request_id = %format_args!("schedule:{}:{}:{}", key.module, key.schedule, due.next_at),
        );
        async {
            match self.try_fire(due).await {
                Ok(moved) => moved,
                Err(err) => {
                    tracing::warn!(error = %err, "a scheduled firing failed to run");
                    false
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn try_fire(&self, due: &ScheduleRun) -> DbResult<bool> {
        let key = &due.key;
        // Suspended since it was found due: its schedules wait.
        let Some(tenant) = self.active(&key.tenant_id).await? else {
            return Ok(false);
        };
        // Read for the schedules the tenant's version declares on this replica; one
        // reinstalled since is left to the next round.
        let declared = self
            .runtime
            .version_for(&tenant, &key.module)
            .filter(|m| m.schedule(&key.schedule).is_some());
        let Some(module) = declared else {
            return Ok(false);
        };
        let schedule = module
            .schedule(&key.schedule)
            .expect("filtered on above")
            .clone();
        let zone = zone(&tenant.tenant.timezone);
        let now = self.clock.now_ms();
        let next_at = schedule.after(due.next_at, now, &zone);
        // A module switched off, or a tenant whose subscription expired, passes its
        // periods without a call: nothing runs for a tenant that is not paying.
        let expired = tenant.subscription == Some(SubscriptionState::Expired);
        if expired || !self.runtime.is_enabled(&tenant, &module.key) {
            return self.db.pass_schedule(due, now, next_at).await;
        }
        let token = uuid::Uuid::new_v4().to_string();
        let lease = lease_ms(self.runtime);
        if !self
            .db
            .lease_schedule(due, now, now.saturating_add(lease), &token)
            .await?
        {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let outcome = self
            .runtime
            .fire(tenant, module, &key.schedule, due.next_at)
            .await;
        match &outcome {
            Ok(()) => tracing::info!(
                elapsed_ms = started.elapsed().as_millis(),
                "scheduled work done"
            ),
            Err(error) => tracing::warn!(%error, "scheduled work failed"),
        }
        // The next time is counted from when this firing ended.
        let next_at = schedule.after(due.next_at, self.clock.now_ms(), &zone);
        self.db
            .finish_schedule(
                key,
                &token,
                due.next_at,
                next_at,
                outcome.as_ref().err().map(String::as_str),
            )
            .await?;
        Ok(true)
    }

    async fn active(&self, tenant_id: &str) -> DbResult<Option<Arc<TenantView>>> {
        Ok(self
            .directory
            .by_id(tenant_id)
            .await?
            .filter(|t| t.tenant.status == TenantStatus::Active))
    }
}

/// Each record's plan, by (tenant, module, schedule).
type Plans = HashMap<(String, String, String), String>;

/// How long a firing holds its schedule: past the call's deadline with room to
/// record the outcome, so that only a replica that died leaves a lease to run out.
fn lease_ms(runtime: &Runtime) -> i64 {
    let deadline = runtime.limits().call_timeout;
    i64::try_from((deadline * 2 + Duration::from_secs(30)).as_millis()).unwrap_or(i64::MAX)
}
