//! Files attached to a task, kept by the host's `files`: the request body is the
//! file (`POST /{id}/attachments?name=plan.pdf` with its `Content-Type`).

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection, Index};
use mosaic_sdk::{files, identity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::activity::{self, Change};
use crate::actor;
use crate::task::fetch;

pub const ATTACHMENTS: Collection =
    store::collection("attachments").indexes(&[Index::on(&["task_id"])]);

/// The most one attachment holds (the host's request limit may be lower).
pub const MAX_BYTES: usize = 5 << 20;
/// What a task takes: images, PDF and plain documents. The host judges images and
/// PDF by their content, so the stored type is checked, not the declared one.
const TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "text/markdown",
];

#[derive(Serialize, Deserialize)]
struct Attachment {
    task_id: String,
    file_id: String,
    name: String,
    content_type: String,
    size: u64,
    sha256: String,
    uploaded_by: String,
}

pub fn list(req: &Request) -> Result<Response> {
    let id = req.param("id");
    fetch(id)?;
    let query = ATTACHMENTS.query().eq("task_id", id).paged(req)?;
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

pub fn upload(req: &Request) -> Result<Response> {
    let me = actor()?;
    let id = req.param("id");
    fetch(id)?;
    let name = req
        .query("name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid_field("name", "is required (?name=file.pdf)"))?;
    if name.chars().count() > 200
        || name.contains(['"', '/', '\\'])
        || name.chars().any(char::is_control)
        || name.starts_with('.')
    {
        return Err(Error::invalid_field(
            "name",
            "must be a file name of at most 200 characters, without quotes, slashes or control characters, not starting with a dot",
        ));
    }
    if req.body.is_empty() {
        return Err(Error::invalid_field(
            "file",
            "the request body (the file) is empty",
        ));
    }
    if req.body.len() > MAX_BYTES {
        return Err(Error::invalid_field(
            "file",
            &format!("is {} bytes; the most is {MAX_BYTES}", req.body.len()),
        ));
    }
    let declared = req
        .header("content-type")
        .unwrap_or("application/octet-stream");
    let info = files::put(name, declared, &req.body)?;
    let essence = info
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if !TYPES.contains(&essence) {
        // Refusing fails the request, and the put with it.
        return Err(Error::invalid_field(
            "file",
            &format!(
                "{essence} is not accepted; send one of {}",
                TYPES.join(", ")
            ),
        ));
    }
    let attachment = Attachment {
        task_id: id.to_owned(),
        file_id: info.id,
        name: info.name,
        content_type: info.content_type,
        size: info.size,
        sha256: info.sha256,
        uploaded_by: me.user_id.clone(),
    };
    let doc = ATTACHMENTS.insert(&attachment)?;
    activity::record(
        id,
        &me,
        "attachment_added",
        Change::of("attachment", Value::Null, json!(attachment.name)),
    )?;
    Ok(Response::raw_json(201, doc.to_json()))
}

pub fn download(req: &Request) -> Result<Response> {
    let (_, attachment) = find(req)?;
    let (info, content) = files::get(&attachment.file_id)?
        .ok_or_else(|| Error::Internal(format!("file {} is missing", attachment.file_id)))?;
    Ok(Response::bytes(200, &info.content_type, content)
        .with_header(
            "content-disposition",
            format!("attachment; filename=\"{}\"", attachment.name),
        )
        .with_header("x-content-type-options", "nosniff"))
}

pub fn remove(req: &Request) -> Result<Response> {
    let me = actor()?;
    let (doc, attachment) = find(req)?;
    if attachment.uploaded_by != me.user_id && !identity::has_role(Role::Manager) {
        return Err(Error::Forbidden(
            "Only its uploader or a manager removes an attachment".into(),
        ));
    }
    ATTACHMENTS.delete(&doc.id, Some(doc.version))?;
    files::delete(&attachment.file_id)?;
    activity::record(
        &attachment.task_id,
        &me,
        "attachment_removed",
        Change::of("attachment", json!(attachment.name), Value::Null),
    )?;
    Ok(Response::no_content())
}

fn find(req: &Request) -> Result<(store::Document, Attachment)> {
    let wanted = req.param("attachment_id");
    let not_found = || Error::NotFound(format!("Attachment {wanted} not found"));
    let doc = ATTACHMENTS.get(wanted)?.ok_or_else(not_found)?;
    let attachment: Attachment = doc.parse()?;
    if attachment.task_id != req.param("id") {
        return Err(not_found());
    }
    Ok((doc, attachment))
}
