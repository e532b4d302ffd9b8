//! Assignments: an employee on a template's shift on a date. No employee is ever on
//! two overlapping shifts: every placement is checked against the employee's other
//! scheduled shifts, under a guard that makes concurrent placements of the same
//! employee take turns.

use mosaic_sdk::input::one_of;
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Batch, Collection, Document, Index, Op};
use mosaic_sdk::time::{self, Date, now_ms, query_date};
use mosaic_sdk::{events, identity, modules};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::my_employee_id;
use crate::templates::{self, Template, day_name};

pub const ASSIGNMENTS: Collection = store::collection("assignments").indexes(&[
    Index::on(&["employee_id", "status", "starts_at"]),
    Index::on(&["date"]),
    Index::on(&["template_id"]),
]);

/// One document per employee, rewritten (with its expected version) by every write
/// that places them: of two requests placing the same employee at once, the second
/// fails its write and checks again, seeing the first's shift.
const ROSTERS: Collection = store::collection("rosters");
const GUARD_ATTEMPTS: usize = 3;

const STATUSES: &[&str] = &["SCHEDULED", "CANCELLED"];
/// How long before a shift an employee counts as on duty for it (an early check-in).
const EARLY_MS: u64 = 2 * 3_600_000;

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub employee_id: String,
    pub template_id: String,
    pub shift_name: String,
    /// The day the shift starts, in the tenant's zone.
    pub date: String,
    /// Milliseconds since the epoch; a night shift ends the next day.
    pub starts_at: u64,
    pub ends_at: u64,
    pub break_minutes: i64,
    pub minutes: i64,
    pub status: String,
    pub note: Option<String>,
    pub assigned_by: String,
}

/// What to place: `employee_id` on `template_id`'s shift on `date`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAssignment {
    employee_id: String,
    template_id: String,
    date: String,
    #[serde(default)]
    note: Option<String>,
}

/// Filters: `employee_id`, `template_id`, `status`, `date`, `from` and `to` (dates,
/// inclusive). Earliest first.
pub fn list(req: &Request) -> Result<Response> {
    let mut query = ASSIGNMENTS
        .query()
        .order_by("starts_at", false)
        .paged(req)?;
    for field in ["employee_id", "template_id"] {
        if let Some(value) = req.query(field) {
            query = query.eq(field, value);
        }
    }
    if let Some(status) = req.query("status") {
        query = query.eq("status", one_of("status", status, STATUSES)?);
    }
    query = query.dated(req, "date")?;
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

pub fn show(req: &Request) -> Result<Response> {
    let id = req.param("id");
    Ok(Response::raw_json(
        200,
        ASSIGNMENTS.fetch(id, "Assignment")?.to_json(),
    ))
}

pub fn create(req: &Request) -> Result<Response> {
    let new: NewAssignment = req.json()?;
    let note = new.note.as_deref().map(note).transpose()?.flatten();
    let date = query_date("date", &new.date)?;
    let (template_id, template) = usable_template(&new.template_id)?;
    modules::require_active_employee("employee_id", &new.employee_id)?;
    let doc = place(&new.employee_id, &template_id, &template, date, note)?;
    Ok(Response::raw_json(201, doc.to_json()))
}

/// Managers cancel a scheduled shift (`{"status": "CANCELLED"}`) or change its note.
pub fn update(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let doc = ASSIGNMENTS.fetch(id, "Assignment")?;
    let before: Assignment = doc.parse()?;
    let mut input: Map<String, Value> = req.json()?;
    let expected = mosaic_sdk::input::take_version(&mut input, doc.version)?;
    let mut after = before.clone();
    for (field, value) in input {
        match (field.as_str(), value) {
            ("status", Value::String(s)) if s == "CANCELLED" => after.status = s,
            ("status", _) => {
                return Err(Error::invalid_field(
                    "status",
                    "must be CANCELLED (assign anew instead of uncancelling)",
                ));
            }
            ("note", Value::Null) => after.note = None,
            ("note", Value::String(s)) => after.note = note(&s)?,
            ("note", _) => return Err(Error::invalid_field("note", "must be a string or null")),
            (other, _) => return Err(Error::invalid_field(other, "unknown field")),
        }
    }
    if after == before {
        return Ok(Response::raw_json(200, doc.to_json()));
    }
    let saved = ASSIGNMENTS.update(id, Some(expected), &after)?;
    if after.status != before.status {
        events::emit("shift.cancelled", Some(id), &summary(id, &after))?;
    }
    Ok(Response::raw_json(200, saved.to_json()))
}

/// The employee's scheduled shifts that have not ended, soonest first: the caller's
/// own unless `employee_id` is given.
pub fn upcoming(req: &Request) -> Result<Response> {
    let employee_id = match req.query("employee_id") {
        Some(id) => id.to_owned(),
        None => my_employee_id()?.ok_or_else(|| {
            Error::NotFound("You have no employee record; pass employee_id".into())
        })?,
    };
    let query = ASSIGNMENTS
        .query()
        .eq("employee_id", employee_id.as_str())
        .eq("status", "SCHEDULED")
        .filter("ends_at", Op::Gt, now_ms() as i64)
        .order_by("starts_at", false)
        .paged(req)?;
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

/// `{"assignment": ...}`: the employee's scheduled shift at `at` (milliseconds, now by
/// default), counting the two hours before it starts; null when off duty. Attendance
/// asks this at check-in.
pub fn on_duty(req: &Request) -> Result<Response> {
    let employee_id = req
        .query("employee_id")
        .ok_or_else(|| Error::invalid_field("employee_id", "is required"))?;
    let at = match req.query("at") {
        None => now_ms(),
        Some(at) => at
            .parse::<u64>()
            .map_err(|_| Error::invalid_field("at", "must be milliseconds since the epoch"))?,
    };
    let page = ASSIGNMENTS
        .query()
        .eq("employee_id", employee_id)
        .eq("status", "SCHEDULED")
        .filter("starts_at", Op::Le, at.saturating_add(EARLY_MS) as i64)
        .filter("ends_at", Op::Gt, at as i64)
        .order_by("starts_at", false)
        .limit(2)
        .fetch()?;
    // Back to back (06–14, then 14–22), a check-in at 13:55 is for the next shift:
    // the one whose start is nearest.
    let nearest = page.items.iter().min_by_key(|doc| {
        let starts_at = doc.parse::<Assignment>().map_or(u64::MAX, |a| a.starts_at);
        starts_at.abs_diff(at)
    });
    let assignment = nearest.map_or_else(|| "null".to_owned(), Document::to_json);
    Ok(Response::raw_json(
        200,
        format!("{{\"assignment\":{assignment}}}"),
    ))
}

/// A note as stored: trimmed, none if empty; a 422 if long or with control characters.
fn note(text: &str) -> Result<Option<String>> {
    let text = text.trim();
    if text.chars().count() > 500 || text.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "note",
            "must be at most 500 characters, without control characters",
        ));
    }
    Ok(Some(text.to_owned()).filter(|n| !n.is_empty()))
}

/// A template that exists and takes assignments; a 422 on `template_id` otherwise.
pub fn usable_template(id: &str) -> Result<(String, Template)> {
    match templates::fetch(id) {
        Ok((doc, template)) if template.active => Ok((doc.id, template)),
        Ok(_) => Err(Error::invalid_field("template_id", "template is inactive")),
        Err(Error::NotFound(_)) => Err(Error::invalid_field("template_id", "no such template")),
        Err(other) => Err(other),
    }
}

/// Places the (active) employee on the template's shift on `date`: 422 if the
/// template does not run that day, 409 naming the assignment it would overlap.
pub fn place(
    employee_id: &str,
    template_id: &str,
    template: &Template,
    date: Date,
    note: Option<String>,
) -> Result<Document> {
    if !template.runs_on(date) {
        return Err(Error::invalid_field(
            "date",
            &format!(
                "{date} is a {}; {} runs on {}",
                day_name(date.weekday()),
                template.name,
                template.days.join(", ")
            ),
        ));
    }
    let (starts_at, ends_at) = template.span_on(date, &time::tenant_zone())?;
    let assignment = Assignment {
        employee_id: employee_id.to_owned(),
        template_id: template_id.to_owned(),
        shift_name: template.name.clone(),
        date: date.to_string(),
        starts_at,
        ends_at,
        break_minutes: template.break_minutes,
        // From the instants, not the clock times: a night across a daylight-saving
        // change is an hour shorter or longer.
        minutes: (i64::try_from((ends_at - starts_at) / 60_000).unwrap_or(0)
            - template.break_minutes)
            .max(0),
        status: "SCHEDULED".into(),
        note,
        assigned_by: identity::caller().map_or_else(|| "system".into(), |c| c.user_id),
    };
    let written = guarded(&[employee_id], || {
        refuse_overlap(&assignment, &[])?;
        Batch::new().insert(ASSIGNMENTS, &assignment)
    })?;
    let doc = written
        .into_iter()
        .next()
        .flatten()
        .ok_or_else(|| Error::Internal("the batch wrote no assignment".into()))?;
    events::emit(
        "shift.assigned",
        Some(&doc.id),
        &summary(&doc.id, &assignment),
    )?;
    Ok(doc)
}

/// 409 naming the scheduled shift of the same employee that `assignment` overlaps,
/// leaving out the assignments `ignoring` (those a swap moves away).
pub fn refuse_overlap(assignment: &Assignment, ignoring: &[&str]) -> Result<()> {
    let page = ASSIGNMENTS
        .query()
        .eq("employee_id", assignment.employee_id.as_str())
        .eq("status", "SCHEDULED")
        .filter("starts_at", Op::Lt, assignment.ends_at as i64)
        .filter("ends_at", Op::Gt, assignment.starts_at as i64)
        .limit(u32::try_from(ignoring.len()).unwrap_or(0) + 1)
        .fetch()?;
    let Some(other) = page
        .items
        .iter()
        .find(|d| !ignoring.contains(&d.id.as_str()))
    else {
        return Ok(());
    };
    let shift: Assignment = other.parse()?;
    Err(Error::Conflict(format!(
        "Employee {} is already on {} on {} (assignment {}), which overlaps",
        assignment.employee_id, shift.shift_name, shift.date, other.id
    )))
}

/// Commits the batch `write` checks and builds, together with a new version of each
/// of `employees`' rosters; when another request placed one of them meanwhile, the
/// check runs again.
pub fn guarded(
    employees: &[&str],
    write: impl Fn() -> Result<Batch>,
) -> Result<Vec<Option<Document>>> {
    for _ in 0..GUARD_ATTEMPTS {
        let rosters = employees
            .iter()
            .map(|id| Ok((*id, ROSTERS.get(id)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut batch = write()?;
        for (id, roster) in rosters {
            batch = match roster {
                Some(doc) => batch.update(ROSTERS, id, Some(doc.version), &json!({}))?,
                None => batch.insert_with_id(ROSTERS, id, &json!({}))?,
            };
        }
        match batch.commit() {
            Err(Error::Conflict(_)) => continue,
            written => return written,
        }
    }
    Err(Error::Conflict(
        "The roster changed while this was being scheduled; try again".into(),
    ))
}

pub fn summary(id: &str, assignment: &Assignment) -> Value {
    json!({"assignment_id": id, "employee_id": assignment.employee_id,
           "template_id": assignment.template_id, "shift_name": assignment.shift_name,
           "date": assignment.date, "starts_at": assignment.starts_at,
           "ends_at": assignment.ends_at, "status": assignment.status})
}
