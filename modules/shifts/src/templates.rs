//! Shift templates: a named working time (start and end as `HH:MM` in the tenant's
//! zone, the days of the week it runs, unpaid break minutes). An end at or before
//! the start is a night shift that ends the next day.

use mosaic_sdk::input::{self, Field, Fields};
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection, Document};
use mosaic_sdk::time::{Date, Time, TimeZone, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::assignments::ASSIGNMENTS;

pub const TEMPLATES: Collection = store::collection("templates");

/// Monday first, as ISO 8601 counts.
pub const DAYS: &[&str] = &["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    /// `HH:MM`.
    pub start: String,
    pub end: String,
    pub days: Vec<String>,
    pub break_minutes: i64,
    /// An inactive template keeps its past assignments but takes no new ones.
    pub active: bool,
}

const TEMPLATE: Fields = Fields::new(&[
    Field::text("name", 1, 100).required(),
    Field::text("start", 5, 5).required(),
    Field::text("end", 5, 5).required(),
    Field::integer("break_minutes")
        .min(0)
        .max(720)
        .unit("minutes"),
    Field::boolean("active"),
]);

impl Template {
    /// When the shift runs on `date`, as milliseconds since the epoch: `[start, end)`.
    pub fn span_on(&self, date: Date, zone: &TimeZone) -> Result<(u64, u64)> {
        let (start, end) = (clock_time(&self.start)?, clock_time(&self.end)?);
        let end_date = if end <= start {
            date.tomorrow()
                .map_err(|e| Error::Internal(format!("no day after {date}: {e}")))?
        } else {
            date
        };
        Ok((instant(date, start, zone)?, instant(end_date, end, zone)?))
    }

    pub fn runs_on(&self, date: Date) -> bool {
        self.days.iter().any(|d| d == day_name(date.weekday()))
    }
}

pub fn day_name(day: Weekday) -> &'static str {
    DAYS[usize::from(day.to_monday_zero_offset().unsigned_abs())]
}

/// `HH:MM`, 00:00 to 23:59.
fn clock_time(text: &str) -> Result<Time> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 5
        && bytes[2] == b':'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 2 || b.is_ascii_digit());
    let parsed = shaped.then(|| text.parse::<Time>().ok()).flatten();
    parsed.ok_or_else(|| Error::Internal(format!("stored time {text} is not HH:MM")))
}

fn instant(date: Date, time: Time, zone: &TimeZone) -> Result<u64> {
    let zoned = date
        .to_datetime(time)
        .to_zoned(zone.clone())
        .map_err(|e| Error::Internal(format!("{date} {time} in the tenant's zone: {e}")))?;
    u64::try_from(zoned.timestamp().as_millisecond())
        .map_err(|_| Error::invalid_field("date", "must be after 1970"))
}

/// `start`, `end` and `days` beyond what [`Fields`] checks; every problem at once.
fn checked(template: Template) -> Result<Template> {
    let mut problems = std::collections::BTreeMap::new();
    for (field, value) in [("start", &template.start), ("end", &template.end)] {
        if clock_time(value).is_err() {
            problems.insert(field.to_owned(), "must be a time as HH:MM".to_owned());
        }
    }
    if template.start == template.end {
        problems.insert("end".to_owned(), "must differ from start".to_owned());
    }
    if template.days.is_empty() || template.days.iter().any(|d| !DAYS.contains(&d.as_str())) {
        problems.insert(
            "days".to_owned(),
            format!("must be a list of days of {}", DAYS.join(", ")),
        );
    }
    if problems.is_empty() {
        Ok(template)
    } else {
        Err(Error::Invalid(problems))
    }
}

/// Takes `days` out of the body: a list of day names, each once, in week order.
fn take_days(input: &mut Map<String, Value>) -> Result<Option<Vec<String>>> {
    let Some(value) = input.remove("days") else {
        return Ok(None);
    };
    let days: Vec<String> = serde_json::from_value(value).map_err(|_| {
        Error::invalid_field("days", &format!("must be a list of {}", DAYS.join(", ")))
    })?;
    let days: Vec<String> = days.iter().map(|d| d.trim().to_uppercase()).collect();
    if let Some(bad) = days.iter().find(|d| !DAYS.contains(&d.as_str())) {
        return Err(Error::invalid_field(
            "days",
            &format!("{bad} is not one of {}", DAYS.join(", ")),
        ));
    }
    Ok(Some(
        DAYS.iter()
            .filter(|d| days.iter().any(|given| given == *d))
            .map(|d| (*d).to_owned())
            .collect(),
    ))
}

pub fn list(req: &Request) -> Result<Response> {
    let mut query = TEMPLATES.query().order_by("name", false).paged(req)?;
    match req.query("active") {
        None => {}
        Some("true") => query = query.eq("active", true),
        Some("false") => query = query.eq("active", false),
        Some(_) => return Err(Error::invalid_field("active", "must be true or false")),
    }
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

pub fn create(req: &Request) -> Result<Response> {
    let mut input: Map<String, Value> = req.json()?;
    let days = take_days(&mut input)?;
    let blank = json!({"days": DAYS[..5], "break_minutes": 0, "active": true});
    let mut template: Template = TEMPLATE.update_with(&blank, input)?;
    if let Some(days) = days {
        template.days = days;
    }
    let doc = TEMPLATES.insert(&checked(template)?)?;
    Ok(Response::raw_json(201, doc.to_json()))
}

pub fn show(req: &Request) -> Result<Response> {
    Ok(Response::raw_json(200, fetch(req.param("id"))?.0.to_json()))
}

/// Changes apply to assignments made from now on; those made keep their times.
pub fn update(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let (doc, stored) = fetch(id)?;
    let mut input: Map<String, Value> = req.json()?;
    let expected = input::take_version(&mut input, doc.version)?;
    let days = take_days(&mut input)?;
    let mut template: Template = TEMPLATE.update_with(&stored, input)?;
    if let Some(days) = days {
        template.days = days;
    }
    let doc = TEMPLATES.update(id, Some(expected), &checked(template)?)?;
    Ok(Response::raw_json(200, doc.to_json()))
}

/// Only a template nobody was ever assigned to goes; deactivate the others.
pub fn remove(req: &Request) -> Result<Response> {
    let id = req.param("id");
    fetch(id)?;
    if ASSIGNMENTS.count(ASSIGNMENTS.query().eq("template_id", id))? > 0 {
        return Err(Error::Conflict(
            "The template has assignments; set active to false instead".into(),
        ));
    }
    TEMPLATES.delete(id, None)?;
    Ok(Response::no_content())
}

pub fn fetch(id: &str) -> Result<(Document, Template)> {
    let doc = TEMPLATES.fetch(id, "Shift template")?;
    let template = doc.parse()?;
    Ok((doc, template))
}
