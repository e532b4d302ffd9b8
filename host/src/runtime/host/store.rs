//! `mosaic:platform/store`: documents scoped to the calling (tenant, module).

use super::{CallContext, HostState, internal};
use crate::runtime::bindings::HostError;
use crate::runtime::bindings::mosaic::platform::store::{self as wit, Host};
use crate::store::records::{self, Filter, FilterOp, FilterValue, Scope, Selection, StoreError};

type Res<T> = wasmtime::Result<Result<T, HostError>>;

fn scope(ctx: &CallContext) -> Scope<'_> {
    Scope {
        tenant_id: &ctx.tenant.tenant.id,
        module: &ctx.module.key,
    }
}

fn to_wit(doc: records::Document) -> wit::Document {
    let ms = |v: i64| u64::try_from(v).unwrap_or(0);
    wit::Document {
        id: doc.id,
        version: u64::try_from(doc.version).unwrap_or(0),
        data: doc.data,
        created_at: ms(doc.created_at),
        updated_at: ms(doc.updated_at),
    }
}

fn filter(f: wit::Filter) -> Filter {
    Filter {
        field: f.field,
        op: match f.op {
            wit::Op::Eq => FilterOp::Eq,
            wit::Op::Ne => FilterOp::Ne,
            wit::Op::Lt => FilterOp::Lt,
            wit::Op::Le => FilterOp::Le,
            wit::Op::Gt => FilterOp::Gt,
            wit::Op::Ge => FilterOp::Ge,
            wit::Op::Prefix => FilterOp::Prefix,
        },
        value: match f.value {
            wit::Value::Text(t) => FilterValue::Text(t),
            wit::Value::Integer(i) => FilterValue::Integer(i),
            wit::Value::Float(x) => FilterValue::Float(x),
            wit::Value::Boolean(b) => FilterValue::Boolean(b),
            wit::Value::Null => FilterValue::Null,
        },
    }
}

fn version(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
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

impl Host for HostState {
    async fn get(&mut self, collection: String, id: String) -> Res<Option<wit::Document>> {
        let ctx = self.ctx()?;
        let records = ctx.uow.db().records();
        let result = ctx
            .uow
            .read(async |conn| records.get(conn, scope(ctx), &collection, &id).await)
            .await;
        Ok(answer(ctx, result).map(|d| d.map(to_wit)))
    }

    async fn insert(
        &mut self,
        collection: String,
        id: Option<String>,
        data: String,
    ) -> Res<wit::Document> {
        let ctx = self.ctx()?;
        let records = ctx.uow.db().records();
        let indexes = &ctx.module.unique_indexes;
        let result = ctx
            .uow
            .write(async |conn| {
                records
                    .insert(conn, scope(ctx), indexes, &collection, id, data)
                    .await
            })
            .await;
        Ok(answer(ctx, result).map(to_wit))
    }

    async fn update(
        &mut self,
        collection: String,
        id: String,
        expected_version: Option<u64>,
        data: String,
    ) -> Res<wit::Document> {
        let ctx = self.ctx()?;
        let records = ctx.uow.db().records();
        let indexes = &ctx.module.unique_indexes;
        let result = ctx
            .uow
            .write(async |conn| {
                records
                    .update(
                        conn,
                        scope(ctx),
                        indexes,
                        &collection,
                        &id,
                        version(expected_version),
                        data,
                    )
                    .await
            })
            .await;
        Ok(answer(ctx, result).map(to_wit))
    }

    async fn delete(
        &mut self,
        collection: String,
        id: String,
        expected_version: Option<u64>,
    ) -> Res<bool> {
        let ctx = self.ctx()?;
        let records = ctx.uow.db().records();
        let result = ctx
            .uow
            .write(async |conn| {
                records
                    .delete(
                        conn,
                        scope(ctx),
                        &collection,
                        &id,
                        version(expected_version),
                    )
                    .await
            })
            .await;
        Ok(answer(ctx, result))
    }

    async fn query(&mut self, q: wit::Selection) -> Res<wit::Page> {
        let ctx = self.ctx()?;
        let records = ctx.uow.db().records();
        let selection = Selection {
            collection: q.collection,
            filters: q.filters.into_iter().map(filter).collect(),
            order_by: q.order_by,
            descending: q.descending,
            limit: q.limit,
            cursor: q.cursor,
        };
        let result = ctx
            .uow
            .read(async |conn| records.query(conn, scope(ctx), &selection).await)
            .await;
        Ok(answer(ctx, result).map(|page| wit::Page {
            items: page.items.into_iter().map(to_wit).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    async fn count(&mut self, collection: String, filters: Vec<wit::Filter>) -> Res<u64> {
        let ctx = self.ctx()?;
        let records = ctx.uow.db().records();
        let filters: Vec<Filter> = filters.into_iter().map(filter).collect();
        let result = ctx
            .uow
            .read(async |conn| records.count(conn, scope(ctx), &collection, &filters).await)
            .await;
        Ok(answer(ctx, result))
    }

    async fn batch(&mut self, writes: Vec<wit::Write>) -> Res<Vec<Option<wit::Document>>> {
        let ctx = self.ctx()?;
        let records = ctx.uow.db().records();
        let indexes = &ctx.module.unique_indexes;
        let result = ctx
            .uow
            .write(async |conn| {
                records::savepoint(conn, true, async |conn: &mut sqlx::AnyConnection| {
                    let mut out = Vec::with_capacity(writes.len());
                    for write in writes {
                        out.push(match write {
                            wit::Write::Insert(op) => Some(
                                records
                                    .insert(
                                        conn,
                                        scope(ctx),
                                        indexes,
                                        &op.collection,
                                        op.id,
                                        op.data,
                                    )
                                    .await?,
                            ),
                            wit::Write::Update(op) => Some(
                                records
                                    .update(
                                        conn,
                                        scope(ctx),
                                        indexes,
                                        &op.collection,
                                        &op.id,
                                        version(op.expected_version),
                                        op.data,
                                    )
                                    .await?,
                            ),
                            wit::Write::Delete(op) => {
                                records
                                    .delete(
                                        conn,
                                        scope(ctx),
                                        &op.collection,
                                        &op.id,
                                        version(op.expected_version),
                                    )
                                    .await?;
                                None
                            }
                        });
                    }
                    Ok(out)
                })
                .await
            })
            .await;
        Ok(answer(ctx, result).map(|docs| docs.into_iter().map(|d| d.map(to_wit)).collect()))
    }
}
