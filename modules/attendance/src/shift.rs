//! The employee's shift, asked of the shifts module when the tenant has it, and the
//! lateness and early leave judged against it.

use mosaic_sdk::prelude::*;
use mosaic_sdk::{log, modules};
use serde::{Deserialize, Serialize};

use crate::Session;

/// The shift a session was worked against, as shifts scheduled it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    pub assignment_id: String,
    pub name: String,
    pub starts_at: u64,
    pub ends_at: u64,
}

#[derive(Deserialize)]
struct OnDuty {
    assignment: Option<Assignment>,
}

#[derive(Deserialize)]
struct Assignment {
    id: String,
    shift_name: String,
    starts_at: u64,
    ends_at: u64,
}

/// The employee's scheduled shift at `at`; none without shifts for the tenant.
fn shift_at(employee_id: &str, at: u64) -> Result<Option<Shift>> {
    if !modules::enabled("shifts") {
        return Ok(None);
    }
    modules::check_id("employee_id", employee_id)?;
    let path = format!("/on-duty?employee_id={employee_id}&at={at}");
    match modules::get::<OnDuty>("shifts", &path) {
        Ok(reply) => Ok(reply.and_then(|r| r.assignment).map(|a| Shift {
            assignment_id: a.id,
            name: a.shift_name,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
        })),
        // Disabled between the check and the call: no shift, as for a tenant without.
        Err(Error::Unavailable(_)) => Ok(None),
        Err(err) => {
            // Lateness is a judgement on top of the session, never a reason to lose it.
            log::warn(&format!(
                "shifts could not say {employee_id}'s shift: {err:?}"
            ));
            Ok(None)
        }
    }
}

/// Sets the session's shift (asked anew when `ask`, kept otherwise) and its late and
/// early-leave minutes; both are absent when there is no shift.
pub fn judge(session: &mut Session, ask: bool) -> Result<()> {
    if ask {
        session.shift = shift_at(&session.employee_id, session.check_in)?;
    }
    let Some(shift) = &session.shift else {
        session.late_minutes = None;
        session.early_leave_minutes = None;
        return Ok(());
    };
    session.late_minutes = Some(session.check_in.saturating_sub(shift.starts_at) / 60_000);
    session.early_leave_minutes = session
        .check_out
        .map(|out| shift.ends_at.saturating_sub(out) / 60_000);
    Ok(())
}
