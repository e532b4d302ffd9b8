//! Tasks themselves: create, read, change (the status along its flow), delete.

use std::collections::BTreeMap;

use mosaic_sdk::input::{self, Field, Fields, one_of};
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Batch, Collection, Document, Index, Op};
use mosaic_sdk::time::{self, now_ms};
use mosaic_sdk::{events, files, identity, modules};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::activity::{self, Change};
use crate::attachments::ATTACHMENTS;
use crate::comments::COMMENTS;
use crate::{Actor, actor, require_team};

pub const TASKS: Collection = store::collection("tasks").indexes(&[
    Index::on(&["status", "priority_rank"]),
    Index::on(&["assignee_id"]),
    Index::on(&["team_id"]),
    Index::on(&["due_date"]),
    Index::on(&["done_at"]),
]);

pub const STATUSES: &[&str] = &["TODO", "IN_PROGRESS", "REVIEW", "DONE"];
pub const PRIORITIES: &[&str] = &["URGENT", "HIGH", "MEDIUM", "LOW"];
const MAX_LABELS: usize = 20;

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub title: String,
    pub description: Option<String>,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
    pub priority: String,
    /// URGENT 0 to LOW 3: boards list the most urgent first.
    pub priority_rank: i64,
    pub status: String,
    pub due_date: Option<String>,
    pub labels: Vec<String>,
    pub created_by: String,
    /// When the task moved to DONE; tasks done before this was kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<u64>,
}

/// What a client may write; `labels` (a list) and `status` (a move along the flow)
/// are checked apart.
const TASK: Fields = Fields::new(&[
    Field::text("title", 1, 200).required(),
    Field::text("description", 0, 10_000).optional(),
    Field::text("assignee_id", 0, 200).optional(),
    Field::text("team_id", 0, 200).optional(),
    Field::choice("priority", PRIORITIES).or("MEDIUM"),
    Field::date("due_date").optional(),
]);

/// The moves the status flow allows from `status`.
pub fn moves_from(status: &str) -> &'static [&'static str] {
    match status {
        "TODO" => &["IN_PROGRESS"],
        "IN_PROGRESS" => &["REVIEW"],
        "REVIEW" => &["DONE", "IN_PROGRESS"],
        _ => &[],
    }
}

/// Filters: `status`, `assignee_id`, `team_id`, `priority`, `overdue=true`.
pub fn list(req: &Request) -> Result<Response> {
    let mut query = TASKS.query().paged(req)?;
    if let Some(status) = req.query("status") {
        query = query.eq("status", one_of("status", status, STATUSES)?);
    }
    if let Some(priority) = req.query("priority") {
        query = query.eq("priority", one_of("priority", priority, PRIORITIES)?);
    }
    for field in ["assignee_id", "team_id"] {
        if let Some(id) = req.query(field) {
            query = query.eq(field, id);
        }
    }
    match req.query("overdue") {
        None | Some("false") => {}
        Some("true") => query = overdue(query),
        Some(_) => return Err(Error::invalid_field("overdue", "must be true or false")),
    }
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

/// Narrows `query` to tasks past their due date (in the tenant's zone) and not done.
pub fn overdue(query: store::Query) -> store::Query {
    let today = time::date_at(now_ms(), &time::tenant_zone()).to_string();
    query
        .filter("due_date", Op::Lt, today)
        .filter("status", Op::Ne, "DONE")
}

pub fn create(req: &Request) -> Result<Response> {
    let me = actor()?;
    let mut input: Map<String, Value> = req.json()?;
    if input.contains_key("status") {
        return Err(Error::invalid_field(
            "status",
            "a new task is TODO; move it with PATCH",
        ));
    }
    let labels = take_labels(&mut input)?;
    let blank = json!({"description": null, "assignee_id": null, "team_id": null,
                       "due_date": null, "priority": "MEDIUM", "priority_rank": 2,
                       "status": "TODO", "labels": [], "created_by": me.user_id});
    let mut task: Task = TASK.update_with(&blank, input)?;
    task.labels = labels.unwrap_or_default();
    task.priority_rank = rank(&task.priority);
    check_links(&task, None)?;
    let doc = TASKS.insert(&task)?;
    activity::record(&doc.id, &me, "created", Change::none())?;
    events::emit("task.created", Some(&doc.id), &summary(&doc.id, &task))?;
    if task.assignee_id.is_some() {
        events::emit("task.assigned", Some(&doc.id), &summary(&doc.id, &task))?;
    }
    Ok(Response::raw_json(201, doc.to_json()))
}

pub fn show(req: &Request) -> Result<Response> {
    Ok(Response::raw_json(200, fetch(req.param("id"))?.to_json()))
}

/// Changes any field; `status` only along the flow (409 naming the allowed moves).
/// Managers change any task, members the ones they created or are assigned.
pub fn update(req: &Request) -> Result<Response> {
    let me = actor()?;
    let id = req.param("id");
    let doc = fetch(id)?;
    let before: Task = doc.parse()?;
    may_change(&me, &before)?;
    let mut input: Map<String, Value> = req.json()?;
    let expected = input::take_version(&mut input, doc.version)?;
    let status = match input.remove("status") {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(Error::invalid_field("status", "must be a string")),
    };
    let labels = take_labels(&mut input)?;
    let mut after: Task = TASK.update_with(&before, input)?;
    after.priority_rank = rank(&after.priority);
    if let Some(labels) = labels {
        after.labels = labels;
    }
    if let Some(status) = status
        && status != before.status
    {
        one_of("status", &status, STATUSES)?;
        let allowed = moves_from(&before.status);
        if !allowed.contains(&status.as_str()) {
            return Err(Error::Conflict(format!(
                "A {} task cannot move to {status}; allowed: {}",
                before.status,
                if allowed.is_empty() {
                    "none (it is done)".to_owned()
                } else {
                    allowed.join(", ")
                }
            )));
        }
        if status == "DONE" {
            after.done_at = Some(now_ms());
        }
        after.status = status;
    }
    check_links(&after, Some(&before))?;
    if after == before {
        return Ok(Response::raw_json(200, doc.to_json()));
    }
    let saved = TASKS.update(id, Some(expected), &after)?;
    let changes = Change::between(&before, &after)?;
    activity::record(id, &me, "updated", changes)?;
    announce_changes(id, &before, &after)?;
    Ok(Response::raw_json(200, saved.to_json()))
}

/// Deletes the task with its comments and attachments; its history stays.
pub fn remove(req: &Request) -> Result<Response> {
    let me = actor()?;
    let id = req.param("id");
    let doc = fetch(id)?;
    let task: Task = doc.parse()?;
    let mut batch = Batch::new().delete(TASKS, id, Some(doc.version));
    for comment in all_of(COMMENTS, id)? {
        batch = batch.delete(COMMENTS, &comment.id, None);
    }
    for attachment in all_of(ATTACHMENTS, id)? {
        let file: Value = attachment.parse()?;
        if let Some(file_id) = file["file_id"].as_str() {
            files::delete(file_id)?;
        }
        batch = batch.delete(ATTACHMENTS, &attachment.id, None);
    }
    batch.commit()?;
    activity::record(id, &me, "deleted", Change::none())?;
    events::emit("task.deleted", Some(id), &summary(id, &task))?;
    Ok(Response::no_content())
}

pub fn fetch(id: &str) -> Result<Document> {
    TASKS.fetch(id, "Task")
}

/// Every document of `collection` about task `task_id`.
pub fn all_of(collection: Collection, task_id: &str) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    collection
        .query()
        .eq("task_id", task_id)
        .limit(500)
        .each(|doc| {
            docs.push(doc.clone());
            Ok(())
        })?;
    Ok(docs)
}

/// 403 unless the caller is a manager, the task's creator or its assignee.
fn may_change(me: &Actor, task: &Task) -> Result<()> {
    if identity::has_role(Role::Manager) || task.created_by == me.user_id {
        return Ok(());
    }
    if let (Some(assignee), Some(email)) = (&task.assignee_id, &me.email) {
        #[derive(Deserialize)]
        struct Employee {
            email: String,
        }
        let found = modules::employee::<Employee>(assignee)?;
        if found.is_some_and(|e| e.email.eq_ignore_ascii_case(email)) {
            return Ok(());
        }
    }
    Err(Error::Forbidden(
        "Only managers, the task's creator and its assignee change a task".into(),
    ))
}

/// The assignee must be an active employee and the team a team, when they are new.
fn check_links(task: &Task, before: Option<&Task>) -> Result<()> {
    let mut problems = BTreeMap::new();
    let mut gather = |check: Result<()>| match check {
        Err(Error::Invalid(found)) => {
            problems.extend(found);
            Ok(())
        }
        other => other,
    };
    if let Some(assignee) = &task.assignee_id
        && before.is_none_or(|b| b.assignee_id.as_ref() != Some(assignee))
    {
        gather(modules::require_active_employee("assignee_id", assignee))?;
    }
    if let Some(team) = &task.team_id
        && before.is_none_or(|b| b.team_id.as_ref() != Some(team))
    {
        gather(require_team(team))?;
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(problems))
    }
}

/// `labels` taken out of the body: distinct, trimmed texts of 1 to 50 characters.
fn take_labels(input: &mut Map<String, Value>) -> Result<Option<Vec<String>>> {
    let Some(value) = input.remove("labels") else {
        return Ok(None);
    };
    let invalid = || {
        Error::invalid_field(
            "labels",
            "must be a list of up to 20 labels of 1 to 50 characters",
        )
    };
    let labels: Vec<String> = serde_json::from_value(value).map_err(|_| invalid())?;
    let mut distinct: Vec<String> = Vec::new();
    for label in labels {
        let label = label.trim().to_owned();
        if label.is_empty() || label.chars().count() > 50 || label.chars().any(char::is_control) {
            return Err(invalid());
        }
        if !distinct.contains(&label) {
            distinct.push(label);
        }
    }
    if distinct.len() > MAX_LABELS {
        return Err(invalid());
    }
    Ok(Some(distinct))
}

fn rank(priority: &str) -> i64 {
    PRIORITIES
        .iter()
        .position(|p| *p == priority)
        .map_or(2, |i| i as i64)
}

/// What events about a task carry.
pub fn summary(id: &str, task: &Task) -> Value {
    json!({"task_id": id, "title": task.title, "assignee_id": task.assignee_id,
           "team_id": task.team_id, "status": task.status, "priority": task.priority,
           "due_date": task.due_date})
}

fn announce_changes(id: &str, before: &Task, after: &Task) -> Result<()> {
    events::emit("task.updated", Some(id), &summary(id, after))?;
    if after.assignee_id.is_some() && after.assignee_id != before.assignee_id {
        events::emit("task.assigned", Some(id), &summary(id, after))?;
    }
    if after.status != before.status {
        let mut data = summary(id, after);
        data["from"] = json!(before.status);
        data["to"] = json!(after.status);
        events::emit("task.status_changed", Some(id), &data)?;
    }
    Ok(())
}
