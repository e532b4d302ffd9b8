//! Tickets: submitted by anyone, worked by managers, along
//! OPEN → IN_PROGRESS → RESOLVED → CLOSED, reopened from RESOLVED or CLOSED.

use mosaic_sdk::input::{self, Field, Fields, one_of};
use mosaic_sdk::notify::{self, To};
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection, Document, Index, Op};
use mosaic_sdk::time::now_ms;
use mosaic_sdk::{events, identity, log, modules};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::is_manager;
use crate::settings::{PRIORITIES, sla_ms};

pub const TICKETS: Collection = store::collection("tickets").indexes(&[
    Index::on(&["submitter_id"]),
    Index::on(&["open", "sla_breached", "sla_due_at"]),
    Index::on(&["status"]),
    Index::on(&["opened_at"]),
    Index::on(&["resolved_at"]),
    Index::on(&["breached_at"]),
]);

/// The schedule that marks tickets past their SLA.
pub const SLA_CHECK: &str = "sla-check";
/// Tickets one firing marks (each is a message or two): the rest wait five minutes.
const BREACHES_PER_RUN: u32 = 40;

const STATUSES: &[&str] = &["OPEN", "IN_PROGRESS", "RESOLVED", "CLOSED", "REOPENED"];

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub title: String,
    pub description: String,
    pub category: String,
    pub priority: String,
    pub status: String,
    /// Not resolved or closed: the SLA still runs.
    pub open: bool,
    pub submitter_id: String,
    pub submitter_email: Option<String>,
    pub assignee_id: Option<String>,
    /// When the SLA started (opened, or last reopened) and when it is due, in
    /// milliseconds since the epoch.
    pub sla_started_at: u64,
    pub sla_due_at: u64,
    pub sla_breached: bool,
    pub breached_at: Option<u64>,
    pub resolved_at: Option<u64>,
    pub closed_at: Option<u64>,
    /// When it was submitted; tickets from before this was kept have none.
    #[serde(default)]
    pub opened_at: Option<u64>,
}

const NEW_TICKET: Fields = Fields::new(&[
    Field::text("title", 1, 200).required(),
    Field::text("description", 1, 10_000).required(),
    Field::text("category", 1, 50).required(),
    Field::choice("priority", PRIORITIES).or("MEDIUM"),
    Field::text("assignee_id", 0, 200).optional(),
]);

/// What a manager may change besides `status`.
const CHANGES: Fields = Fields::new(&[
    Field::text("title", 1, 200).required(),
    Field::text("description", 1, 10_000).required(),
    Field::text("category", 1, 50).required(),
    Field::choice("priority", PRIORITIES).required(),
    Field::text("assignee_id", 0, 200).optional(),
]);

fn moves_from(status: &str) -> &'static [&'static str] {
    match status {
        "OPEN" | "REOPENED" => &["IN_PROGRESS"],
        "IN_PROGRESS" => &["RESOLVED"],
        "RESOLVED" => &["CLOSED", "REOPENED"],
        "CLOSED" => &["REOPENED"],
        _ => &[],
    }
}

/// Members: their own tickets. Managers: all; `?status=`, `?priority=`,
/// `?category=`, `?assignee_id=`.
pub fn list(req: &Request) -> Result<Response> {
    let mut query = TICKETS.query().order_by("sla_due_at", false).paged(req)?;
    if !is_manager() {
        query = query.eq("submitter_id", identity::require_caller()?.user_id);
    }
    if let Some(status) = req.query("status") {
        query = query.eq("status", one_of("status", status, STATUSES)?);
    }
    if let Some(priority) = req.query("priority") {
        query = query.eq("priority", one_of("priority", priority, PRIORITIES)?);
    }
    for field in ["category", "assignee_id"] {
        if let Some(value) = req.query(field) {
            query = query.eq(field, value);
        }
    }
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

/// Open tickets past their SLA, the most overdue first.
pub fn overdue(req: &Request) -> Result<Response> {
    let query = TICKETS
        .query()
        .eq("open", true)
        .filter("sla_due_at", Op::Lt, now_ms() as i64)
        .order_by("sla_due_at", false)
        .paged(req)?;
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

pub fn create(req: &Request) -> Result<Response> {
    let caller = identity::require_caller()?;
    let mut input: Map<String, Value> = req.json()?;
    if input.contains_key("assignee_id") && !is_manager() {
        return Err(Error::Forbidden("Only managers assign tickets".into()));
    }
    let now = now_ms();
    let priority = input
        .get("priority")
        .and_then(Value::as_str)
        .filter(|p| PRIORITIES.contains(p))
        .unwrap_or("MEDIUM")
        .to_owned();
    input.entry("priority").or_insert_with(|| json!(priority));
    let blank = json!({
        "status": "OPEN", "open": true, "submitter_id": caller.user_id,
        "submitter_email": caller.email.map(|e| e.to_lowercase()),
        "assignee_id": null, "sla_started_at": now,
        "sla_due_at": now + sla_ms(&priority)?, "sla_breached": false,
        "breached_at": null, "resolved_at": null, "closed_at": null, "opened_at": now,
    });
    let ticket: Ticket = NEW_TICKET.update_with(&blank, input)?;
    if let Some(assignee) = &ticket.assignee_id {
        modules::require_active_employee("assignee_id", assignee)?;
    }
    let doc = TICKETS.insert(&ticket)?;
    events::emit(
        "complaint.created",
        Some(&doc.id),
        &summary(&doc.id, &ticket),
    )?;
    if ticket.assignee_id.is_some() {
        tell_assignee(&ticket, &format!("Ticket assigned: {}", ticket.title))?;
    }
    Ok(Response::raw_json(201, doc.to_json()))
}

pub fn show(req: &Request) -> Result<Response> {
    Ok(Response::raw_json(
        200,
        visible(req.param("id"))?.0.to_json(),
    ))
}

/// Managers change any field and move the status along the flow; the submitter may
/// only reopen their resolved or closed ticket.
pub fn update(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let (doc, before) = visible(id)?;
    let mut input: Map<String, Value> = req.json()?;
    let expected = input::take_version(&mut input, doc.version)?;
    let status = match input.remove("status") {
        None => None,
        Some(Value::String(s)) => Some(one_of("status", &s, STATUSES)?.to_owned()),
        Some(_) => return Err(Error::invalid_field("status", "must be a string")),
    };
    if !is_manager() && (!input.is_empty() || status.as_deref() != Some("REOPENED")) {
        return Err(Error::Forbidden(
            "Managers work on tickets; a submitter may only reopen theirs".into(),
        ));
    }
    let mut after: Ticket = CHANGES.update_with(&before, input)?;
    if after.assignee_id != before.assignee_id
        && let Some(assignee) = &after.assignee_id
    {
        modules::require_active_employee("assignee_id", assignee)?;
    }
    let now = now_ms();
    if after.priority != before.priority {
        // The SLA is the new priority's, from when it started; a due time moved into
        // the future is no breach (one moved into the past is the schedule's to mark).
        after.sla_due_at = after.sla_started_at + sla_ms(&after.priority)?;
        if after.sla_due_at > now {
            after.sla_breached = false;
            after.breached_at = None;
        }
    }
    if let Some(status) = status.filter(|s| *s != before.status) {
        let allowed = moves_from(&before.status);
        if !allowed.contains(&status.as_str()) {
            return Err(Error::Conflict(format!(
                "A {} ticket cannot move to {status}; allowed: {}",
                before.status,
                allowed.join(", ")
            )));
        }
        match status.as_str() {
            "RESOLVED" => after.resolved_at = Some(now),
            "CLOSED" => after.closed_at = Some(now),
            // A reopened ticket gets its SLA again, from now.
            "REOPENED" => {
                after.sla_started_at = now;
                after.sla_due_at = now + sla_ms(&after.priority)?;
                after.sla_breached = false;
                after.breached_at = None;
            }
            _ => {}
        }
        after.open = !matches!(status.as_str(), "RESOLVED" | "CLOSED");
        after.status = status;
    }
    if after == before {
        return Ok(Response::raw_json(200, doc.to_json()));
    }
    let saved = TICKETS.update(id, Some(expected), &after)?;
    events::emit("complaint.updated", Some(id), &summary(id, &after))?;
    if after.status != before.status {
        let mut data = summary(id, &after);
        data["from"] = json!(before.status);
        events::emit("complaint.status_changed", Some(id), &data)?;
        let subject = format!("Ticket {}: {}", after.status, after.title);
        tell_submitter(&after, &subject)?;
        tell_assignee(&after, &subject)?;
    }
    if after.assignee_id.is_some() && after.assignee_id != before.assignee_id {
        events::emit("complaint.assigned", Some(id), &summary(id, &after))?;
        tell_assignee(&after, &format!("Ticket assigned: {}", after.title))?;
    }
    Ok(Response::raw_json(200, saved.to_json()))
}

/// Marks open tickets whose SLA passed before `fired_at`, and tells their people.
pub fn mark_breaches(fired_at: u64) -> Result<()> {
    let page = TICKETS
        .query()
        .eq("open", true)
        .eq("sla_breached", false)
        .filter("sla_due_at", Op::Lt, fired_at as i64)
        .limit(BREACHES_PER_RUN)
        .fetch()?;
    for doc in page.items {
        let mut ticket: Ticket = doc.parse()?;
        ticket.sla_breached = true;
        ticket.breached_at = Some(fired_at);
        match TICKETS.update(&doc.id, Some(doc.version), &ticket) {
            Ok(_) => {}
            // Changed since it was read: the next run judges it afresh.
            Err(Error::Conflict(_)) => continue,
            Err(other) => return Err(other),
        }
        events::emit(
            "complaint.sla_breached",
            Some(&doc.id),
            &summary(&doc.id, &ticket),
        )?;
        // A message that cannot go out does not undo the breach.
        if let Err(err) = tell_assignee(&ticket, &format!("SLA breached: {}", ticket.title)) {
            log::warn(&format!(
                "ticket {}: the assignee was not told: {err:?}",
                doc.id
            ));
        }
    }
    Ok(())
}

/// The ticket, if the caller may see it: managers all, members their own.
pub fn visible(id: &str) -> Result<(Document, Ticket)> {
    let not_found = || Error::NotFound(format!("Ticket {id} not found"));
    let doc = TICKETS.get(id)?.ok_or_else(not_found)?;
    let ticket: Ticket = doc.parse()?;
    if !is_manager() && ticket.submitter_id != identity::require_caller()?.user_id {
        return Err(not_found());
    }
    Ok((doc, ticket))
}

pub fn summary(id: &str, ticket: &Ticket) -> Value {
    json!({"ticket_id": id, "title": ticket.title, "category": ticket.category,
           "priority": ticket.priority, "status": ticket.status,
           "submitter_id": ticket.submitter_id, "assignee_id": ticket.assignee_id,
           "sla_due_at": ticket.sla_due_at})
}

/// Tells the submitter, unless they made the change themselves.
pub fn tell_submitter(ticket: &Ticket, subject: &str) -> Result<()> {
    if identity::caller().is_some_and(|c| c.user_id == ticket.submitter_id) {
        return Ok(());
    }
    quietly(notify::send(
        To::User(&ticket.submitter_id),
        "complaint.updated",
        subject,
        &format!("{}: {}", ticket.category, ticket.title),
    ))
}

/// Tells the assignee (the user with the assigned employee's email), if any.
pub fn tell_assignee(ticket: &Ticket, subject: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct Employee {
        email: String,
    }
    let Some(assignee) = &ticket.assignee_id else {
        return Ok(());
    };
    let Some(employee) = modules::employee::<Employee>(assignee)? else {
        return Ok(());
    };
    if identity::caller()
        .and_then(|c| c.email)
        .is_some_and(|e| e.eq_ignore_ascii_case(&employee.email))
    {
        return Ok(());
    }
    quietly(notify::send(
        To::Email(&employee.email),
        "complaint.assigned",
        subject,
        &format!("{}: {}", ticket.category, ticket.title),
    ))
}

/// Someone with no account in the tenant has nobody to tell.
fn quietly(sent: Result<()>) -> Result<()> {
    match sent {
        Ok(()) | Err(Error::NotFound(_)) => Ok(()),
        Err(other) => Err(other),
    }
}
