//! The kanban board and the overdue list.

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Document, Query};
use serde_json::json;

use crate::task::{STATUSES, TASKS, Task, overdue as past_due};

/// Cards per column by default, and at most.
const DEFAULT_CARDS: u32 = 50;
const MAX_CARDS: u32 = 200;

/// One column per status, most urgent first, each with its full count. Filters:
/// `assignee_id`, `team_id`, `label`; `?limit=` cards per column.
pub fn kanban(req: &Request) -> Result<Response> {
    let cards = req
        .query_u32("limit")?
        .unwrap_or(DEFAULT_CARDS)
        .clamp(1, MAX_CARDS) as usize;
    let label = req.query("label");
    let mut columns = Vec::with_capacity(STATUSES.len());
    let mut total = 0;
    for status in STATUSES {
        let mut query = TASKS
            .query()
            .eq("status", *status)
            .order_by("priority_rank", false);
        for field in ["assignee_id", "team_id"] {
            if let Some(id) = req.query(field) {
                query = query.eq(field, id);
            }
        }
        let (count, items) = match label {
            None => (
                TASKS.count(query.clone())? as usize,
                query.limit(cards as u32).fetch()?.items,
            ),
            // Labels are a list, which the store does not filter on: the column is
            // read through and counted here.
            Some(label) => labelled(query, label, cards)?,
        };
        total += count;
        columns.push(format!(
            "{{\"status\":\"{status}\",\"count\":{count},\"items\":{}}}",
            store::to_json_array(&items)
        ));
    }
    let filters = json!({"assignee_id": req.query("assignee_id"),
                         "team_id": req.query("team_id"), "label": label});
    Ok(Response::raw_json(
        200,
        format!(
            "{{\"total\":{total},\"filters\":{filters},\"columns\":[{}]}}",
            columns.join(",")
        ),
    ))
}

/// How many tasks of `query` have `label`, and the first `cards` of them.
fn labelled(query: Query, label: &str, cards: usize) -> Result<(usize, Vec<Document>)> {
    let (mut count, mut items) = (0, Vec::new());
    let mut cursor = None;
    loop {
        let page = query.clone().limit(500).cursor(cursor.as_deref()).fetch()?;
        for doc in page.items {
            if doc.parse::<Task>()?.labels.iter().any(|l| l == label) {
                count += 1;
                if items.len() < cards {
                    items.push(doc);
                }
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((count, items)),
        }
    }
}

/// Tasks past their due date and not done, the longest overdue first.
pub fn overdue(req: &Request) -> Result<Response> {
    let query = past_due(TASKS.query())
        .order_by("due_date", false)
        .paged(req)?;
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}
