//! The day per employee, and the summary of a period per employee, per department
//! and in total: what reports and payroll read.

use std::collections::{BTreeMap, BTreeSet};

use mosaic_sdk::modules;
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::Op;
use mosaic_sdk::time::{self, Date, Period, ToSpan, Weekday, now_ms, query_date};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{SESSIONS, Session};

/// The longest period one summary covers.
const MAX_DAYS: i32 = 92;
const PAGE: u32 = 500;

/// `?date=` (today by default) and optionally `?employee_id=`: each employee's
/// sessions that day with worked minutes and hours, lateness and early leave.
pub fn daily(req: &Request) -> Result<Response> {
    let date = match req.query("date") {
        Some(date) => query_date("date", date)?,
        None => time::date_at(now_ms(), &time::tenant_zone()),
    };
    let mut sessions = sessions_between(date, date, req.query("employee_id"))?;
    sessions.sort_by_key(|s| s.check_in);
    let mut days: BTreeMap<&str, Day> = BTreeMap::new();
    for session in &sessions {
        days.entry(&session.employee_id).or_default().add(session);
    }
    let employees: Vec<_> = days
        .iter()
        .map(|(id, day)| {
            json!({"employee_id": id, "sessions": day.sessions, "minutes": day.minutes,
                   "hours": hours(day.minutes), "first_in": day.first_in,
                   "last_out": day.last_out, "open": day.open,
                   "late_minutes": day.late_minutes,
                   "early_leave_minutes": day.early_leave_minutes})
        })
        .collect();
    Response::json(
        200,
        &json!({"date": date.to_string(), "employees": employees}),
    )
}

/// `?month=YYYY-MM`, or `?from=&to=` (dates, inclusive, at most 92 days); the current
/// month by default. Per employee, per department and in total: days present,
/// minutes worked, late days and minutes, early leaves, and the attendance rate:
/// the working days (Monday to Friday, up to today) an active employee was present,
/// over those they could have been (from their hiring on).
pub fn summary(req: &Request) -> Result<Response> {
    let Period { from, to } = Period::from_request(req, MAX_DAYS)?;
    let today = time::date_at(now_ms(), &time::tenant_zone());
    let working_days = weekdays(from, to.min(today));
    let mut people: BTreeMap<String, Person> = BTreeMap::new();
    for session in sessions_between(from, to, None)? {
        people
            .entry(session.employee_id.clone())
            .or_default()
            .add(&session);
    }
    let staff: BTreeMap<String, Employee> = active_employees()?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    for id in staff.keys() {
        people.entry(id.clone()).or_default();
    }
    let mut departments: BTreeMap<String, (u64, Figures)> = BTreeMap::new();
    let mut total = (0, Figures::default());
    let mut rows = Vec::with_capacity(people.len());
    for (id, person) in &people {
        let employee = staff.get(id);
        let department = employee.and_then(|e| e.department.as_deref());
        // Someone no longer active keeps their hours but is no one the rate expects.
        let figures = person.figures(&working_days, employee.map(|e| e.hired_on.as_str()));
        for (employees, sum) in [
            departments
                .entry(department.unwrap_or("(none)").to_owned())
                .or_default(),
            &mut total,
        ] {
            *employees += u64::from(employee.is_some());
            sum.add(&figures);
        }
        rows.push(
            figures.into_json(json!({"employee_id": id, "name": employee.map(|e| &e.name),
                                           "department": department})),
        );
    }
    let departments: Vec<_> = departments
        .iter()
        .map(|(name, (employees, sum))| {
            sum.into_json(json!({"department": name, "employees": employees}))
        })
        .collect();
    let (employees, sum) = total;
    Response::json(
        200,
        &json!({"from": from.to_string(), "to": to.to_string(),
                "working_days": working_days.len(),
                "totals": sum.into_json(json!({"employees": employees})),
                "departments": departments, "employees": rows}),
    )
}

/// Monday to Friday, `from` to `to` inclusive.
fn weekdays(from: Date, to: Date) -> BTreeSet<String> {
    let mut days = BTreeSet::new();
    let mut day = from;
    while day <= to {
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            days.insert(day.to_string());
        }
        match day.checked_add(1.day()) {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    days
}

/// Every session dated `from` to `to`, page after page.
fn sessions_between(from: Date, to: Date, employee_id: Option<&str>) -> Result<Vec<Session>> {
    let mut query = SESSIONS
        .query()
        .filter("date", Op::Ge, from.to_string())
        .filter("date", Op::Le, to.to_string())
        .limit(PAGE);
    if let Some(id) = employee_id {
        query = query.eq("employee_id", id);
    }
    let mut sessions = Vec::new();
    query.each(|doc| {
        sessions.push(doc.parse()?);
        Ok(())
    })?;
    Ok(sessions)
}

#[derive(Deserialize)]
struct Employee {
    id: String,
    name: String,
    department: Option<String>,
    hired_on: String,
}

#[derive(Deserialize)]
struct EmployeePage {
    items: Vec<Employee>,
    next_cursor: Option<String>,
}

/// The tenant's active employees, asked of employees page after page.
fn active_employees() -> Result<Vec<Employee>> {
    let mut staff = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/?status=active&limit={PAGE}{cursor}");
        let page: EmployeePage = modules::get("employees", &path)?
            .ok_or_else(|| Error::Internal("employees has no list".into()))?;
        staff.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = format!("&cursor={}", percent_encode(&next)),
            None => return Ok(staff),
        }
    }
}

/// Cursors are opaque: encoded so that one cannot end the query string.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hours(minutes: u64) -> f64 {
    (minutes as f64 / 60.0 * 100.0).round() / 100.0
}

/// One employee's day.
#[derive(Default)]
struct Day {
    sessions: usize,
    minutes: u64,
    first_in: Option<u64>,
    last_out: Option<u64>,
    open: bool,
    late_minutes: Option<u64>,
    early_leave_minutes: Option<u64>,
}

impl Day {
    /// Adds the day's sessions in the order they began: lateness is the first
    /// arrival's, early leave the last departure's.
    fn add(&mut self, session: &Session) {
        if self.sessions == 0 {
            self.first_in = Some(session.check_in);
            self.late_minutes = session.late_minutes;
        }
        self.sessions += 1;
        self.minutes += session.minutes.unwrap_or(0);
        self.open |= session.check_out.is_none();
        if session.check_out.is_some() {
            self.last_out = session.check_out;
            self.early_leave_minutes = session.early_leave_minutes;
        }
    }
}

/// One employee's attendance over a period: the dates they were present, late or
/// left early.
#[derive(Default)]
struct Person {
    present: BTreeSet<String>,
    late: BTreeSet<String>,
    early: BTreeSet<String>,
    minutes: u64,
    late_minutes: u64,
}

impl Person {
    fn add(&mut self, session: &Session) {
        self.present.insert(session.date.clone());
        self.minutes += session.minutes.unwrap_or(0);
        if let Some(late) = session.late_minutes.filter(|m| *m > 0) {
            self.late.insert(session.date.clone());
            self.late_minutes += late;
        }
        if session.early_leave_minutes.is_some_and(|m| m > 0) {
            self.early.insert(session.date.clone());
        }
    }

    /// The figures, counting toward the rate only for an active employee (hired on
    /// `hired_on`).
    fn figures(&self, working_days: &BTreeSet<String>, hired_on: Option<&str>) -> Figures {
        let (expected, attended) = match hired_on {
            Some(hired_on) => {
                let since = working_days.iter().filter(|d| d.as_str() >= hired_on);
                let expected: BTreeSet<&String> = since.collect();
                let attended = self.present.iter().filter(|d| expected.contains(d)).count();
                (expected.len() as u64, attended as u64)
            }
            None => (0, 0),
        };
        Figures {
            days_present: self.present.len() as u64,
            expected_days: expected,
            attended_days: attended,
            minutes: self.minutes,
            late_days: self.late.len() as u64,
            late_minutes: self.late_minutes,
            early_leave_days: self.early.len() as u64,
        }
    }
}

/// Attendance figures: one employee's, or summed over several (days are
/// employee-days then).
#[derive(Default, Clone, Copy)]
struct Figures {
    days_present: u64,
    /// Working days the rate expects, and those of them attended.
    expected_days: u64,
    attended_days: u64,
    minutes: u64,
    late_days: u64,
    late_minutes: u64,
    early_leave_days: u64,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        self.days_present += other.days_present;
        self.expected_days += other.expected_days;
        self.attended_days += other.attended_days;
        self.minutes += other.minutes;
        self.late_days += other.late_days;
        self.late_minutes += other.late_minutes;
        self.early_leave_days += other.early_leave_days;
    }

    /// `head` with the figures; the rate is null when no working day was expected.
    fn into_json(self, mut head: Value) -> Value {
        let rate = (self.expected_days > 0).then(|| {
            let rate = self.attended_days as f64 / self.expected_days as f64;
            (rate * 1000.0).round() / 1000.0
        });
        let figures = json!({"days_present": self.days_present, "minutes": self.minutes,
                             "hours": hours(self.minutes), "late_days": self.late_days,
                             "late_minutes": self.late_minutes,
                             "early_leave_days": self.early_leave_days,
                             "attendance_rate": rate});
        if let (Some(head), Value::Object(figures)) = (head.as_object_mut(), figures) {
            head.extend(figures);
        }
        head
    }
}
