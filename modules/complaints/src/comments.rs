//! Comments on a ticket. Internal notes are managers' only: written and read by them.

use mosaic_sdk::input::{Field, Fields};
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection, Index};
use mosaic_sdk::{events, identity};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::is_manager;
use crate::tickets::{summary, tell_assignee, tell_submitter, visible};

pub const COMMENTS: Collection =
    store::collection("comments").indexes(&[Index::on(&["ticket_id", "internal"])]);

#[derive(Serialize, Deserialize)]
struct Comment {
    ticket_id: String,
    author_id: String,
    author_email: Option<String>,
    body: String,
    internal: bool,
}

#[derive(Deserialize)]
struct NewComment {
    body: String,
    internal: Option<bool>,
}

const NEW_COMMENT: Fields = Fields::new(&[
    Field::text("body", 1, 5000).required(),
    Field::boolean("internal"),
]);

/// Oldest first; members do not see internal notes.
pub fn list(req: &Request) -> Result<Response> {
    let id = req.param("id");
    visible(id)?;
    let mut query = COMMENTS.query().eq("ticket_id", id).paged(req)?;
    if !is_manager() {
        query = query.eq("internal", false);
    }
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

pub fn create(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let (_, ticket) = visible(id)?;
    let caller = identity::require_caller()?;
    let NewComment { body, internal } = NEW_COMMENT.create(req)?;
    let internal = internal.unwrap_or(false);
    if internal && !is_manager() {
        return Err(Error::Forbidden("Internal notes are for managers".into()));
    }
    let comment = Comment {
        ticket_id: id.to_owned(),
        author_id: caller.user_id.clone(),
        author_email: caller.email.map(|e| e.to_lowercase()),
        body,
        internal,
    };
    let doc = COMMENTS.insert(&comment)?;
    let mut data = summary(id, &ticket);
    data["comment_id"] = json!(doc.id);
    data["internal"] = json!(internal);
    events::emit("complaint.commented", Some(id), &data)?;
    let subject = format!("New comment: {}", ticket.title);
    if !internal {
        tell_submitter(&ticket, &subject)?;
    }
    tell_assignee(&ticket, &subject)?;
    Ok(Response::raw_json(201, doc.to_json()))
}
