//! `mosaic:platform/events`: emitted events go to the outbox in the unit of work.

use super::{HostState, internal};
use crate::runtime::bindings::mosaic::platform::events::Host;
use crate::runtime::bindings::{Capability, HostError};
use crate::store::{now_ms, outbox::OutboxEvent};

impl Host for HostState {
    async fn emit(
        &mut self,
        kind: String,
        subject: Option<String>,
        data: String,
    ) -> wasmtime::Result<Result<(), HostError>> {
        let ctx = self.ctx()?;
        if !ctx.module.has_capability(Capability::Events) {
            return Ok(Err(HostError::Forbidden(
                "emitting events needs the `events` capability in the manifest".into(),
            )));
        }
        let kind_ok = !kind.is_empty()
            && kind.len() <= 100
            && kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !kind_ok {
            return Ok(Err(HostError::Invalid(format!(
                "invalid event kind {kind:?}"
            ))));
        }
        if !matches!(
            serde_json::from_str(&data),
            Ok(serde_json::Value::Object(_))
        ) {
            return Ok(Err(HostError::Invalid(
                "event data must be a JSON object".into(),
            )));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let event = OutboxEvent {
            tenant_id: &ctx.tenant.tenant.id,
            id: &id,
            source: &ctx.module.key,
            kind: &kind,
            subject: subject.as_deref(),
            data: &data,
            occurred_at: now_ms(),
        };
        let result = ctx.uow.write(async |conn| event.insert(conn).await).await;
        Ok(match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) | Err(e) => Err(internal(ctx, &e)),
        })
    }
}
