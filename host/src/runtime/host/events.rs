//! `events`: emitted events go to the outbox in the unit of work.

use super::internal;
use crate::runtime::CallContext;
use crate::runtime::registry::is_event_kind;
use crate::runtime::types::{Capability, HostError};
use crate::store::{events::OutboxEvent, now_ms};

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
    if !is_event_kind(kind) {
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
    // Subscribers enabled for the tenant now get the event; one enabled later does not.
    // ... in the version the tenant runs (a pin may hold it back).
    let subscribed: Vec<_> = ctx
        .runtime
        .modules()
        .iter()
        .filter_map(|m| ctx.runtime.gate(&ctx.tenant, &m.key))
        .filter(|m| m.subscribes_to(kind))
        .collect();
    let subscribers: Vec<&str> = subscribed.iter().map(|m| m.key.as_str()).collect();
    let dialect = ctx.uow.main_db().dialect;
    let written = ctx
        .uow
        .write(async |conn| event.insert(conn, dialect, &subscribers).await)
        .await;
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) | Err(e) => Err(internal(ctx, &e)),
    }
}
