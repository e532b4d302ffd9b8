//! `on-event`: one event delivered to one subscriber, as a system call (no caller)
//! in a unit of work of its own. The delivery is acknowledged in that unit of work
//! (and, on PostgreSQL, claimed in it first), so the subscriber's writes and the
//! acknowledgement commit together: a crash between them redelivers rather than
//! loses.

use std::sync::Arc;

use super::Runtime;
use super::call::{CallContext, Export};
use super::dispatch::DispatchError;
use super::slot::Instance;
use super::types::Event;
use crate::config::Limits;
use crate::store::events::{self, Due};
use crate::store::{Dialect, now_ms};
use crate::tenancy::TenantView;

/// `on-event`: `Err` is the subscriber asking to be tried again later.
pub struct OnEvent(pub Event);

impl Export for OnEvent {
    type Output = Result<(), String>;

    async fn call(self, instance: &mut Instance) -> wasmtime::Result<Self::Output> {
        instance
            .bindings
            .on_event(&mut instance.store, self.0)
            .await
    }

    fn check(output: Self::Output, _limits: &Limits) -> Result<Self::Output, DispatchError> {
        Ok(output)
    }

    fn keeps_writes(output: &Self::Output) -> bool {
        output.is_ok()
    }
}

/// What became of one delivery attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Handled; its writes and the acknowledgement are committed.
    Handled,
    /// The subscriber refused it, failed or ran out of a limit: to be retried.
    Failed(String),
    /// Not attempted: the subscriber is not enabled for the tenant, or another
    /// replica has the delivery.
    Skipped,
}

impl Runtime {
    /// Delivers `due` to its subscriber for `tenant`.
    pub async fn deliver(&self, tenant: Arc<TenantView>, due: &Due) -> Delivery {
        let Some(module) = self.gate(&tenant, &due.subscriber) else {
            return Delivery::Skipped;
        };
        let request_id: Arc<str> = format!("event:{}", due.event.id).into();
        let ctx = CallContext::outermost(self, tenant.clone(), module, None, request_id);
        let uow = ctx.uow.clone();
        let tenant_id = tenant.tenant.id.as_str();
        // On SQLite this process is the only deliverer and drains a tenant one
        // delivery at a time: nothing to claim, and a subscriber that only reads never
        // takes the tenant's writer.
        let claimed = match self.inner.db.dialect {
            Dialect::Postgres => {
                uow.write(async |conn| {
                    events::claim(conn, tenant_id, &due.subscriber, due.seq).await
                })
                .await
            }
            Dialect::Sqlite => Ok(Ok(true)),
        };
        match claimed {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                let _ = uow.finish(false).await;
                return Delivery::Skipped;
            }
            Ok(Err(err)) | Err(err) => {
                let _ = uow.finish(false).await;
                return Delivery::Failed(format!("claiming the delivery: {err}"));
            }
        }
        let event = Event {
            id: due.event.id.clone(),
            source: due.event.source.clone(),
            kind: due.event.kind.clone(),
            subject: due.event.subject.clone(),
            data: due.event.data.clone(),
            occurred_at: due.event.occurred_at,
        };
        let acknowledge = async |uow: &super::unit_of_work::UnitOfWork| {
            uow.write(async |conn| {
                events::acknowledge(conn, tenant_id, &due.subscriber, due.seq, now_ms()).await
            })
            .await?
        };
        match self.run_unit_then(ctx, OnEvent(event), acknowledge).await {
            Ok(Ok(())) => Delivery::Handled,
            Ok(Err(refusal)) => Delivery::Failed(format!("the subscriber answered: {refusal}")),
            Err(err) => Delivery::Failed(err.to_string()),
        }
    }
}
