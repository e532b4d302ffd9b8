//! Billing in the host: the plan catalog (`store/plans.rs`, `provisioning/plans.rs`)
//! and each tenant's subscription to its plan, moved on by time here.
//!
//! A new tenant starts a trial of the default plan. Time moves a subscription:
//! an unpaid trial expires, a paid period that ends unpaid goes past due for a
//! grace period and then expires, a cancelled one expires at the end of what was
//! paid. Every replica runs [`Renewals`]; each move is a conditional update, so it
//! happens once, with its audit row, and reaches every replica's cache.
//!
//! Invoices ([`invoice`]) are issued in the transaction of what makes them: the
//! first period's at the trial's start, each next period's when the paid one ends,
//! and on a plan change (the open period invoices repriced, and an upgrade within
//! a paid period charged pro rata). Paying one (an approved payment) activates or
//! extends the subscription.

pub mod invoice;
pub mod pdf;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::store::invoices::{Invoice, InvoiceState, Overdue};
use crate::store::plans::Plan;
use crate::store::usage::Metered;
use crate::store::{
    Db, DbResult, Moved, Origin, PaymentStatus, Repricing, Subscription, SubscriptionState, Tenant,
};
use invoice::NewInvoice;

/// Whether a tenant on `plan` may have `module`, given every plan (retired ones
/// too, which still say a module is sold): core modules and modules no plan sells
/// come with every plan.
pub fn allows(plans: &[Plan], plan: &str, module: &str) -> bool {
    crate::runtime::registry::CORE_MODULES.contains(&module)
        || !plans.iter().any(|p| p.modules.iter().any(|m| m == module))
        || plans
            .iter()
            .any(|p| p.key == plan && p.modules.iter().any(|m| m == module))
}

/// The month metered usage at `now` belongs to: `YYYY-MM` in the tenant's zone
/// (from the bundled database, the one modules judge days by).
pub fn usage_month(timezone: &str, now: i64) -> String {
    jiff::Timestamp::from_millisecond(now)
        .unwrap_or_default()
        .to_zoned(crate::tenancy::zone(timezone).unwrap_or(jiff::tz::TimeZone::UTC))
        .strftime("%Y-%m")
        .to_string()
}

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
    /// Tax on every invoice, in basis points (2 000 is 20 %).
    pub tax_rate_bps: i64,
    /// Who invoices are from.
    pub platform_name: String,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            default_plan: "starter".into(),
            check_default_plan: true,
            trial: Duration::from_secs(14 * 86_400),
            grace: Duration::from_secs(7 * 86_400),
            tax_rate_bps: 0,
            platform_name: "Mosaic".into(),
        }
    }
}

impl BillingSettings {
    /// The invoice for the first period after a trial ending at `trial_ends_at`,
    /// due when the trial ends.
    pub fn first_invoice(&self, plan: &Plan, trial_ends_at: i64) -> NewInvoice {
        NewInvoice::period(plan, trial_ends_at, self.tax_rate_bps, trial_ends_at)
    }

    /// The period invoice a renewal asks for: after the trial, after the paid
    /// period (past due), or from `now` (expired). None for an active subscription,
    /// whose renewal invoice comes when its period ends.
    pub fn renewal_invoice(
        &self,
        plan: &Plan,
        subscription: &Subscription,
        now: i64,
    ) -> Option<NewInvoice> {
        let start = match subscription.state {
            SubscriptionState::Trial => subscription.trial_ends_at?,
            SubscriptionState::PastDue => subscription.period_end?,
            SubscriptionState::Expired => now,
            SubscriptionState::Active | SubscriptionState::Cancelled => return None,
        };
        Some(NewInvoice::period(
            plan,
            start,
            self.tax_rate_bps,
            start.max(now),
        ))
    }

    /// What a move to `new` at `now` issues: each voided period invoice again at
    /// the new price, and within a paid period the difference between `new` and the
    /// plan paid for, when it is an upgrade.
    pub fn reprice(
        &self,
        plans: &[Plan],
        new: &Plan,
        now: i64,
        change: &Repricing<'_>,
    ) -> Vec<NewInvoice> {
        let mut issued: Vec<NewInvoice> = change
            .voided
            .iter()
            .filter(|old| old.kind == invoice::InvoiceKind::Period)
            .map(|old| NewInvoice::period(new, old.period_start, self.tax_rate_bps, old.due_at))
            .collect();
        let sub = change.subscription;
        let paid = matches!(
            sub.state,
            SubscriptionState::Active | SubscriptionState::Cancelled
        );
        if paid
            && let (Some(start), Some(end)) = (sub.period_start, sub.period_end)
            && let Some(old) = plans.iter().find(|p| p.key == change.paid)
            && let Some(difference) = NewInvoice::plan_change(
                old,
                new,
                (start, end),
                now,
                self.tax_rate_bps,
                now.saturating_add(millis(self.grace)),
            )
        {
            issued.push(difference);
        }
        issued
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
    /// This replica's tenant cache, refreshed at once for each tenant moved (other
    /// replicas hear of it as of any tenant change).
    pub directory: Option<&'a crate::tenancy::Directory>,
}

impl Renewals<'_> {
    /// Makes every move due at `now` (ms since the epoch).
    pub async fn tick(&self, now: i64) -> DbResult<Vec<Moved>> {
        let plans = self.db.plans(true).await?;
        let renewal = |subscription: &Subscription, plan: &str| {
            plans
                .iter()
                .find(|p| p.key == plan)
                .and_then(|plan| self.settings.renewal_invoice(plan, subscription, now))
                .into_iter()
                .collect()
        };
        let moved = self
            .db
            .advance_subscriptions(
                now,
                millis(self.settings.grace),
                &renewal,
                ACTOR,
                &Origin::default(),
            )
            .await?;
        for m in &moved {
            tracing::info!(tenant_id = %m.tenant_id, from = m.from.as_str(), to = m.to.as_str(), "subscription moved");
            if let Some(directory) = self.directory {
                directory.refresh(&m.tenant_id).await?;
            }
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// A plan limit that a request would pass: answered as 402 with these details,
/// by the host and by modules (through the SDK) alike.
#[derive(Debug, Clone, Serialize)]
pub struct Quota {
    pub message: String,
    pub metric: String,
    /// The plan's limit by name, e.g. `max_users`.
    pub limit: &'static str,
    pub max: i64,
    pub used: i64,
    pub requested: i64,
    pub plan: String,
    pub upgrade: bool,
}

impl Quota {
    pub fn new(
        plan: &Plan,
        metric: &str,
        limit: &'static str,
        max: i64,
        used: i64,
        requested: i64,
    ) -> Self {
        Self {
            message: format!(
                "The {} plan allows {max} {}; the tenant has {used}",
                plan.name,
                metric.replace('_', " ")
            ),
            metric: metric.to_owned(),
            limit,
            max,
            used,
            requested,
            plan: plan.key.clone(),
            upgrade: true,
        }
    }

    /// The details as a JSON object (`message` included).
    pub fn details(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// One limit of the plan against what the tenant uses (`max` none: no limit).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Measure {
    pub used: i64,
    pub max: Option<i64>,
}

/// What a tenant admin's billing page shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantDashboard {
    #[serde(flatten)]
    pub status: SubscriptionStatus,
    /// The open invoice due first.
    pub next_invoice: Option<Invoice>,
    pub open_invoices: usize,
    pub payments_awaiting_verification: i64,
    pub usage: BTreeMap<&'static str, Measure>,
    pub max_requests_per_second: Option<i64>,
    /// This month's metered usage (`billing.record-usage`).
    pub metered: Vec<Metered>,
    pub metered_period: String,
}

impl TenantDashboard {
    pub async fn load(db: &Db, tenant: &Tenant, now: i64) -> DbResult<Option<Self>> {
        let Some(subscription) = db.subscription(&tenant.id).await? else {
            return Ok(None);
        };
        let plan = db.plan(&tenant.plan).await?;
        let invoices = db.invoices(&tenant.id).await?;
        let mut open: Vec<Invoice> = invoices
            .into_iter()
            .filter(|i| i.state == InvoiceState::Open)
            .collect();
        open.sort_by_key(|i| (i.due_at, i.number));
        let pending = db
            .count_payments(Some(&tenant.id), PaymentStatus::PendingVerification)
            .await?;
        let usage = db
            .usage(&tenant.id, &usage_month(&tenant.timezone, now))
            .await?;
        let limits = plan.as_ref().map(|p| p.limits.clone()).unwrap_or_default();
        let measures = BTreeMap::from([
            (
                "employees",
                Measure {
                    used: usage.employees,
                    max: limits.max_employees,
                },
            ),
            (
                "users",
                Measure {
                    used: usage.users,
                    max: limits.max_users,
                },
            ),
            (
                "storage_bytes",
                Measure {
                    used: usage.storage_bytes,
                    max: limits.max_storage_bytes,
                },
            ),
        ]);
        Ok(Some(Self {
            status: SubscriptionStatus::new(plan, subscription, now),
            open_invoices: open.len(),
            next_invoice: open.into_iter().next(),
            payments_awaiting_verification: pending,
            usage: measures,
            max_requests_per_second: limits.max_requests_per_second,
            metered: usage.metered,
            metered_period: usage.period,
        }))
    }
}

/// Recurring revenue in one currency, per month (a yearly plan counts a twelfth).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revenue {
    pub currency: String,
    pub monthly_minor: i64,
    pub subscriptions: i64,
}

/// A tenant with open invoices past their due date.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OverdueTenant {
    pub subdomain: Option<String>,
    #[serde(flatten)]
    pub overdue: Overdue,
}

/// What a platform admin's billing page shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlatformDashboard {
    pub mrr: Vec<Revenue>,
    pub subscriptions: BTreeMap<&'static str, i64>,
    pub payments_awaiting_verification: i64,
    /// The oldest first, at most 100.
    pub overdue: Vec<OverdueTenant>,
}

impl PlatformDashboard {
    pub async fn load(db: &Db, now: i64) -> DbResult<Self> {
        let plans = db.plans(true).await?;
        let mut mrr: BTreeMap<String, Revenue> = BTreeMap::new();
        for (key, count) in db.paying_plans().await? {
            let Some(plan) = plans.iter().find(|p| p.key == key) else {
                continue;
            };
            let monthly = match plan.period {
                crate::store::plans::Period::Month => plan.price_minor,
                crate::store::plans::Period::Year => plan.price_minor / 12,
            };
            let revenue = mrr.entry(plan.currency.clone()).or_insert_with(|| Revenue {
                currency: plan.currency.clone(),
                monthly_minor: 0,
                subscriptions: 0,
            });
            revenue.monthly_minor = revenue
                .monthly_minor
                .saturating_add(monthly.saturating_mul(count));
            revenue.subscriptions += count;
        }
        let subscriptions = db
            .subscriptions_by_state()
            .await?
            .into_iter()
            .map(|(state, count)| (state.as_str(), count))
            .collect();
        let pending = db
            .count_payments(None, PaymentStatus::PendingVerification)
            .await?;
        let mut overdue = Vec::new();
        for found in db.overdue_invoices(now).await?.into_iter().take(100) {
            let subdomain = db
                .tenant_by_id(&found.tenant_id)
                .await?
                .map(|t| t.subdomain);
            overdue.push(OverdueTenant {
                subdomain,
                overdue: found,
            });
        }
        Ok(Self {
            mrr: mrr.into_values().collect(),
            subscriptions,
            payments_awaiting_verification: pending,
            overdue,
        })
    }
}
