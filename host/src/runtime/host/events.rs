//! `events`: emitted events go to the outbox in the unit of work.

use super::internal;
use crate::runtime::CallContext;
use crate::runtime::types::{Capability, HostError};
use crate::store::{now_ms, outbox::OutboxEvent};

pub async fn emit(
    ctx: &CallContext,
    kind: &str,
    subject: Option<&str>,
    data: &str,
) -> Result<(), HostError> {
    ctx.require(Capability::Events, "emitting events")?;
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
