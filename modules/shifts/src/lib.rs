//! Shifts: templates of working time, assignments of employees to them on dates
//! (never two overlapping for one employee), a week scheduled at once, each
//! employee's upcoming shifts, and swaps between two employees approved by a
//! manager. Attendance asks `/on-duty` to judge lateness.
//!
//! Everyone reads the roster; managers write it.

mod assignments;
mod bulk;
mod swaps;
mod templates;

use mosaic_sdk::prelude::*;
use mosaic_sdk::{Capability, identity, modules};

struct Shifts;

impl Module for Shifts {
    fn manifest() -> Manifest {
        Manifest::new("shifts", "Shifts", env!("CARGO_PKG_VERSION"))
            .description("Shift templates, rosters without double-booking, swaps")
            .icon("calendar-clock")
            .sort_order(60)
            .depends_on("employees")
            .collection(&templates::TEMPLATES)
            .collection(&assignments::ASSIGNMENTS)
            .collection(&swaps::SWAPS)
            .capability(Capability::Events)
    }

    fn router() -> Router {
        Router::new()
            .get("/", assignments::list)
            .post("/", assignments::create)
            .min_role(Role::Manager)
            .post("/bulk", bulk::assign_week)
            .min_role(Role::Manager)
            .get("/upcoming", assignments::upcoming)
            .get("/on-duty", assignments::on_duty)
            .get("/templates", templates::list)
            .post("/templates", templates::create)
            .min_role(Role::Manager)
            .get("/templates/{id}", templates::show)
            .patch("/templates/{id}", templates::update)
            .min_role(Role::Manager)
            .delete("/templates/{id}", templates::remove)
            .min_role(Role::Manager)
            .get("/swaps", swaps::list)
            .post("/swaps", swaps::request)
            .patch("/swaps/{id}", swaps::decide)
            .get("/{id}", assignments::show)
            .patch("/{id}", assignments::update)
            .min_role(Role::Manager)
    }
}

export_module!(Shifts);

fn is_manager() -> bool {
    identity::has_role(Role::Manager)
}

/// The caller's own employee id (the record with their email), if they have one.
fn my_employee_id() -> Result<Option<String>> {
    let me = modules::get::<serde_json::Value>("employees", "/me")?;
    Ok(me.and_then(|record| record["id"].as_str().map(str::to_owned)))
}
