//! Swap requests: an employee asks to trade their shift with a colleague's; a
//! manager approves (the two change hands, if neither then overlaps another shift
//! of theirs) or rejects; the requester may cancel while it is pending.

use mosaic_sdk::input::one_of;
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Batch, Collection, Document, Index};
use mosaic_sdk::time::now_ms;
use mosaic_sdk::{events, identity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::assignments::{ASSIGNMENTS, Assignment, guarded, refuse_overlap};
use crate::{is_manager, my_employee_id};

pub const SWAPS: Collection =
    store::collection("swaps").indexes(&[Index::on(&["status"]), Index::on(&["requested_by"])]);

const STATUSES: &[&str] = &["PENDING", "APPROVED", "REJECTED", "CANCELLED"];

#[derive(Clone, Serialize, Deserialize)]
pub struct Swap {
    pub assignment_id: String,
    pub with_assignment_id: String,
    pub requester_employee_id: String,
    pub counterpart_employee_id: String,
    pub requested_by: String,
    pub reason: Option<String>,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSwap {
    assignment_id: String,
    with_assignment_id: String,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    status: String,
}

/// Managers: every request (`?status=`). Members: the ones they made.
pub fn list(req: &Request) -> Result<Response> {
    let mut query = SWAPS.query().paged(req)?;
    if !is_manager() {
        query = query.eq("requested_by", identity::require_caller()?.user_id);
    }
    if let Some(status) = req.query("status") {
        query = query.eq("status", one_of("status", status, STATUSES)?);
    }
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

/// The caller asks to trade `assignment_id` (theirs, unless they are a manager) for
/// `with_assignment_id`, another employee's.
pub fn request(req: &Request) -> Result<Response> {
    let new: NewSwap = req.json()?;
    let reason = new
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(Error::invalid_field(
            "reason",
            "must be at most 500 characters",
        ));
    }
    let (_, mine) = scheduled("assignment_id", &new.assignment_id)?;
    let (_, theirs) = scheduled("with_assignment_id", &new.with_assignment_id)?;
    if !is_manager() && my_employee_id()?.as_deref() != Some(mine.employee_id.as_str()) {
        return Err(Error::Forbidden(
            "You may only offer a shift of your own".into(),
        ));
    }
    if mine.employee_id == theirs.employee_id {
        return Err(Error::invalid_field(
            "with_assignment_id",
            "is a shift of the same employee",
        ));
    }
    let swap = Swap {
        assignment_id: new.assignment_id,
        with_assignment_id: new.with_assignment_id,
        requester_employee_id: mine.employee_id,
        counterpart_employee_id: theirs.employee_id,
        requested_by: identity::require_caller()?.user_id,
        reason,
        status: "PENDING".into(),
        decided_by: None,
        decided_at: None,
    };
    let doc = SWAPS.insert(&swap)?;
    events::emit(
        "shift.swap_requested",
        Some(&doc.id),
        &summary(&doc.id, &swap),
    )?;
    Ok(Response::raw_json(201, doc.to_json()))
}

/// `{"status": "APPROVED" | "REJECTED"}` by a manager, `"CANCELLED"` by the
/// requester (or a manager); only a pending request moves.
pub fn decide(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let doc = SWAPS.fetch(id, "Swap request")?;
    let mut swap: Swap = doc.parse()?;
    let caller = identity::require_caller()?;
    if !is_manager() && swap.requested_by != caller.user_id {
        return Err(Error::NotFound(format!("Swap request {id} not found")));
    }
    let Decision { status } = req.json()?;
    let status = one_of("status", &status, &STATUSES[1..])?.to_owned();
    if status != "CANCELLED" && !is_manager() {
        return Err(Error::Forbidden(
            "Only managers approve or reject swaps".into(),
        ));
    }
    if swap.status != "PENDING" {
        return Err(Error::Conflict(format!(
            "The swap request is already {}",
            swap.status
        )));
    }
    swap.status = status;
    swap.decided_by = Some(caller.user_id);
    swap.decided_at = Some(now_ms());
    if swap.status != "APPROVED" {
        let saved = SWAPS.update(id, Some(doc.version), &swap)?;
        if swap.status == "REJECTED" {
            events::emit("shift.swap_rejected", Some(id), &summary(id, &swap))?;
        }
        return Ok(Response::raw_json(200, saved.to_json()));
    }
    let written = guarded(
        &[&swap.requester_employee_id, &swap.counterpart_employee_id],
        || {
            if SWAPS.fetch(id, "Swap request")?.version != doc.version {
                return Err(Error::Conflict("The swap request changed meanwhile".into()));
            }
            let (mine_doc, mut mine) = still_open(&swap.assignment_id)?;
            let (theirs_doc, mut theirs) = still_open(&swap.with_assignment_id)?;
            if mine.employee_id != swap.requester_employee_id
                || theirs.employee_id != swap.counterpart_employee_id
            {
                return Err(Error::Conflict(
                    "The shifts changed hands since the request; it cannot be approved".into(),
                ));
            }
            std::mem::swap(&mut mine.employee_id, &mut theirs.employee_id);
            let moving = [mine_doc.id.as_str(), theirs_doc.id.as_str()];
            refuse_overlap(&mine, &moving)?;
            refuse_overlap(&theirs, &moving)?;
            Batch::new()
                .update(ASSIGNMENTS, &mine_doc.id, Some(mine_doc.version), &mine)?
                .update(
                    ASSIGNMENTS,
                    &theirs_doc.id,
                    Some(theirs_doc.version),
                    &theirs,
                )?
                .update(SWAPS, id, Some(doc.version), &swap)
        },
    )?;
    events::emit("shift.swapped", Some(id), &summary(id, &swap))?;
    let saved = written
        .into_iter()
        .nth(2)
        .flatten()
        .ok_or_else(|| Error::Internal("the batch wrote no swap".into()))?;
    Ok(Response::raw_json(200, saved.to_json()))
}

/// The assignment `id` if it is scheduled and still to come; else why not.
fn to_come(id: &str) -> Result<std::result::Result<(Document, Assignment), &'static str>> {
    let Some(doc) = ASSIGNMENTS.get(id)? else {
        return Ok(Err("no such assignment"));
    };
    let assignment: Assignment = doc.parse()?;
    Ok(if assignment.status != "SCHEDULED" {
        Err("the assignment is cancelled")
    } else if assignment.starts_at <= now_ms() {
        Err("the shift has already started")
    } else {
        Ok((doc, assignment))
    })
}

/// For a request: the assignment in `field`, or a 422 on it.
fn scheduled(field: &str, id: &str) -> Result<(Document, Assignment)> {
    to_come(id)?.map_err(|why| Error::invalid_field(field, why))
}

/// At approval: a 409 if the assignment changed so that the swap cannot happen.
fn still_open(id: &str) -> Result<(Document, Assignment)> {
    to_come(id)?.map_err(|why| Error::Conflict(format!("Assignment {id}: {why}")))
}

fn summary(id: &str, swap: &Swap) -> Value {
    json!({"swap_id": id, "assignment_id": swap.assignment_id,
           "with_assignment_id": swap.with_assignment_id,
           "requester_employee_id": swap.requester_employee_id,
           "counterpart_employee_id": swap.counterpart_employee_id,
           "status": swap.status})
}
