//! `events`: emitted events go to the outbox in the unit of work.

use super::internal;
use crate::runtime::CallContext;
use crate::runtime::types::{Capability, HostError};
use crate::store::{now_ms, outbox::OutboxEvent};

/// Event data is capped like a document.
const MAX_DATA_BYTES: usize = 1 << 20;
/// A subject names a thing (`employee:42`), it does not carry one.
const MAX_SUBJECT_BYTES: usize = 200;
/// Events one request may emit, its nested calls included.
const MAX_PER_REQUEST: usize = 1000;

pub async fn emit(
    ctx: &CallContext,
    kind: &str,
    subject: Option<&str>,
    data: &str,
) -> Result<(), HostError> {
    ctx.require(Capability::Events, "emitting events")?;
    if data.len() > MAX_DATA_BYTES {
        return Err(HostError::Invalid(format!(
            "event data is {} bytes; the limit is {MAX_DATA_BYTES}",
            data.len()
        )));
    }
    if subject.is_some_and(|s| s.len() > MAX_SUBJECT_BYTES) {
        return Err(HostError::Invalid(format!(
            "an event subject is at most {MAX_SUBJECT_BYTES} bytes"
        )));
    }
    let kind_ok = !kind.is_empty()
        && kind.len() <= 100
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !kind_ok {
        return Err(HostError::Invalid(format!("invalid event kind {kind:?}")));
    }
    if !matches!(serde_json::from_str(data), Ok(serde_json::Value::Object(_))) {
        return Err(HostError::Invalid(
            "event data must be a JSON object".into(),
        ));
    }
    if ctx.uow.count_event() > MAX_PER_REQUEST {
        return Err(HostError::Invalid(format!(
            "a request may emit at most {MAX_PER_REQUEST} events"
        )));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let event = OutboxEvent {
        tenant_id: &ctx.tenant.tenant.id,
        id: &id,
        source: &ctx.module.key,
        kind,
        subject,
        data,
        occurred_at: now_ms(),
    };
    match ctx.uow.write(async |conn| event.insert(conn).await).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) | Err(e) => Err(internal(ctx, &e)),
    }
}
