//! A task's history: who changed what, when, with each field before and after.

use std::collections::BTreeMap;

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection, Index};
use mosaic_sdk::time::now_ms;
use serde::Serialize;
use serde_json::{Value, json};

use crate::Actor;
use crate::task::{Task, fetch};

pub const ACTIVITY: Collection =
    store::collection("activity").indexes(&[Index::on(&["task_id", "at"])]);

/// Fields that changed, each `{"before", "after"}`.
#[derive(Serialize)]
pub struct Change(BTreeMap<String, Value>);

impl Change {
    pub fn none() -> Self {
        Self(BTreeMap::new())
    }

    /// One field's change.
    pub fn of(field: &str, before: Value, after: Value) -> Self {
        Self(BTreeMap::from([(
            field.to_owned(),
            json!({"before": before, "after": after}),
        )]))
    }

    /// The fields of `after` that differ from `before`.
    pub fn between(before: &Task, after: &Task) -> Result<Self> {
        let as_map = |task: &Task| match serde_json::to_value(task) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(Error::Internal("a task is not an object".into())),
        };
        let (before, after) = (as_map(before)?, as_map(after)?);
        Ok(Self(
            after
                .into_iter()
                .filter(|(field, _)| field != "priority_rank")
                .filter_map(|(field, value)| {
                    let old = before.get(&field).cloned().unwrap_or(Value::Null);
                    (old != value).then(|| (field, json!({"before": old, "after": value})))
                })
                .collect(),
        ))
    }
}

/// Records `action` on task `task_id` by `who`, with the request's other writes.
pub fn record(task_id: &str, who: &Actor, action: &str, changes: Change) -> Result<()> {
    ACTIVITY.insert(&json!({
        "task_id": task_id,
        "actor": who.user_id,
        "actor_email": who.email,
        "action": action,
        "changes": changes,
        "at": now_ms(),
    }))?;
    Ok(())
}

/// Oldest first; a deleted task's history too.
pub fn list(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let page = ACTIVITY
        .query()
        .eq("task_id", id)
        .order_by("at", false)
        .paged(req)?
        .fetch()?;
    if page.items.is_empty() && req.query("cursor").is_none() {
        // No history at all: no such task (this 404s).
        fetch(id)?;
    }
    Ok(Response::raw_json(200, page.to_json()))
}
