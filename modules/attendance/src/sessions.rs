//! Sessions: clocked in and out by employees, recorded or corrected by managers.

use mosaic_sdk::input::take_version;
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{Document, Op};
use mosaic_sdk::time::{self, now_ms};
use mosaic_sdk::{identity, modules};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::shift::judge;
use crate::{Correction, SESSIONS, Session};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Clock {
    employee_id: String,
}

/// A session a manager records after the fact: closed, in the past, with a reason.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    employee_id: String,
    check_in: u64,
    check_out: u64,
    reason: String,
}

pub fn check_in(req: &Request) -> Result<Response> {
    let Clock { employee_id } = req.json()?;
    modules::require_active_employee("employee_id", &employee_id)?;
    let now = now_ms();
    let mut session = Session {
        open_for: Some(employee_id.clone()),
        ..opened(employee_id, now, "clock")
    };
    judge(&mut session, true)?;
    let doc = SESSIONS.insert(&session).map_err(|err| match err {
        Error::Conflict(_) => Error::Conflict("Employee is already checked in".into()),
        other => other,
    })?;
    session.emit("attendance.checked_in", &doc.id)?;
    Ok(Response::raw_json(201, doc.to_json()))
}

pub fn check_out(req: &Request) -> Result<Response> {
    let Clock { employee_id } = req.json()?;
    let page = SESSIONS
        .query()
        .eq("open_for", employee_id.as_str())
        .limit(1)
        .fetch()?;
    let Some(open) = page.items.into_iter().next() else {
        return Err(Error::Conflict("Employee is not checked in".into()));
    };
    let mut session: Session = open.parse()?;
    session.close(now_ms());
    judge(&mut session, false)?;
    // The expected version makes a concurrent second check-out a 409, not a double close.
    let doc = SESSIONS.update(&open.id, Some(open.version), &session)?;
    session.emit("attendance.checked_out", &doc.id)?;
    Ok(Response::raw_json(200, doc.to_json()))
}

/// A manager records a session that was not clocked (a forgotten badge, a day off
/// site): closed, over by now, overlapping none of the employee's others.
pub fn record(req: &Request) -> Result<Response> {
    let entry: Entry = req.json()?;
    let reason = reason(&entry.reason)?;
    modules::require_active_employee("employee_id", &entry.employee_id)?;
    check_times(entry.check_in, Some(entry.check_out))?;
    let mut session = opened(entry.employee_id, entry.check_in, "manual");
    session.close(entry.check_out);
    refuse_overlap(&session, None)?;
    judge(&mut session, true)?;
    session.history.push(Correction {
        at: now_ms(),
        by: actor()?,
        reason,
        from: session.times(),
        to: session.times(),
    });
    let doc = SESSIONS.insert(&session)?;
    session.emit("attendance.recorded", &doc.id)?;
    Ok(Response::raw_json(201, doc.to_json()))
}

/// A manager corrects `check_in` and/or `check_out` with a `reason`; the change is
/// kept in the session's `history`, and lateness is judged again.
pub fn correct(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let doc = SESSIONS.fetch(id, "Session")?;
    let before: Session = doc.parse()?;
    let mut input: Map<String, Value> = req.json()?;
    let expected = take_version(&mut input, doc.version)?;
    let reason = match input.remove("reason") {
        Some(Value::String(r)) => self::reason(&r)?,
        _ => return Err(Error::invalid_field("reason", "is required: say why")),
    };
    let mut after = before.clone();
    for (field, value) in input {
        let ms = value.as_u64();
        match (field.as_str(), ms) {
            ("check_in", Some(ms)) => after.check_in = ms,
            ("check_out", Some(ms)) => after.check_out = Some(ms),
            ("check_in" | "check_out", None) => {
                return Err(Error::invalid_field(
                    &field,
                    "must be milliseconds since the epoch",
                ));
            }
            _ => return Err(Error::invalid_field(&field, "unknown field")),
        }
    }
    if after.times() == before.times() {
        return Err(Error::invalid_field(
            "check_in",
            "send check_in or check_out to change",
        ));
    }
    check_times(after.check_in, after.check_out)?;
    after.date = time::date_at(after.check_in, &time::tenant_zone()).to_string();
    if let Some(out) = after.check_out {
        // A correction that gives an open session its check-out closes it.
        after.close(out);
    }
    refuse_overlap(&after, Some(id))?;
    judge(&mut after, true)?;
    after.history.push(Correction {
        at: now_ms(),
        by: actor()?,
        reason,
        from: before.times(),
        to: after.times(),
    });
    let saved = SESSIONS.update(id, Some(expected), &after)?;
    after.emit("attendance.corrected", id)?;
    Ok(Response::raw_json(200, saved.to_json()))
}

pub fn show(req: &Request) -> Result<Response> {
    Ok(Response::raw_json(
        200,
        SESSIONS.fetch(req.param("id"), "Session")?.to_json(),
    ))
}

/// Filters: `employee_id`, `date`, `from` and `to` (dates, inclusive). Latest first.
pub fn list(req: &Request) -> Result<Response> {
    let mut query = SESSIONS.query().order_by("check_in", true).paged(req)?;
    if let Some(employee_id) = req.query("employee_id") {
        query = query.eq("employee_id", employee_id);
    }
    query = query.dated(req, "date")?;
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

/// A session begun at `check_in`; its working day is the tenant's, not UTC's.
fn opened(employee_id: String, check_in: u64, source: &str) -> Session {
    Session {
        employee_id,
        date: time::date_at(check_in, &time::tenant_zone()).to_string(),
        check_in,
        check_out: None,
        minutes: None,
        open_for: None,
        shift: None,
        late_minutes: None,
        early_leave_minutes: None,
        source: source.into(),
        history: Vec::new(),
    }
}

fn reason(text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 500 || text.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "reason",
            "must be 1 to 500 characters",
        ));
    }
    Ok(text.to_owned())
}

/// Times in the past, a check-out after the check-in, a session under a day.
fn check_times(check_in: u64, check_out: Option<u64>) -> Result<()> {
    let now = now_ms();
    if check_in > now {
        return Err(Error::invalid_field(
            "check_in",
            "must not be in the future",
        ));
    }
    if let Some(out) = check_out {
        if out <= check_in {
            return Err(Error::invalid_field("check_out", "must be after check_in"));
        }
        if out > now {
            return Err(Error::invalid_field(
                "check_out",
                "must not be in the future",
            ));
        }
        if out - check_in >= 24 * 3_600_000 {
            return Err(Error::invalid_field(
                "check_out",
                "a session lasts under 24 hours",
            ));
        }
    }
    Ok(())
}

/// 409 naming the employee's session that `session` would overlap. The employee's
/// sessions never overlap, so the last one begun before `session` ends is the only
/// one that can.
fn refuse_overlap(session: &Session, ignoring: Option<&str>) -> Result<()> {
    let end = session.check_out.unwrap_or_else(now_ms);
    let page = SESSIONS
        .query()
        .eq("employee_id", session.employee_id.as_str())
        .filter("check_in", Op::Lt, end as i64)
        .order_by("check_in", true)
        .limit(2)
        .fetch()?;
    let Some(other) = page.items.iter().find(|d| Some(d.id.as_str()) != ignoring) else {
        return Ok(());
    };
    let earlier: Session = other.parse()?;
    if earlier.check_out.unwrap_or(u64::MAX) > session.check_in {
        return Err(overlap(other));
    }
    Ok(())
}

fn overlap(other: &Document) -> Error {
    Error::Conflict(format!(
        "The employee's session {} overlaps these times",
        other.id
    ))
}

fn actor() -> Result<String> {
    Ok(identity::require_caller()?.user_id)
}
