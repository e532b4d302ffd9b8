//! Throughput and cycle time: the tasks done in a period, how long they took from
//! creation to DONE, and the open work now.

use std::collections::BTreeMap;

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::Op;
use mosaic_sdk::time::{Period, hours_summary};
use serde_json::json;

use crate::task::{PRIORITIES, STATUSES, TASKS, Task, overdue};

/// `?from=&to=` (the current month by default): `completed` with its cycle time in
/// hours and per priority, and `open` per status with the overdue count.
pub fn stats(req: &Request) -> Result<Response> {
    let period = Period::from_request(req, 366)?;
    let (start, end) = period.millis();
    let mut cycle_times = Vec::new();
    let mut by_priority: BTreeMap<String, u64> =
        PRIORITIES.iter().map(|p| ((*p).to_owned(), 0)).collect();
    TASKS
        .query()
        .filter("done_at", Op::Ge, start as i64)
        .filter("done_at", Op::Lt, end as i64)
        .limit(500)
        .each(|doc| {
            let task: Task = doc.parse()?;
            let done_at = task.done_at.unwrap_or(doc.updated_at);
            cycle_times.push(done_at.saturating_sub(doc.created_at));
            *by_priority.entry(task.priority).or_default() += 1;
            Ok(())
        })?;
    let mut open = serde_json::Map::new();
    for status in STATUSES.iter().filter(|s| **s != "DONE") {
        open.insert(
            (*status).into(),
            json!(TASKS.count(TASKS.query().eq("status", *status))?),
        );
    }
    let weeks = (period.from.until(period.to).map_or(0, |s| s.get_days()) + 1) as f64 / 7.0;
    Response::json(
        200,
        &json!({"from": period.from.to_string(), "to": period.to.to_string(),
                "completed": cycle_times.len(),
                "completed_per_week": (cycle_times.len() as f64 / weeks * 100.0).round() / 100.0,
                "completed_by_priority": by_priority,
                "cycle_time_hours": hours_summary(&mut cycle_times),
                "open": open, "overdue": TASKS.count(overdue(TASKS.query()))?}),
    )
}
