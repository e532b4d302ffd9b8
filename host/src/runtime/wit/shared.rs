//! What every contract version shares: the interfaces that did not change between
//! versions, written once. Each version's module expands [`adapter!`] next to its
//! generated bindings, so the same code converts that version's types to the
//! host's and calls the host's implementation in `runtime/host/`.

/// The conversions and import implementations shared by every version. Expanded
/// inside a version module, where `mosaic::platform::*` are that version's bindings
/// and `schedules_in` reads the manifest's schedules if the version has them.
macro_rules! adapter {
    () => {
        use self::exports::mosaic::platform::guest;
        use self::mosaic::platform::{
            billing, events, identity, log, modules, notify, store, tenant, types as wit,
        };
        use $crate::auth;
        use $crate::runtime::host::{self, HostState};
        use $crate::runtime::types::{self, HostError};
        use $crate::store::records;

        impl From<wit::Role> for auth::Role {
            fn from(role: wit::Role) -> Self {
                match role {
                    wit::Role::Member => Self::Member,
                    wit::Role::Manager => Self::Manager,
                    wit::Role::TenantAdmin => Self::TenantAdmin,
                    wit::Role::SuperAdmin => Self::SuperAdmin,
                }
            }
        }

        impl From<auth::Role> for wit::Role {
            fn from(role: auth::Role) -> Self {
                match role {
                    auth::Role::Member => Self::Member,
                    auth::Role::Manager => Self::Manager,
                    auth::Role::TenantAdmin => Self::TenantAdmin,
                    auth::Role::SuperAdmin => Self::SuperAdmin,
                }
            }
        }

        fn headers_in(headers: Vec<wit::Header>) -> Vec<types::Header> {
            headers
                .into_iter()
                .map(|h| types::Header {
                    name: h.name,
                    value: h.value,
                })
                .collect()
        }

        fn headers_out(headers: Vec<types::Header>) -> Vec<wit::Header> {
            headers
                .into_iter()
                .map(|h| wit::Header {
                    name: h.name,
                    value: h.value,
                })
                .collect()
        }

        impl From<types::Request> for wit::Request {
            fn from(req: types::Request) -> Self {
                Self {
                    method: req.method,
                    path: req.path,
                    route: req.route,
                    params: req
                        .params
                        .into_iter()
                        .map(|(name, value)| wit::Param { name, value })
                        .collect(),
                    query: req.query,
                    headers: headers_out(req.headers),
                    body: req.body,
                }
            }
        }

        impl From<wit::Request> for types::Request {
            fn from(req: wit::Request) -> Self {
                Self {
                    method: req.method,
                    path: req.path,
                    route: req.route,
                    params: req.params.into_iter().map(|p| (p.name, p.value)).collect(),
                    query: req.query,
                    headers: headers_in(req.headers),
                    body: req.body,
                }
            }
        }

        impl From<wit::Response> for types::Response {
            fn from(resp: wit::Response) -> Self {
                Self {
                    status: resp.status,
                    headers: headers_in(resp.headers),
                    body: resp.body,
                }
            }
        }

        impl From<types::Response> for wit::Response {
            fn from(resp: types::Response) -> Self {
                Self {
                    status: resp.status,
                    headers: headers_out(resp.headers),
                    body: resp.body,
                }
            }
        }

        impl From<types::Event> for mosaic::platform::events::Event {
            fn from(event: types::Event) -> Self {
                Self {
                    id: event.id,
                    source: event.source,
                    kind: event.kind,
                    subject: event.subject,
                    data: event.data,
                    occurred_at: u64::try_from(event.occurred_at).unwrap_or_default(),
                }
            }
        }

        impl From<types::HostError> for wit::Error {
            fn from(err: types::HostError) -> Self {
                use types::HostError as E;
                match err {
                    E::NotFound => Self::NotFound,
                    E::Conflict(m) => Self::Conflict(m),
                    E::Invalid(m) => Self::Invalid(m),
                    E::Forbidden(m) => Self::Forbidden(m),
                    E::QuotaExceeded(m) => Self::QuotaExceeded(m),
                    E::Unavailable(m) => Self::Unavailable(m),
                    E::Unsupported(m) => Self::Unsupported(m),
                    E::Internal(m) => Self::Internal(m),
                }
            }
        }

        type Res<T> = wasmtime::Result<Result<T, wit::Error>>;

        /// A host answer as the guest's result.
        fn answer<T, U: From<T>>(result: Result<T, HostError>) -> Result<U, wit::Error> {
            result.map(Into::into).map_err(Into::into)
        }

        impl wit::Host for HostState {}

        impl From<records::Document> for store::Document {
            fn from(doc: records::Document) -> Self {
                let ms = |v: i64| u64::try_from(v).unwrap_or(0);
                Self {
                    id: doc.id,
                    version: ms(doc.version),
                    data: doc.data,
                    created_at: ms(doc.created_at),
                    updated_at: ms(doc.updated_at),
                }
            }
        }

        impl From<records::Page> for store::Page {
            fn from(page: records::Page) -> Self {
                Self {
                    items: page.items.into_iter().map(Into::into).collect(),
                    next_cursor: page.next_cursor,
                }
            }
        }

        impl From<store::Filter> for records::Filter {
            fn from(f: store::Filter) -> Self {
                use records::{FilterOp, FilterValue};
                Self {
                    field: f.field,
                    op: match f.op {
                        store::Op::Eq => FilterOp::Eq,
                        store::Op::Ne => FilterOp::Ne,
                        store::Op::Lt => FilterOp::Lt,
                        store::Op::Le => FilterOp::Le,
                        store::Op::Gt => FilterOp::Gt,
                        store::Op::Ge => FilterOp::Ge,
                        store::Op::Prefix => FilterOp::Prefix,
                    },
                    value: match f.value {
                        store::Value::Text(t) => FilterValue::Text(t),
                        store::Value::Integer(i) => FilterValue::Integer(i),
                        store::Value::Float(x) => FilterValue::Float(x),
                        store::Value::Boolean(b) => FilterValue::Boolean(b),
                        store::Value::Null => FilterValue::Null,
                    },
                }
            }
        }

        fn version(v: Option<u64>) -> Option<i64> {
            v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
        }

        impl From<store::Write> for host::store::Write {
            fn from(write: store::Write) -> Self {
                match write {
                    store::Write::Insert(op) => Self::Insert(host::store::InsertOp {
                        collection: op.collection,
                        id: op.id,
                        data: op.data,
                    }),
                    store::Write::Update(op) => Self::Update(host::store::UpdateOp {
                        collection: op.collection,
                        id: op.id,
                        expected_version: version(op.expected_version),
                        data: op.data,
                    }),
                    store::Write::Delete(op) => Self::Delete(host::store::DeleteOp {
                        collection: op.collection,
                        id: op.id,
                        expected_version: version(op.expected_version),
                    }),
                }
            }
        }

        impl store::Host for HostState {
            async fn get(
                &mut self,
                collection: String,
                id: String,
            ) -> Res<Option<store::Document>> {
                let result = host::store::get(self.ctx()?, &collection, &id).await;
                Ok(result.map(|doc| doc.map(Into::into)).map_err(Into::into))
            }

            async fn insert(
                &mut self,
                collection: String,
                id: Option<String>,
                data: String,
            ) -> Res<store::Document> {
                let op = host::store::InsertOp {
                    collection,
                    id,
                    data,
                };
                Ok(answer(host::store::insert(self.ctx()?, op).await))
            }

            async fn update(
                &mut self,
                collection: String,
                id: String,
                expected_version: Option<u64>,
                data: String,
            ) -> Res<store::Document> {
                let op = host::store::UpdateOp {
                    collection,
                    id,
                    expected_version: version(expected_version),
                    data,
                };
                Ok(answer(host::store::update(self.ctx()?, op).await))
            }

            async fn delete(
                &mut self,
                collection: String,
                id: String,
                expected_version: Option<u64>,
            ) -> Res<bool> {
                let op = host::store::DeleteOp {
                    collection,
                    id,
                    expected_version: version(expected_version),
                };
                Ok(answer(host::store::delete(self.ctx()?, op).await))
            }

            async fn query(&mut self, q: store::Selection) -> Res<store::Page> {
                let selection = records::Selection {
                    collection: q.collection,
                    filters: q.filters.into_iter().map(Into::into).collect(),
                    order_by: q.order_by,
                    descending: q.descending,
                    limit: q.limit,
                    cursor: q.cursor,
                };
                Ok(answer(host::store::query(self.ctx()?, selection).await))
            }

            async fn count(&mut self, collection: String, filters: Vec<store::Filter>) -> Res<u64> {
                let filters: Vec<records::Filter> = filters.into_iter().map(Into::into).collect();
                Ok(answer(
                    host::store::count(self.ctx()?, &collection, &filters).await,
                ))
            }

            async fn batch(
                &mut self,
                writes: Vec<store::Write>,
            ) -> Res<Vec<Option<store::Document>>> {
                let writes = writes.into_iter().map(Into::into).collect();
                let result = host::store::batch(self.ctx()?, writes).await;
                Ok(result
                    .map(|docs| docs.into_iter().map(|d| d.map(Into::into)).collect())
                    .map_err(Into::into))
            }
        }

        impl events::Host for HostState {
            async fn emit(
                &mut self,
                kind: String,
                subject: Option<String>,
                data: String,
            ) -> Res<()> {
                let result =
                    host::events::emit(self.ctx()?, &kind, subject.as_deref(), &data).await;
                Ok(answer(result))
            }
        }

        impl modules::Host for HostState {
            async fn call(&mut self, module: String, req: wit::Request) -> Res<wit::Response> {
                let ctx = self.ctx()?.clone();
                Ok(answer(host::modules::call(&ctx, &module, req.into()).await))
            }

            async fn enabled(&mut self, module: String) -> wasmtime::Result<bool> {
                Ok(host::modules::enabled(self.ctx()?, &module))
            }
        }

        impl tenant::Host for HostState {
            async fn current(&mut self) -> wasmtime::Result<tenant::Info> {
                let ctx = self.ctx()?;
                let settings = host::tenant::settings(ctx).await?;
                let tenant = &ctx.tenant.tenant;
                Ok(tenant::Info {
                    id: tenant.id.clone(),
                    name: tenant.name.clone(),
                    subdomain: tenant.subdomain.clone(),
                    plan: tenant.plan.clone(),
                    timezone: tenant.timezone.clone(),
                    settings,
                })
            }
        }

        impl identity::Host for HostState {
            async fn current_caller(&mut self) -> wasmtime::Result<Option<wit::Caller>> {
                Ok(
                    host::identity::current_caller(self.ctx()?).map(|c| wit::Caller {
                        user_id: c.user_id.clone(),
                        email: c.email.clone(),
                        display_name: c.display_name.clone(),
                        role: c.role.into(),
                    }),
                )
            }

            async fn has_role(&mut self, at_least: wit::Role) -> wasmtime::Result<bool> {
                Ok(host::identity::has_role(self.ctx()?, at_least.into()))
            }
        }

        impl billing::Host for HostState {
            async fn check_quota(&mut self, metric: String, amount: u64) -> Res<()> {
                Ok(answer(
                    host::billing::check_quota(self.ctx()?, &metric, amount).await,
                ))
            }

            async fn record_usage(&mut self, metric: String, amount: u64) -> Res<()> {
                Ok(answer(
                    host::billing::record_usage(self.ctx()?, &metric, amount).await,
                ))
            }
        }

        impl notify::Host for HostState {
            async fn send(&mut self, msg: notify::Message) -> Res<()> {
                let message = host::notify::Message {
                    to_user: msg.to_user,
                    to_email: msg.to_email,
                    kind: msg.kind,
                    subject: msg.subject,
                    body: msg.body,
                };
                Ok(answer(host::notify::send(self.ctx()?, message).await))
            }
        }

        impl log::Host for HostState {
            async fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
                let level = match level {
                    log::Level::Trace => tracing::Level::TRACE,
                    log::Level::Debug => tracing::Level::DEBUG,
                    log::Level::Info => tracing::Level::INFO,
                    log::Level::Warn => tracing::Level::WARN,
                    log::Level::Error => tracing::Level::ERROR,
                };
                host::log::write(self.ctx()?, &self.log, level, &message);
                Ok(())
            }
        }

        /// The version's own part of the manifest is read by its `schedules_in`.
        impl From<guest::Manifest> for types::Manifest {
            fn from(mut m: guest::Manifest) -> Self {
                let schedules = schedules_in(&mut m);
                Self {
                    key: m.key,
                    name: m.name,
                    version: m.version,
                    description: m.description,
                    icon: m.icon,
                    core: m.core,
                    sort_order: m.sort_order,
                    routes: m
                        .routes
                        .into_iter()
                        .map(|r| types::RouteSpec {
                            method: r.method,
                            path: r.path,
                            min_role: r.min_role.map(Into::into),
                        })
                        .collect(),
                    dependencies: m.dependencies,
                    subscriptions: m.subscriptions,
                    indexes: m
                        .indexes
                        .into_iter()
                        .map(|i| types::IndexSpec {
                            collection: i.collection,
                            fields: i.fields,
                            unique: i.unique,
                        })
                        .collect(),
                    capabilities: m.capabilities.into_iter().map(Into::into).collect(),
                    schedules,
                }
            }
        }
    };
}

pub(super) use adapter;
