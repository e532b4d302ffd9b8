//! Attendance: check-in / check-out sessions per employee, with worked minutes;
//! manual entries and corrections by managers, kept in each record's history;
//! lateness and early leave against the employee's shift when the tenant has
//! shifts; the day per employee and a summary per employee and department.
//!
//! Employees and shifts are asked of their modules, never read directly. Times are
//! milliseconds since the epoch; a session's `date` is the tenant's working day.

mod report;
mod sessions;
mod shift;

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection, Index};
use mosaic_sdk::{Capability, events};
use serde::{Deserialize, Serialize};

/// `open_for` holds the employee id while a session is open and is null after
/// check-out: the host keeps one open session per employee even under concurrent
/// check-ins.
pub const SESSIONS: Collection = store::collection("sessions").indexes(&[
    Index::unique(&["open_for"]),
    Index::on(&["employee_id", "date"]),
    Index::on(&["date"]),
    Index::on(&["employee_id", "check_in"]),
]);

struct Attendance;

impl Module for Attendance {
    fn manifest() -> Manifest {
        Manifest::new("attendance", "Attendance", env!("CARGO_PKG_VERSION"))
            .description("Check-in and check-out, worked hours, lateness, monthly summaries")
            .icon("clock")
            .sort_order(20)
            .depends_on("employees")
            .depends_on("shifts")
            .collection(&SESSIONS)
            .capability(Capability::Events)
    }

    fn router() -> Router {
        Router::new()
            .get("/", sessions::list)
            .post("/", sessions::record)
            .min_role(Role::Manager)
            .post("/check-in", sessions::check_in)
            .post("/check-out", sessions::check_out)
            .get("/daily", report::daily)
            .min_role(Role::Manager)
            .get("/summary", report::summary)
            .min_role(Role::Manager)
            .get("/{id}", sessions::show)
            .patch("/{id}", sessions::correct)
            .min_role(Role::Manager)
    }
}

export_module!(Attendance);

/// A session as stored. Documents written before shifts and corrections lack the
/// optional fields, which read as absent.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub employee_id: String,
    pub date: String,
    pub check_in: u64,
    pub check_out: Option<u64>,
    pub minutes: Option<u64>,
    pub open_for: Option<String>,
    /// The shift the session was worked against; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<shift::Shift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_minutes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_leave_minutes: Option<u64>,
    /// `clock` (checked in and out) or `manual` (recorded by a manager).
    #[serde(default = "clocked")]
    pub source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Correction>,
}

fn clocked() -> String {
    "clock".into()
}

/// One manager's change to a session: who, when, why, and the times before and after.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Correction {
    pub at: u64,
    pub by: String,
    pub reason: String,
    pub from: Times,
    pub to: Times,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Times {
    pub check_in: u64,
    pub check_out: Option<u64>,
}

impl Session {
    fn times(&self) -> Times {
        Times {
            check_in: self.check_in,
            check_out: self.check_out,
        }
    }

    /// Closes the session at `check_out` (never before it began).
    fn close(&mut self, check_out: u64) {
        let check_out = check_out.max(self.check_in);
        self.check_out = Some(check_out);
        self.minutes = Some((check_out - self.check_in) / 60_000);
        self.open_for = None;
    }

    fn emit(&self, kind: &str, id: &str) -> Result<()> {
        events::emit(kind, Some(id), self)
    }
}
