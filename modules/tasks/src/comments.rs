//! Comments on a task: anyone of the tenant comments, only the author edits, the
//! author or a manager deletes.

use mosaic_sdk::input::{Field, Fields};
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection, Index};
use mosaic_sdk::time::now_ms;
use mosaic_sdk::{events, identity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::activity::{self, Change};
use crate::actor;
use crate::task::{Task, fetch, summary};

pub const COMMENTS: Collection = store::collection("comments").indexes(&[Index::on(&["task_id"])]);

#[derive(Serialize, Deserialize)]
struct Comment {
    task_id: String,
    author_id: String,
    author_email: Option<String>,
    body: String,
    edited_at: Option<u64>,
}

#[derive(Deserialize)]
struct Body {
    body: String,
}

const BODY: Fields = Fields::new(&[Field::text("body", 1, 5000).required()]);

/// Oldest first.
pub fn list(req: &Request) -> Result<Response> {
    let id = req.param("id");
    fetch(id)?;
    let query = COMMENTS.query().eq("task_id", id).paged(req)?;
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

pub fn create(req: &Request) -> Result<Response> {
    let me = actor()?;
    let id = req.param("id");
    let task: Task = fetch(id)?.parse()?;
    let Body { body } = BODY.create(req)?;
    let comment = Comment {
        task_id: id.to_owned(),
        author_id: me.user_id.clone(),
        author_email: me.email.clone(),
        body,
        edited_at: None,
    };
    let doc = COMMENTS.insert(&comment)?;
    activity::record(
        id,
        &me,
        "commented",
        Change::of("comment", Value::Null, json!(doc.id)),
    )?;
    let mut data = summary(id, &task);
    data["comment_id"] = json!(doc.id);
    data["author_id"] = json!(me.user_id);
    events::emit("task.commented", Some(id), &data)?;
    Ok(Response::raw_json(201, doc.to_json()))
}

pub fn update(req: &Request) -> Result<Response> {
    let me = actor()?;
    let (doc, mut comment) = find(req)?;
    if comment.author_id != me.user_id {
        return Err(Error::Forbidden("Only its author edits a comment".into()));
    }
    let Body { body } = BODY.create(req)?;
    let before = std::mem::replace(&mut comment.body, body);
    comment.edited_at = Some(now_ms());
    let saved = COMMENTS.update(&doc.id, Some(doc.version), &comment)?;
    activity::record(
        &comment.task_id,
        &me,
        "comment_edited",
        Change::of("comment_body", json!(before), json!(comment.body)),
    )?;
    Ok(Response::raw_json(200, saved.to_json()))
}

pub fn remove(req: &Request) -> Result<Response> {
    let me = actor()?;
    let (doc, comment) = find(req)?;
    if comment.author_id != me.user_id && !identity::has_role(Role::Manager) {
        return Err(Error::Forbidden(
            "Only its author or a manager deletes a comment".into(),
        ));
    }
    COMMENTS.delete(&doc.id, Some(doc.version))?;
    activity::record(
        &comment.task_id,
        &me,
        "comment_deleted",
        Change::of("comment", json!(doc.id), Value::Null),
    )?;
    Ok(Response::no_content())
}

/// The comment of the route, if it is one of the route's task.
fn find(req: &Request) -> Result<(store::Document, Comment)> {
    let not_found = || Error::NotFound(format!("Comment {} not found", req.param("comment_id")));
    let doc = COMMENTS
        .get(req.param("comment_id"))?
        .ok_or_else(not_found)?;
    let comment: Comment = doc.parse()?;
    if comment.task_id != req.param("id") {
        return Err(not_found());
    }
    Ok((doc, comment))
}
