//! Files kept by the host for this module and tenant. Needs
//! [`crate::Capability::Files`].
//!
//! A file is named by the id [`put`] answers; store that id in a document. Files
//! are part of the call's unit of work: one put by a request that fails is gone too.
//! The host judges images and PDF by their content, and caps each file and each
//! tenant's total ([`crate::Error::QuotaExceeded`], answered as 402).

use std::collections::BTreeMap;

use crate::bindings::mosaic::platform::files as wit;
use crate::bindings::mosaic::platform::types::Error as HostError;
use crate::{Error, Result};

/// A stored file's details.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileInfo {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
}

impl From<wit::FileInfo> for FileInfo {
    fn from(f: wit::FileInfo) -> Self {
        Self {
            id: f.id,
            name: f.name,
            content_type: f.content_type,
            size: f.size,
            sha256: f.sha256,
            created_at: f.created_at,
        }
    }
}

/// One page of [`list`].
#[derive(Debug, Clone)]
pub struct FilePage {
    pub items: Vec<FileInfo>,
    /// Pass to the next [`list`] call; none on the last page.
    pub next_cursor: Option<String>,
}

/// Stores `content` as a new file named `name` (for display: never a path). A name
/// or content type the host refuses, or content that is not the image or PDF it
/// claims to be, is [`Error::Invalid`] on the field `file` (a 422 with the
/// host's reason): these usually come from the user's upload.
pub fn put(name: &str, content_type: &str, content: &[u8]) -> Result<FileInfo> {
    match wit::put(name, content_type, content) {
        Ok(info) => Ok(info.into()),
        Err(HostError::Invalid(why)) => Err(Error::Invalid(BTreeMap::from([("file".into(), why)]))),
        Err(other) => Err(other.into()),
    }
}

/// The file's details and content; none if this module has no such file here.
pub fn get(id: &str) -> Result<Option<(FileInfo, Vec<u8>)>> {
    Ok(wit::get(id)?.map(|f| (f.info.into(), f.content)))
}

/// The file's details, without its content.
pub fn stat(id: &str) -> Result<Option<FileInfo>> {
    Ok(wit::stat(id)?.map(Into::into))
}

/// False when there was no such file.
pub fn delete(id: &str) -> Result<bool> {
    Ok(wit::delete(id)?)
}

/// This module's files, oldest first, `limit` (1 to 100) at a time.
pub fn list(limit: u32, cursor: Option<&str>) -> Result<FilePage> {
    let page = wit::list(limit, cursor)?;
    Ok(FilePage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    })
}
