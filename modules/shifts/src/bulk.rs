//! A week scheduled at once: every item placed on each day of the week its
//! template runs (or the days it names), each placement answered on its own.

use mosaic_sdk::modules;
use mosaic_sdk::prelude::*;
use mosaic_sdk::time::{Date, ISOWeekDate, ToSpan, Weekday, query_date};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::assignments::{place, usable_template};
use crate::templates::{DAYS, day_name};

/// Placements one request makes at most: 100 employees for a week.
const MAX_PLACEMENTS: usize = 700;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Week {
    /// ISO week, `2026-W49`; or `week_start`, the first of seven days.
    week: Option<String>,
    week_start: Option<String>,
    items: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    employee_id: String,
    template_id: String,
    /// A subset of the template's days, `["MON", "WED"]`.
    days: Option<Vec<String>>,
}

/// `{"week_start", "created", "failed", "results": [{employee_id, template_id, date,
/// status, assignment | error}]}`: a placement that fails leaves the others made.
pub fn assign_week(req: &Request) -> Result<Response> {
    let week: Week = req.json()?;
    let start = week_start(&week)?;
    if week.items.is_empty() {
        return Err(Error::invalid_field(
            "items",
            "must list at least one placement",
        ));
    }
    let mut results = Vec::new();
    let (mut created, mut failed) = (0, 0);
    for (index, item) in week.items.iter().enumerate() {
        let days: Option<Vec<String>> = item
            .days
            .as_ref()
            .map(|days| days.iter().map(|d| d.trim().to_uppercase()).collect());
        if let Some(bad) = days.iter().flatten().find(|d| !DAYS.contains(&d.as_str())) {
            return Err(Error::invalid_field(
                &format!("items[{index}].days"),
                &format!("{bad} is not one of {}", DAYS.join(", ")),
            ));
        }
        let outcome = usable_template(&item.template_id).and_then(|(id, template)| {
            modules::require_active_employee("employee_id", &item.employee_id)?;
            Ok((id, template))
        });
        let (template_id, template) = match outcome {
            Ok(found) => found,
            Err(err @ Error::Internal(_)) => return Err(err),
            Err(err) => {
                failed += 1;
                results.push(result(item, None, Err(err)));
                continue;
            }
        };
        for offset in 0..7 {
            let date = start
                .checked_add(offset.days())
                .map_err(|e| Error::invalid_field("week_start", &e.to_string()))?;
            let day = day_name(date.weekday());
            let wanted = days
                .as_ref()
                .is_none_or(|days| days.iter().any(|d| d == day));
            if !wanted || !template.runs_on(date) {
                continue;
            }
            if results.len() >= MAX_PLACEMENTS {
                return Err(Error::invalid_field(
                    "items",
                    &format!("at most {MAX_PLACEMENTS} placements at once"),
                ));
            }
            let placed = match place(&item.employee_id, &template_id, &template, date, None) {
                Err(err @ Error::Internal(_)) => return Err(err),
                placed => placed,
            };
            if placed.is_ok() {
                created += 1;
            } else {
                failed += 1;
            }
            results.push(result(item, Some(date), placed.map(|doc| doc.to_json())));
        }
    }
    Response::json(
        200,
        &json!({"week_start": start.to_string(), "created": created, "failed": failed,
                "results": results}),
    )
}

fn week_start(week: &Week) -> Result<Date> {
    match (&week.week, &week.week_start) {
        (Some(iso), None) => parse_iso_week(iso)
            .ok_or_else(|| Error::invalid_field("week", "must be an ISO week as YYYY-Www")),
        (None, Some(date)) => query_date("week_start", date),
        _ => Err(Error::invalid_field(
            "week",
            "give either week or week_start",
        )),
    }
}

fn parse_iso_week(text: &str) -> Option<Date> {
    let (year, week) = text.split_once("-W")?;
    if year.len() != 4 || week.len() != 2 {
        return None;
    }
    let monday = ISOWeekDate::new(year.parse().ok()?, week.parse().ok()?, Weekday::Monday).ok()?;
    Some(monday.date())
}

fn result(item: &Item, date: Option<Date>, placed: Result<String>) -> Value {
    let mut out = json!({"employee_id": item.employee_id, "template_id": item.template_id,
                         "date": date.map(|d| d.to_string())});
    match placed {
        Ok(doc) => {
            out["status"] = json!(201);
            out["assignment"] = serde_json::from_str(&doc).unwrap_or(Value::Null);
        }
        Err(err) => {
            out["status"] = json!(err.status());
            let body = err.into_response(None).body;
            out["error"] = serde_json::from_slice(&body).unwrap_or(Value::Null);
        }
    }
    out
}
