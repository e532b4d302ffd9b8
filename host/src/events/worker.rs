//! The deliverer: one task per replica that drains each tenant's due deliveries,
//! up to `TENANTS_AT_ONCE` tenants side by side.
//!
//! It learns of work three ways: a unit of work of this replica committed events
//! (`Runtime::deliveries`), another replica did (PostgreSQL `LISTEN`), or a sweep
//! found deliveries nobody announced (start-up, another replica's retries). Between
//! them it sleeps until the earliest retry is due.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use sqlx::postgres::PgListener;
use tracing::Instrument as _;

use super::EventSettings;
use crate::runtime::{Delivery, Runtime};
use crate::store::events::{EVENTS_EMITTED, Failure};
use crate::store::{Db, DbResult, Dialect, TenantStatus, now_ms};
use crate::tenancy::{Directory, TenantView};

/// Tenants whose deliveries run at the same time on one replica.
const TENANTS_AT_ONCE: usize = 16;
/// Heads of streams taken per round; a tenant's round repeats while it has work.
const ROUND: u32 = 32;
/// How often delivered events past their retention are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How soon to look again at a delivery another replica is running.
const HELD_ELSEWHERE_MS: i64 = 50;

pub struct Deliverer<'a> {
    pub db: &'a Db,
    /// For the PostgreSQL `LISTEN` connection, which the `Any` pool cannot give.
    pub database_url: String,
    pub directory: &'a Directory,
    pub runtime: &'a Runtime,
    pub settings: &'a EventSettings,
}

impl Deliverer<'_> {
    /// Runs until the task is aborted.
    pub async fn run(&self) {
        // Tenant id → when its next delivery is due (ms since the epoch).
        let mut due: HashMap<String, i64> = HashMap::new();
        let mut listener = None;
        // Tenants being drained, and their drains.
        let mut in_flight: HashSet<String> = HashSet::new();
        let mut draining: FuturesUnordered<BoxFuture<'_, (String, DbResult<Option<i64>>)>> =
            FuturesUnordered::new();
        // The first prune and sweep visit each tenant's file once, together.
        let mut next_prune = match self.prune_and_sweep(&mut due).await {
            Ok(()) => tokio::time::Instant::now() + PRUNE_EVERY,
            Err(err) => {
                tracing::warn!(error = %err, "pruning and sweeping at start-up failed; trying each alone");
                self.sweep(&mut due).await;
                tokio::time::Instant::now()
            }
        };
        // On SQLite this process is the only one delivering: after the first sweep it
        // knows every delivery it has to make.
        let sweeps = self.db.dialect == Dialect::Postgres;
        let mut next_sweep = tokio::time::Instant::now() + self.settings.sweep_interval;
        loop {
            let now = tokio::time::Instant::now();
            if sweeps && now >= next_sweep {
                self.sweep(&mut due).await;
                next_sweep = now + self.settings.sweep_interval;
            }
            if now >= next_prune {
                if let Err(err) = self.prune().await {
                    tracing::warn!(error = %err, "pruning delivered events failed");
                }
                next_prune = now + PRUNE_EVERY;
            }
            if listener.is_none() && self.db.dialect == Dialect::Postgres {
                listener = listen(&self.database_url).await;
            }
            for tenant_id in self.runtime.deliveries().take() {
                due.insert(tenant_id, 0);
            }
            // Tenants drain side by side, so that one tenant's slow subscriber (up to
            // its deadline per attempt) never holds another tenant's events.
            let now = now_ms();
            let room = TENANTS_AT_ONCE.saturating_sub(draining.len());
            let ready: Vec<String> = due
                .iter()
                .filter(|(tenant, at)| **at <= now && !in_flight.contains(*tenant))
                .map(|(tenant, _)| tenant.clone())
                .take(room)
                .collect();
            for tenant_id in ready {
                due.remove(&tenant_id);
                in_flight.insert(tenant_id.clone());
                draining.push(Box::pin(async move {
                    let next = self.drain(&tenant_id).await;
                    (tenant_id, next)
                }));
            }
            let waiting = due.keys().filter(|t| !in_flight.contains(*t)).count();
            self.runtime
                .metrics()
                .set_event_tenants_waiting(waiting + in_flight.len());
            let next_due = due
                .iter()
                .filter(|(tenant, _)| !in_flight.contains(*tenant))
                .map(|(_, at)| *at)
                .min();
            let wait = next_due.map_or(self.settings.sweep_interval, |at| {
                Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0))
            });
            let mut until = (tokio::time::Instant::now() + wait).min(next_prune);
            if sweeps {
                until = until.min(next_sweep);
            }
            let heard = async {
                match listener.as_mut() {
                    Some(l) => Some(l.try_recv().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some((tenant_id, next)) = draining.next(), if !draining.is_empty() => {
                    in_flight.remove(&tenant_id);
                    match next {
                        // A wake-up that came meanwhile (due now) stands.
                        Ok(Some(at)) => keep_earliest(&mut due, [(tenant_id, at)]),
                        Ok(None) => {}
                        Err(err) => tracing::warn!(tenant_id, error = %err, "delivering events failed; trying again at the next sweep"),
                    }
                }
                woken = self.runtime.deliveries().woken() => {
                    for tenant_id in woken {
                        due.insert(tenant_id, 0);
                    }
                }
                received = heard => match received {
                    Some(Ok(Some(notification))) => {
                        due.insert(notification.payload().to_owned(), 0);
                    }
                    // The connection dropped: reconnect, and sweep for what was missed.
                    Some(_) => {
                        listener = None;
                        next_sweep = tokio::time::Instant::now();
                    }
                    None => {}
                },
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// Finds every tenant with deliveries pending.
    async fn sweep(&self, due: &mut HashMap<String, i64>) {
        match self.db.tenants_with_deliveries().await {
            Ok(found) => keep_earliest(due, found),
            Err(err) => tracing::warn!(error = %err, "looking for pending deliveries failed"),
        }
    }

    async fn prune(&self) -> DbResult<()> {
        let pruned = self.db.prune_events(self.prune_before()).await?;
        log_pruned(pruned);
        Ok(())
    }

    /// [`Self::prune`] and [`Self::sweep`] in one pass over the tenants' files.
    async fn prune_and_sweep(&self, due: &mut HashMap<String, i64>) -> DbResult<()> {
        let (pruned, found) = self
            .db
            .prune_and_find_deliveries(self.prune_before())
            .await?;
        log_pruned(pruned);
        keep_earliest(due, found);
        Ok(())
    }

    /// Delivered events before this (ms since the epoch) are past their retention.
    fn prune_before(&self) -> i64 {
        now_ms() - super::millis(self.settings.retention)
    }

    /// Delivers the tenant's due events until none is left; answers when its next
    /// retry is due, if any. A subscriber not enabled for the tenant keeps its
    /// deliveries pending and is not waited for.
    async fn drain(&self, tenant_id: &str) -> DbResult<Option<i64>> {
        // A suspended or archived tenant's events wait; the sweep finds them again.
        let tenant = match self.directory.by_id(tenant_id).await? {
            Some(tenant) if tenant.tenant.status == TenantStatus::Active => tenant,
            _ => return Ok(None),
        };
        let data = self.db.module_data(tenant_id).await?;
        let enabled = |subscriber: &str| self.runtime.is_enabled(&tenant, subscriber);
        loop {
            let heads = data.due_deliveries(tenant_id, now_ms(), ROUND).await?;
            let mut progressed = false;
            for head in heads.iter().filter(|h| enabled(&h.subscriber)) {
                progressed |= self.deliver(&tenant, &data, head).await;
            }
            if !progressed {
                break;
            }
        }
        // Anything still due now is held by another replica: look again shortly.
        let not_before = now_ms() + HELD_ELSEWHERE_MS;
        let next = data.next_deliveries(tenant_id).await?;
        Ok(next
            .into_iter()
            .filter(|(subscriber, _)| enabled(subscriber))
            .map(|(_, at)| at.max(not_before))
            .min())
    }

    /// One attempt; answers whether it changed the delivery's state.
    async fn deliver(
        &self,
        tenant: &Arc<TenantView>,
        data: &Db,
        head: &crate::store::events::Due,
    ) -> bool {
        let span = tracing::info_span!(
            "event",
            tenant = %tenant.tenant.subdomain,
            module = %head.subscriber,
            request_id = %format_args!("event:{}", head.event.id),
            kind = %head.event.kind,
        );
        async {
            let started = std::time::Instant::now();
            match self.runtime.deliver(tenant.clone(), head).await {
                Delivery::Handled => {
                    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "event delivered");
                    true
                }
                Delivery::Skipped => false,
                Delivery::Failed(error) => {
                    let policy = self.settings.retry_policy();
                    let recorded = data
                        .record_delivery_failure(
                            &tenant.tenant.id,
                            &head.subscriber,
                            head.seq,
                            &error,
                            now_ms(),
                            &policy,
                        )
                        .await;
                    match recorded {
                        Ok(Failure::Retry { attempts, at }) => tracing::warn!(
                            %error, attempts, retry_in_ms = at - now_ms(), "event delivery failed; will retry"
                        ),
                        Ok(Failure::Dead { attempts }) => tracing::error!(
                            %error, attempts, "event delivery failed for the last time; kept as a dead letter"
                        ),
                        Err(err) => tracing::warn!(%error, record_error = %err, "event delivery failed, and so did counting it"),
                    }
                    true
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// Notes when each tenant found has a delivery due, unless one is due sooner.
fn keep_earliest(due: &mut HashMap<String, i64>, found: impl IntoIterator<Item = (String, i64)>) {
    for (tenant_id, at) in found {
        let known = due.entry(tenant_id).or_insert(at);
        *known = (*known).min(at);
    }
}

fn log_pruned(pruned: u64) {
    if pruned > 0 {
        tracing::info!(pruned, "pruned delivered events past their retention");
    }
}

async fn listen(url: &str) -> Option<PgListener> {
    let connected = async {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(EVENTS_EMITTED).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match connected.await {
        Ok(listener) => Some(listener),
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for emitted events; sweeping instead");
            None
        }
    }
}
