//! Contract `mosaic:platform@0.1.0`: its generated bindings, and their conversions
//! to and from the host's types. Frozen with `wit/0.1.0/`.

mod imports;

use wasmtime::component::{HasSelf, Linker};

use crate::auth;
use crate::runtime::host::HostState;
use crate::runtime::types;

wasmtime::component::bindgen!({
    path: "../wit/0.1.0",
    world: "mosaic:platform/module",
    imports: { default: async | trappable },
    exports: { default: async },
});

use self::exports::mosaic::platform::guest;
use self::mosaic::platform::types as wit;

pub const VERSION: &str = "0.1.0";

pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    Module::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)
}

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

impl From<guest::Capability> for types::Capability {
    fn from(capability: guest::Capability) -> Self {
        match capability {
            guest::Capability::Events => Self::Events,
            guest::Capability::Notify => Self::Notify,
            guest::Capability::Billing => Self::Billing,
        }
    }
}

impl From<guest::Manifest> for types::Manifest {
    fn from(m: guest::Manifest) -> Self {
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
        }
    }
}
