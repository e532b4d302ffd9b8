//! Wallet: one account per employee, moved only by immutable transactions.
//!
//! An account's balance is kept on its document and changes only in the same batch
//! as the transaction that explains it, guarded by the account's version: the
//! balance is always the sum of the account's transactions. Nothing is updated or
//! deleted afterwards; a mistake is corrected by a reversing transaction.

mod history;
mod ledger;
mod payouts;
mod settings;

use mosaic_sdk::events::Event;
use mosaic_sdk::prelude::*;
use mosaic_sdk::{Capability, identity, modules};
use serde::Deserialize;

use ledger::{ACCOUNTS, TRANSACTIONS};
use payouts::PAYOUTS;

struct Wallet;

impl Module for Wallet {
    fn manifest() -> Manifest {
        Manifest::new("wallet", "Wallet", env!("CARGO_PKG_VERSION"))
            .description("Employee accounts, credits and debits, salary payouts")
            .icon("wallet")
            .sort_order(30)
            .depends_on("employees")
            .collection(&ACCOUNTS)
            .collection(&TRANSACTIONS)
            .collection(&PAYOUTS)
            .capability(Capability::Events)
            .capability(Capability::Billing)
            .subscribe("employee.created")
            .cron(payouts::MONTHLY, "0 6 1 * *")
            .cron(payouts::WEEKLY, "0 6 * * MON")
    }

    fn router() -> Router {
        Router::new()
            .get("/", ledger::list)
            .get("/accounts/{employee_id}", ledger::show)
            .post("/accounts/{employee_id}/credit", ledger::credit)
            .min_role(Role::TenantAdmin)
            .post("/accounts/{employee_id}/debit", ledger::debit)
            .min_role(Role::TenantAdmin)
            .get("/accounts/{employee_id}/transactions", history::list)
            .get("/accounts/{employee_id}/statement", history::statement)
            .get("/transactions/{id}", history::show)
            .post("/transactions/{id}/reverse", ledger::reverse)
            .min_role(Role::TenantAdmin)
            .get("/payouts", payouts::list)
            .min_role(Role::Manager)
            .get("/payouts/summary", payouts::summary)
            .min_role(Role::Manager)
            .post("/payouts", payouts::create)
            .min_role(Role::TenantAdmin)
    }

    fn on_event(event: Event) -> std::result::Result<(), String> {
        match (event.kind.as_str(), event.subject.as_deref()) {
            ("employee.created", Some(employee_id)) => ledger::open(employee_id)
                .map(drop)
                .map_err(|e| format!("{e:?}")),
            _ => Ok(()),
        }
    }

    fn on_schedule(schedule: &str, fired_at: u64) -> std::result::Result<(), String> {
        payouts::scheduled(schedule, fired_at).map_err(|e| format!("{e:?}"))
    }
}

export_module!(Wallet);

/// Who may see `employee_id`'s account: managers see every account, anyone else
/// only their own (the employee record with their email).
fn may_see(employee_id: &str) -> Result<()> {
    if identity::has_role(Role::Manager) {
        return Ok(());
    }
    if own_employee_id()?.as_deref() == Some(employee_id) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "Members see their own account only".into(),
        ))
    }
}

/// The caller's employee id, asked of employees; none without a record.
fn own_employee_id() -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct Me {
        id: String,
    }
    Ok(modules::get::<Me>("employees", "/me")?.map(|me| me.id))
}
