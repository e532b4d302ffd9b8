//! `store`: documents scoped to the calling (tenant, module).

use sqlx::AnyConnection;

use super::internal;
use crate::runtime::CallContext;
use crate::runtime::types::HostError;
use crate::runtime::unit_of_work::ReadWay;
use crate::store::records::{
    self, Document, Filter, Page, Records, Scope, Selection, StoreError, StoreResult, UniqueIndex,
};

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

/// The calling module's documents: the store of its dialect, scoped to the calling
/// (tenant, module), with the module's unique indexes.
struct Documents<'a> {
    records: Records,
    scope: Scope<'a>,
    indexes: &'a [UniqueIndex],
}

impl<'a> Documents<'a> {
    fn of(ctx: &'a CallContext) -> Self {
        Self {
            records: ctx.uow.records(),
            scope: Scope {
                tenant_id: &ctx.tenant.tenant.id,
                module: &ctx.module.key,
            },
            indexes: &ctx.module.unique_indexes,
        }
    }

    async fn insert(&self, conn: &mut AnyConnection, op: InsertOp) -> StoreResult<Document> {
        let InsertOp {
            collection,
            id,
            data,
        } = op;
        let (records, scope, indexes) = (self.records, self.scope, self.indexes);
        records
            .insert(conn, scope, indexes, &collection, id, data)
            .await
    }

    async fn update(&self, conn: &mut AnyConnection, op: UpdateOp) -> StoreResult<Document> {
        let UpdateOp {
            collection,
            id,
            expected_version: version,
            data,
        } = op;
        let (records, scope, indexes) = (self.records, self.scope, self.indexes);
        records
            .update(conn, scope, indexes, &collection, &id, version, data)
            .await
    }

    async fn delete(&self, conn: &mut AnyConnection, op: DeleteOp) -> StoreResult<bool> {
        let DeleteOp {
            collection,
            id,
            expected_version: version,
        } = op;
        self.records
            .delete(conn, self.scope, &collection, &id, version)
            .await
    }
}

/// A read's result, counted by the way it went.
fn counted<T>(ctx: &CallContext, read: sqlx::Result<(T, ReadWay)>) -> sqlx::Result<T> {
    read.map(|(result, way)| {
        ctx.runtime.metrics().document_read(way.as_str());
        result
    })
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
    let docs = Documents::of(ctx);
    let result = ctx
        .uow
        .read_documents(
            |reads, deadline| {
                docs.records
                    .get_direct(reads, docs.scope, collection, id, deadline)
            },
            async |conn| docs.records.get(conn, docs.scope, collection, id).await,
        )
        .await;
    answer(ctx, counted(ctx, result))
}

pub async fn insert(ctx: &CallContext, op: InsertOp) -> Result<Document, HostError> {
    let docs = Documents::of(ctx);
    answer(
        ctx,
        ctx.uow
            .write(async |conn| docs.insert(conn, op).await)
            .await,
    )
}

pub async fn update(ctx: &CallContext, op: UpdateOp) -> Result<Document, HostError> {
    let docs = Documents::of(ctx);
    answer(
        ctx,
        ctx.uow
            .write(async |conn| docs.update(conn, op).await)
            .await,
    )
}

pub async fn delete(ctx: &CallContext, op: DeleteOp) -> Result<bool, HostError> {
    let docs = Documents::of(ctx);
    answer(
        ctx,
        ctx.uow
            .write(async |conn| docs.delete(conn, op).await)
            .await,
    )
}

pub async fn query(ctx: &CallContext, selection: Selection) -> Result<Page, HostError> {
    let docs = Documents::of(ctx);
    ctx.uow
        .build_declared_indexes(&ctx.module.declared_indexes, &selection.collection)
        .await;
    let result = ctx
        .uow
        .read_documents(
            |reads, deadline| {
                docs.records
                    .query_direct(reads, docs.scope, &selection, deadline)
            },
            async |conn| docs.records.query(conn, docs.scope, &selection).await,
        )
        .await;
    answer(ctx, counted(ctx, result))
}

pub async fn count(
    ctx: &CallContext,
    collection: &str,
    filters: &[Filter],
) -> Result<u64, HostError> {
    let docs = Documents::of(ctx);
    ctx.uow
        .build_declared_indexes(&ctx.module.declared_indexes, collection)
        .await;
    let result = ctx
        .uow
        .read(async |conn| {
            docs.records
                .count(conn, docs.scope, collection, filters)
                .await
        })
        .await;
    answer(ctx, result)
}

/// All the writes or none: a failed one undoes those before it.
pub async fn batch(
    ctx: &CallContext,
    writes: Vec<Write>,
) -> Result<Vec<Option<Document>>, HostError> {
    let docs = Documents::of(ctx);
    let result = ctx
        .uow
        .write(async |conn| {
            records::savepoint(conn, true, async |conn: &mut AnyConnection| {
                let mut out = Vec::with_capacity(writes.len());
                for write in writes {
                    out.push(match write {
                        Write::Insert(op) => Some(docs.insert(conn, op).await?),
                        Write::Update(op) => Some(docs.update(conn, op).await?),
                        Write::Delete(op) => {
                            docs.delete(conn, op).await?;
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
