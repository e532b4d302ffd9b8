//! Attendance: check-in / check-out sessions per employee, with worked minutes.
//! Employees are looked up through the employees module, never read directly.

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection, Index, Op};
use mosaic_sdk::time::{self, now_ms};
use mosaic_sdk::{Capability, events, modules};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// `open_for` holds the employee id while a session is open and is null after
/// check-out: the host keeps one open session per employee even under concurrent
/// check-ins.
const SESSIONS: Collection = store::collection("sessions").indexes(&[
    Index::unique(&["open_for"]),
    Index::on(&["employee_id", "date"]),
]);

struct Attendance;

impl Module for Attendance {
    fn manifest() -> Manifest {
        Manifest::new("attendance", "Attendance", env!("CARGO_PKG_VERSION"))
            .description("Check-in and check-out, worked hours per employee")
            .icon("clock")
            .sort_order(20)
            .depends_on("employees")
            .collection(&SESSIONS)
            .capability(Capability::Events)
    }

    fn router() -> Router {
        Router::new()
            .get("/", list)
            .post("/check-in", check_in)
            .post("/check-out", check_out)
    }
}

export_module!(Attendance);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Clock {
    employee_id: String,
}

fn check_in(req: &Request) -> Result<Response> {
    let Clock { employee_id } = req.json()?;
    modules::require_active_employee("employee_id", &employee_id)?;
    let now = now_ms();
    let session = json!({
        "employee_id": employee_id,
        // The working day is the tenant's, not UTC's.
        "date": time::date_at(now, &time::tenant_zone()).to_string(),
        "check_in": now,
        "check_out": null,
        "minutes": null,
        "open_for": employee_id,
    });
    let doc = SESSIONS.insert(&session).map_err(|err| match err {
        Error::Conflict(_) => Error::Conflict("Employee is already checked in".into()),
        other => other,
    })?;
    events::emit("attendance.checked_in", Some(&doc.id), &session)?;
    Ok(Response::raw_json(201, doc.to_json()))
}

fn check_out(req: &Request) -> Result<Response> {
    let Clock { employee_id } = req.json()?;
    let page = SESSIONS
        .query()
        .eq("open_for", employee_id.as_str())
        .limit(1)
        .fetch()?;
    let Some(open) = page.items.into_iter().next() else {
        return Err(Error::Conflict("Employee is not checked in".into()));
    };
    let mut session: Map<String, Value> = open.parse()?;
    let check_in = session.get("check_in").and_then(Value::as_u64).unwrap_or(0);
    let now = now_ms().max(check_in);
    session.insert("check_out".into(), json!(now));
    session.insert("minutes".into(), json!((now - check_in) / 60_000));
    session.insert("open_for".into(), Value::Null);
    // The expected version makes a concurrent second check-out a 409, not a double close.
    let doc = SESSIONS.update(&open.id, Some(open.version), &session)?;
    events::emit("attendance.checked_out", Some(&doc.id), &session)?;
    Ok(Response::raw_json(200, doc.to_json()))
}

fn list(req: &Request) -> Result<Response> {
    let mut query = SESSIONS.query().order_by("check_in", true).paged(req)?;
    if let Some(employee_id) = req.query("employee_id") {
        query = query.eq("employee_id", employee_id);
    }
    if let Some(date) = req.query("date") {
        let date = time::parse_date(date)
            .ok_or_else(|| Error::invalid_field("date", "must be a date as YYYY-MM-DD"))?;
        query = query.filter("date", Op::Eq, date.to_string());
    }
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}
