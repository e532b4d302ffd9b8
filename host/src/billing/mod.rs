//! Billing in the host: the plan catalog (`store/plans.rs`, `provisioning/plans.rs`)
//! and each tenant's subscription to its plan, moved on by time here.
//!
//! A new tenant starts a trial of the default plan. Time moves a subscription:
//! an unpaid trial expires, a paid period that ends unpaid goes past due for a
//! grace period and then expires, a cancelled one expires at the end of what was
//! paid. Every replica runs [`Renewals`]; each move is a conditional update, so it
//! happens once, with its audit row, and reaches every replica's cache.

use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::store::plans::Plan;
use crate::store::{Db, DbResult, Moved, Origin, Subscription, SubscriptionState};

/// How subscriptions start and end.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    /// The plan a new tenant's trial is of.
    pub default_plan: String,
    /// Refuse to start unless the default plan takes subscribers (off only for the
    /// `mosaic billing` commands that repair it).
    pub check_default_plan: bool,
    pub trial: Duration,
    /// How long a past-due subscription is still served.
    pub grace: Duration,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            default_plan: "starter".into(),
            check_default_plan: true,
            trial: Duration::from_secs(14 * 86_400),
            grace: Duration::from_secs(7 * 86_400),
        }
    }
}

const DAY_MS: i64 = 86_400_000;
/// How often, at most, the renewals look unprompted (a subscription paid or
/// changed elsewhere may have a new deadline).
const POLL: Duration = Duration::from_secs(60);
/// Who the audit log says moved a subscription.
const ACTOR: &str = "billing";

pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Moves subscriptions on as their times pass.
pub struct Renewals<'a> {
    pub db: &'a Db,
    pub clock: &'a Clock,
    pub settings: &'a BillingSettings,
}

impl Renewals<'_> {
    /// Makes every move due at `now` (ms since the epoch).
    pub async fn tick(&self, now: i64) -> DbResult<Vec<Moved>> {
        let moved = self
            .db
            .advance_subscriptions(now, millis(self.settings.grace), ACTOR, &Origin::default())
            .await?;
        for m in &moved {
            tracing::info!(tenant_id = %m.tenant_id, from = m.from.as_str(), to = m.to.as_str(), "subscription moved");
        }
        Ok(moved)
    }

    /// Runs until the task is aborted.
    pub async fn run(&self) {
        // Watched from before each tick, so a move of a test's clock during the tick
        // is not missed.
        let mut moves = self.clock.moves();
        loop {
            if let Err(err) = self.tick(self.clock.now_ms()).await {
                tracing::warn!(error = %err, "moving subscriptions on failed");
            }
            // A move still due after the tick failed: it is tried again after a
            // poll, not at once.
            let next = match self.db.next_subscription_move(self.clock.now_ms()).await {
                Ok(next) => next,
                Err(err) => {
                    tracing::warn!(error = %err, "looking for the next subscription move failed");
                    None
                }
            };
            let due = async {
                match next {
                    Some(at) => self.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = due => {}
                // A test's clock moved: deadlines set meanwhile may have passed.
                () = moves.moved() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// What a tenant admin sees of the tenant's subscription.
#[derive(Debug, Serialize)]
pub struct SubscriptionStatus {
    pub plan: Option<Plan>,
    #[serde(flatten)]
    pub subscription: Subscription,
    /// Whole days until the trial, the paid period or the grace ends (0 once
    /// expired).
    pub days_left: i64,
}

impl SubscriptionStatus {
    pub fn new(plan: Option<Plan>, subscription: Subscription, now: i64) -> Self {
        let until = match subscription.state {
            SubscriptionState::Trial => subscription.trial_ends_at,
            SubscriptionState::Active | SubscriptionState::Cancelled => subscription.period_end,
            SubscriptionState::PastDue => subscription.grace_ends_at,
            SubscriptionState::Expired => None,
        };
        let days_left = until.map_or(0, |until| ((until - now).max(0) + DAY_MS - 1) / DAY_MS);
        Self {
            plan,
            subscription,
            days_left,
        }
    }
}
