//! `mosaic billing ...`: the plans tenants subscribe from, moving subscriptions on
//! in time, invoices, verifying payments, and the dashboard.

use clap::Subcommand;

use super::{cli_actor_id, print_json};
use crate::AppState;
use crate::billing::{PlatformDashboard, Renewals, TenantDashboard};
use crate::provisioning::{Actor, NewPlan, PlanChanges};
use crate::store::{Origin, PaymentStatus};

#[derive(Subcommand)]
pub enum BillingCommand {
    /// The plans, in sort order.
    Plans {
        /// Retired plans too.
        #[arg(long)]
        all: bool,
    },
    /// Add a plan, given as JSON: `{"key","name","price_minor","currency","period",
    /// "modules":[..],"limits":{"max_employees",..},"sort_order"}`.
    CreatePlan { json: String },
    /// Change a plan: the JSON fields given replace the plan's.
    UpdatePlan { key: String, json: String },
    /// The plan keeps its subscribers and takes no new ones.
    RetirePlan { key: String },
    /// Moves a tenant to another plan (modules it lacks are switched off).
    ChangePlan { tenant: String, plan: String },
    /// Makes the subscription moves due now (or at `--now`), as every running host
    /// does by itself, and prints them.
    Tick {
        /// An RFC 3339 time, e.g. `2026-12-31T00:00:00Z`.
        #[arg(long)]
        now: Option<jiff::Timestamp>,
    },
    /// Recurring revenue, subscriptions by state, payments to verify, overdue
    /// tenants; or with `--tenant`, that tenant's plan, state, next invoice and usage.
    Dashboard {
        /// A tenant's id or subdomain.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// A tenant's invoices, newest first.
    Invoices { tenant: String },
    /// Payments, newest first.
    Payments {
        /// `pending_verification` (the queue), `completed` or `failed`.
        #[arg(long)]
        status: Option<PaymentStatus>,
        /// A tenant's id or subdomain.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Approves a pending payment: its invoice is paid and the subscription active.
    Approve { payment: String },
    /// Rejects a pending payment, with the reason the tenant sees.
    Reject {
        payment: String,
        #[arg(long)]
        reason: String,
    },
}

pub(super) async fn run(state: AppState, command: BillingCommand) -> anyhow::Result<()> {
    let actor_id = cli_actor_id();
    let actor = Actor {
        id: &actor_id,
        origin: Origin::default(),
    };
    let provisioner = state.provisioner();
    match command {
        BillingCommand::Plans { all } => print_json(&state.db.plans(all).await?),
        BillingCommand::CreatePlan { json } => {
            let new: NewPlan = serde_json::from_str(&json)?;
            print_json(&provisioner.create_plan(new, &actor).await?)
        }
        BillingCommand::UpdatePlan { key, json } => {
            let changes: PlanChanges = serde_json::from_str(&json)?;
            print_json(&provisioner.update_plan(&key, changes, &actor).await?)
        }
        BillingCommand::RetirePlan { key } => {
            print_json(&provisioner.retire_plan(&key, &actor).await?)
        }
        BillingCommand::ChangePlan { tenant, plan } => {
            print_json(&provisioner.change_plan(&tenant, &plan, &actor).await?)
        }
        BillingCommand::Tick { now } => {
            let renewals = Renewals {
                db: &state.db,
                clock: &state.config.clock,
                settings: &state.config.billing,
                // Running hosts hear of the moves as of any tenant change.
                directory: None,
            };
            let now = now.map_or_else(|| state.config.clock.now_ms(), |t| t.as_millisecond());
            print_json(&renewals.tick(now).await?)
        }
        BillingCommand::Dashboard { tenant } => {
            let now = state.config.clock.now_ms();
            match tenant {
                Some(key) => {
                    let view = provisioner.find_tenant(&key).await?;
                    let dashboard = TenantDashboard::load(&state.db, &view.tenant, now)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("the tenant has no subscription"))?;
                    print_json(&dashboard)
                }
                None => print_json(&PlatformDashboard::load(&state.db, now).await?),
            }
        }
        BillingCommand::Invoices { tenant } => {
            let tenant = provisioner.find_tenant(&tenant).await?;
            print_json(&state.db.invoices(&tenant.tenant.id).await?)
        }
        BillingCommand::Payments { status, tenant } => {
            let tenant = match tenant {
                Some(key) => Some(provisioner.find_tenant(&key).await?.tenant.id.clone()),
                None => None,
            };
            print_json(&state.db.payments(tenant.as_deref(), status, 1000).await?)
        }
        BillingCommand::Approve { payment } => {
            print_json(&provisioner.approve_payment(&payment, &actor).await?)
        }
        BillingCommand::Reject { payment, reason } => print_json(
            &provisioner
                .reject_payment(&payment, &reason, &actor)
                .await?,
        ),
    }
}
