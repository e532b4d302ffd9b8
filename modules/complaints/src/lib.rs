//! Complaints: tickets with a priority-driven SLA, a status flow, comments (some
//! internal to managers), an overdue list and a schedule that marks breaches.
//!
//! Members see the tickets they submitted; managers see and work on all of them.
//! The submitter and the assignee are told of every change through `notify`.

mod comments;
mod settings;
mod stats;
mod tickets;

use mosaic_sdk::prelude::*;
use mosaic_sdk::{Capability, identity};

struct Complaints;

impl Module for Complaints {
    fn manifest() -> Manifest {
        Manifest::new("complaints", "Complaints", env!("CARGO_PKG_VERSION"))
            .description("Tickets with SLAs, internal notes and breach alerts")
            .icon("message-square-warning")
            .sort_order(50)
            .depends_on("employees")
            .collection(&tickets::TICKETS)
            .collection(&comments::COMMENTS)
            .capability(Capability::Events)
            .capability(Capability::Notify)
            .every(tickets::SLA_CHECK, 300)
    }

    fn router() -> Router {
        Router::new()
            .get("/", tickets::list)
            .post("/", tickets::create)
            .get("/overdue", tickets::overdue)
            .min_role(Role::Manager)
            .get("/stats", stats::stats)
            .min_role(Role::Manager)
            .get("/{id}", tickets::show)
            .patch("/{id}", tickets::update)
            .get("/{id}/comments", comments::list)
            .post("/{id}/comments", comments::create)
    }

    fn on_schedule(schedule: &str, fired_at: u64) -> std::result::Result<(), String> {
        match schedule {
            tickets::SLA_CHECK => tickets::mark_breaches(fired_at).map_err(|e| format!("{e:?}")),
            _ => Ok(()),
        }
    }
}

export_module!(Complaints);

fn is_manager() -> bool {
    identity::has_role(Role::Manager)
}
