//! `files`: files scoped to the calling (tenant, module), stored in the tenant's
//! module data with the call's unit of work. A module names a file only by the id
//! the host gave it; no path or storage detail crosses the boundary.

use super::internal;
use crate::runtime::CallContext;
use crate::runtime::types::{Capability, HostError};
use crate::store::files::{self as stored, FileInfo};
use crate::store::records::Scope;
use crate::store::{Dialect, advisory_key, now_ms};

/// The longest file name, in bytes.
const MAX_NAME_BYTES: usize = 255;
/// The longest content type, in bytes.
const MAX_CONTENT_TYPE_BYTES: usize = 127;
/// The most files one `list` answers.
const MAX_PAGE: u32 = 100;

pub async fn put(
    ctx: &CallContext,
    name: &str,
    content_type: &str,
    content: Vec<u8>,
) -> Result<FileInfo, HostError> {
    ctx.require(Capability::Files, "files")?;
    check_name(name)?;
    let content_type = judge_content_type(content_type, &content)?;
    let limits = ctx.runtime.limits();
    if content.len() > limits.max_file_bytes {
        return Err(HostError::QuotaExceeded(format!(
            "the file is {} bytes; the most is {}",
            content.len(),
            limits.max_file_bytes
        )));
    }
    let size = i64::try_from(content.len()).unwrap_or(i64::MAX);
    let file = FileInfo {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_owned(),
        content_type,
        size,
        sha256: sha256_hex(&content),
        created_at: now_ms(),
    };
    // The host's cap, or the plan's storage limit if lower.
    let plan_cap = ctx
        .tenant
        .plan
        .as_ref()
        .and_then(|p| p.limits.max_storage_bytes);
    let cap = i64::try_from(limits.tenant_file_bytes)
        .unwrap_or(i64::MAX)
        .min(plan_cap.unwrap_or(i64::MAX));
    let scope = scope(ctx);
    let dialect = ctx.uow.main_db().dialect;
    let result = ctx
        .uow
        .write(async |conn| {
            if dialect == Dialect::Postgres {
                // Puts of one tenant take turns, so two of them cannot both fit
                // under the cap that only one fits under.
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(advisory_key(&["files", scope.tenant_id]))
                    .execute(&mut *conn)
                    .await?;
            }
            let total = stored::tenant_total(conn, scope.tenant_id).await?;
            if total.saturating_add(size) > cap {
                return Ok(Err(HostError::QuotaExceeded(format!(
                    "the tenant keeps {total} bytes of files; this one ({size} bytes) would pass its {cap}"
                ))));
            }
            stored::insert(conn, scope, &file, &content).await?;
            Ok(Ok(()))
        })
        .await;
    match result {
        Ok(Ok(Ok(()))) => Ok(file),
        Ok(Ok(Err(refused))) => Err(refused),
        Ok(Err(err)) | Err(err) => Err(internal(ctx, &err)),
    }
}

pub async fn get(ctx: &CallContext, id: &str) -> Result<Option<(FileInfo, Vec<u8>)>, HostError> {
    ctx.require(Capability::Files, "files")?;
    let scope = scope(ctx);
    let result = ctx
        .uow
        .read(async |conn| stored::get(conn, scope, id).await)
        .await;
    flatten(ctx, result)
}

pub async fn stat(ctx: &CallContext, id: &str) -> Result<Option<FileInfo>, HostError> {
    ctx.require(Capability::Files, "files")?;
    let scope = scope(ctx);
    let result = ctx
        .uow
        .read(async |conn| stored::stat(conn, scope, id).await)
        .await;
    flatten(ctx, result)
}

pub async fn delete(ctx: &CallContext, id: &str) -> Result<bool, HostError> {
    ctx.require(Capability::Files, "files")?;
    let scope = scope(ctx);
    let result = ctx
        .uow
        .write(async |conn| stored::delete(conn, scope, id).await)
        .await;
    flatten(ctx, result)
}

/// One page of the module's files, oldest first.
pub struct FilePage {
    pub items: Vec<FileInfo>,
    pub next_cursor: Option<String>,
}

pub async fn list(
    ctx: &CallContext,
    limit: u32,
    cursor: Option<&str>,
) -> Result<FilePage, HostError> {
    ctx.require(Capability::Files, "files")?;
    let limit = limit.clamp(1, MAX_PAGE);
    let scope = scope(ctx);
    // One more than asked tells whether there is a next page.
    let result = ctx
        .uow
        .read(async |conn| stored::list(conn, scope, cursor, limit + 1).await)
        .await;
    let mut items = flatten(ctx, result)?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|f| f.id.clone())
    } else {
        None
    };
    Ok(FilePage { items, next_cursor })
}

fn scope(ctx: &CallContext) -> Scope<'_> {
    Scope {
        tenant_id: &ctx.tenant.tenant.id,
        module: &ctx.module.key,
    }
}

fn flatten<T>(
    ctx: &CallContext,
    result: Result<Result<T, sqlx::Error>, sqlx::Error>,
) -> Result<T, HostError> {
    result.and_then(|r| r).map_err(|err| internal(ctx, &err))
}

/// A name for display and downloads: never a path, never a control character.
fn check_name(name: &str) -> Result<(), HostError> {
    let refuse = |why: &str| Err(HostError::Invalid(format!("file name {why}")));
    if name.trim().is_empty() {
        return refuse("is empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return refuse(&format!("is longer than {MAX_NAME_BYTES} bytes"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return refuse("has a slash, a backslash or a control character");
    }
    if name == "." || name == ".." {
        return refuse("is a path component");
    }
    Ok(())
}

/// The content type to store. Images and PDF are judged by their content, whatever
/// the module declared; a declared image or PDF that the content is not is refused,
/// so a page can trust an `image/*` it serves from here to be one.
fn judge_content_type(declared: &str, content: &[u8]) -> Result<String, HostError> {
    let declared = declared.trim().to_ascii_lowercase();
    let essence = declared.split(';').next().unwrap_or_default().trim();
    let well_formed = declared.len() <= MAX_CONTENT_TYPE_BYTES
        && declared.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && essence.split_once('/').is_some_and(|(kind, sub)| {
            let token = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            token(kind) && token(sub)
        });
    if !well_formed {
        return Err(HostError::Invalid(format!(
            "content type {declared:?} is not of the form type/subtype"
        )));
    }
    let sniffed = infer::get(content)
        .map(|t| t.mime_type())
        .filter(|mime| is_judged(mime));
    match sniffed {
        Some(mime) => Ok(mime.to_owned()),
        None if is_judged(essence) => {
            Err(HostError::Invalid(format!("the content is not {essence}")))
        }
        None => Ok(declared),
    }
}

/// The types whose content the host checks.
fn is_judged(mime: &str) -> bool {
    mime.starts_with("image/") || mime == "application/pdf"
}

fn sha256_hex(content: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(content))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    #[test]
    fn images_and_pdf_are_judged_by_content() {
        assert_eq!(
            judge_content_type("text/plain", PNG).as_deref(),
            Ok("image/png")
        );
        assert_eq!(
            judge_content_type("application/pdf", b"%PDF-1.7\n").as_deref(),
            Ok("application/pdf")
        );
        assert!(judge_content_type("image/png", b"<script>alert(1)</script>").is_err());
        assert!(judge_content_type("image/svg+xml", b"<svg/>").is_err());
        assert_eq!(
            judge_content_type("Text/CSV; charset=utf-8", b"a,b\n").as_deref(),
            Ok("text/csv; charset=utf-8")
        );
        assert!(judge_content_type("nonsense", b"x").is_err());
        assert!(judge_content_type("text/\nplain", b"x").is_err());
    }

    #[test]
    fn names_are_never_paths() {
        assert!(check_name("report 2026.pdf").is_ok());
        for bad in ["", "  ", "../etc/passwd", "a\\b", "..", "a\nb"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(256)).is_err());
    }
}
