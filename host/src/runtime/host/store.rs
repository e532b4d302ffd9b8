//! `store`: documents scoped to the calling (tenant, module).

use sqlx::AnyConnection;

use super::internal;
use crate::runtime::CallContext;
use crate::runtime::types::HostError;
use crate::store::records::{self, Document, Filter, Page, Scope, Selection, StoreError};

pub struct InsertOp {
    pub collection: String,
    pub id: Option<String>,
    pub data: String,
}

pub struct UpdateOp {
    pub collection: String,
    pub id: String,
    pub expected_version: Option<i64>,
    pub data: String,
}

pub struct DeleteOp {
    pub collection: String,
    pub id: String,
    pub expected_version: Option<i64>,
}

/// One write of an atomic batch.
pub enum Write {
    Insert(InsertOp),
    Update(UpdateOp),
    Delete(DeleteOp),
}

fn scope(ctx: &CallContext) -> Scope<'_> {
    Scope {
        tenant_id: &ctx.tenant.tenant.id,
        module: &ctx.module.key,
    }
}

impl InsertOp {
    async fn apply(
        self,
        conn: &mut AnyConnection,
        ctx: &CallContext,
    ) -> records::StoreResult<Document> {
        let records = ctx.uow.db().records();
        let indexes = &ctx.module.unique_indexes;
        records
            .insert(
                conn,
                scope(ctx),
                indexes,
                &self.collection,
                self.id,
                self.data,
            )
            .await
    }
}

impl UpdateOp {
    async fn apply(
        self,
        conn: &mut AnyConnection,
        ctx: &CallContext,
    ) -> records::StoreResult<Document> {
        let records = ctx.uow.db().records();
        let indexes = &ctx.module.unique_indexes;
        let (collection, id) = (&self.collection, &self.id);
        records
            .update(
                conn,
                scope(ctx),
                indexes,
                collection,
                id,
                self.expected_version,
                self.data,
            )
            .await
    }
}

impl DeleteOp {
    async fn apply(
        self,
        conn: &mut AnyConnection,
        ctx: &CallContext,
    ) -> records::StoreResult<bool> {
        let records = ctx.uow.db().records();
        let (collection, id) = (&self.collection, &self.id);
        records
            .delete(conn, scope(ctx), collection, id, self.expected_version)
            .await
    }
}

/// The guest's answer for a store result; database failures are logged, not leaked.
fn answer<T>(
    ctx: &CallContext,
    result: Result<Result<T, StoreError>, sqlx::Error>,
) -> Result<T, HostError> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(StoreError::NotFound)) => Err(HostError::NotFound),
        Ok(Err(StoreError::Conflict(m))) => Err(HostError::Conflict(m)),
        Ok(Err(StoreError::Invalid(m))) => Err(HostError::Invalid(m)),
        Ok(Err(StoreError::Db(e))) | Err(e) => Err(internal(ctx, &e)),
    }
}

pub async fn get(
    ctx: &CallContext,
    collection: &str,
    id: &str,
) -> Result<Option<Document>, HostError> {
    let records = ctx.uow.db().records();
    let result = ctx
        .uow
        .read(async |conn| records.get(conn, scope(ctx), collection, id).await)
        .await;
    answer(ctx, result)
}

pub async fn insert(ctx: &CallContext, op: InsertOp) -> Result<Document, HostError> {
    answer(
        ctx,
        ctx.uow.write(async |conn| op.apply(conn, ctx).await).await,
    )
}

pub async fn update(ctx: &CallContext, op: UpdateOp) -> Result<Document, HostError> {
    answer(
        ctx,
        ctx.uow.write(async |conn| op.apply(conn, ctx).await).await,
    )
}

pub async fn delete(ctx: &CallContext, op: DeleteOp) -> Result<bool, HostError> {
    answer(
        ctx,
        ctx.uow.write(async |conn| op.apply(conn, ctx).await).await,
    )
}

pub async fn query(ctx: &CallContext, selection: Selection) -> Result<Page, HostError> {
    let records = ctx.uow.db().records();
    let result = ctx
        .uow
        .read(async |conn| records.query(conn, scope(ctx), &selection).await)
        .await;
    answer(ctx, result)
}

pub async fn count(
    ctx: &CallContext,
    collection: &str,
    filters: &[Filter],
) -> Result<u64, HostError> {
    let records = ctx.uow.db().records();
    let result = ctx
        .uow
        .read(async |conn| records.count(conn, scope(ctx), collection, filters).await)
        .await;
    answer(ctx, result)
}

/// All the writes or none: a failed one undoes those before it.
pub async fn batch(
    ctx: &CallContext,
    writes: Vec<Write>,
) -> Result<Vec<Option<Document>>, HostError> {
    let result = ctx
        .uow
        .write(async |conn| {
            records::savepoint(conn, true, async |conn: &mut AnyConnection| {
                let mut out = Vec::with_capacity(writes.len());
                for write in writes {
                    out.push(match write {
                        Write::Insert(op) => Some(op.apply(conn, ctx).await?),
                        Write::Update(op) => Some(op.apply(conn, ctx).await?),
                        Write::Delete(op) => {
                            op.apply(conn, ctx).await?;
                            None
                        }
                    });
                }
                Ok(out)
            })
            .await
        })
        .await;
    answer(ctx, result)
}
