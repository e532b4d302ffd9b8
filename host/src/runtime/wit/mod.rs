//! The contract versions this host serves, one adapter each (`v0_1` for
//! `wit/0.1.0/`, `v0_2` for `wit/0.2.0/`). A component is linked against the
//! version it was built for, and the rest of the host sees only the host's own
//! types. A new version adds a module here (sharing what did not change through
//! `shared::adapter!`) and a variant to [`ModulePre`] and [`Bindings`].

mod shared;
mod v0_1;
mod v0_2;

use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Engine, Store};

use super::host::HostState;
use super::types::{Event, Manifest, Request, Response};

/// The package every contract version belongs to.
const PACKAGE: &str = "mosaic:platform";

/// The versions served, oldest first.
pub const SERVED: &[&str] = &[v0_1::VERSION, v0_2::VERSION];

/// Adds every served version's imports to the linker.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    v0_1::add_to_linker(linker)?;
    v0_2::add_to_linker(linker)
}

/// `$body` for whichever version `$value` (a [`ModulePre`] or [`Bindings`]) holds,
/// with `$inner` bound to its generated value.
macro_rules! by_version {
    ($value:expr, $inner:ident => $body:expr) => {
        match $value {
            Self::V0_1($inner) => $body,
            Self::V0_2($inner) => $body,
        }
    };
}

/// A component linked and checked against its contract version, ready to
/// instantiate.
pub enum ModulePre {
    V0_1(v0_1::ModulePre<HostState>),
    V0_2(v0_2::ModulePre<HostState>),
}

/// A live instance's exports.
pub enum Bindings {
    V0_1(v0_1::Module),
    V0_2(v0_2::Module),
}

impl ModulePre {
    /// Links `component` against the contract version it names, refusing one this
    /// host does not serve with a message that names both.
    pub fn new(
        engine: &Engine,
        linker: &Linker<HostState>,
        component: &Component,
    ) -> Result<Self, String> {
        let version = contract_version(engine, component)?;
        let pre: InstancePre<HostState> = linker
            .instantiate_pre(component)
            .map_err(|e| format!("module does not link against this host: {e:?}"))?;
        match version.as_str() {
            v0_1::VERSION => v0_1::ModulePre::new(pre)
                .map(Self::V0_1)
                .map_err(|e| format!("{e:?}")),
            v0_2::VERSION => v0_2::ModulePre::new(pre)
                .map(Self::V0_2)
                .map_err(|e| format!("{e:?}")),
            other => Err(format!(
                "module is built for {PACKAGE}@{other}, but this host serves {}",
                served_list()
            )),
        }
    }

    /// The contract version the component was built for, e.g. `0.1.0`.
    pub fn contract_version(&self) -> &'static str {
        match self {
            Self::V0_1(_) => v0_1::VERSION,
            Self::V0_2(_) => v0_2::VERSION,
        }
    }

    pub async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Bindings> {
        match self {
            Self::V0_1(pre) => pre.instantiate_async(store).await.map(Bindings::V0_1),
            Self::V0_2(pre) => pre.instantiate_async(store).await.map(Bindings::V0_2),
        }
    }
}

impl Bindings {
    pub async fn describe(&self, store: &mut Store<HostState>) -> wasmtime::Result<Manifest> {
        by_version!(self, module => module
            .mosaic_platform_guest()
            .call_describe(store)
            .await
            .map(Into::into))
    }

    pub async fn handle(
        &self,
        store: &mut Store<HostState>,
        request: Request,
    ) -> wasmtime::Result<Response> {
        by_version!(self, module => module
            .mosaic_platform_guest()
            .call_handle(store, &request.into())
            .await
            .map(Into::into))
    }

    /// `Err` is the subscriber's own refusal, to be retried.
    pub async fn on_event(
        &self,
        store: &mut Store<HostState>,
        event: Event,
    ) -> wasmtime::Result<Result<(), String>> {
        by_version!(self, module => module
            .mosaic_platform_guest()
            .call_on_event(store, &event.into())
            .await)
    }

    /// A schedule of the manifest fired; `Err` is the module's own failure. Only
    /// 0.2.0 and later have schedules: an older module never declares one.
    pub async fn on_schedule(
        &self,
        store: &mut Store<HostState>,
        schedule: &str,
        fired_at: i64,
    ) -> wasmtime::Result<Result<(), String>> {
        let fired_at = u64::try_from(fired_at).unwrap_or_default();
        match self {
            Self::V0_1(_) => Ok(Err("contract 0.1.0 has no schedules".into())),
            Self::V0_2(module) => {
                module
                    .mosaic_platform_guest()
                    .call_on_schedule(store, schedule, fired_at)
                    .await
            }
        }
    }
}

fn served_list() -> String {
    SERVED
        .iter()
        .map(|v| format!("{PACKAGE}@{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one contract version a component imports and exports (`0.1.0` from
/// `mosaic:platform/store@0.1.0`, say).
fn contract_version(engine: &Engine, component: &Component) -> Result<String, String> {
    let ty = component.component_type();
    let names = ty
        .imports(engine)
        .map(|(name, _)| name)
        .chain(ty.exports(engine).map(|(name, _)| name));
    let mut version: Option<(String, &str)> = None;
    for name in names {
        let Some(rest) = name.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let found = rest.split_once('@').map_or("(none)", |(_, v)| v);
        match &version {
            None => version = Some((found.to_owned(), name)),
            Some((first, first_name)) if first != found => {
                return Err(format!(
                    "module mixes contract versions: {first_name} and {name}"
                ));
            }
            Some(_) => {}
        }
    }
    version.map(|(v, _)| v).ok_or_else(|| {
        format!(
            "component is not a Mosaic module: it uses no {PACKAGE} interface (this host serves {})",
            served_list()
        )
    })
}
