//! Contract `mosaic:platform@0.1.0`: its generated bindings, and their conversions
//! to and from the host's types. Frozen with `wit/0.1.0/`.

use wasmtime::component::{HasSelf, Linker};

wasmtime::component::bindgen!({
    path: "../wit/0.1.0",
    world: "mosaic:platform/module",
    imports: { default: async | trappable },
    exports: { default: async },
});

super::shared::adapter!();

pub const VERSION: &str = "0.1.0";

pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    Module::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)
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

/// Schedules came with 0.2.0.
fn schedules_in(_: &mut guest::Manifest) -> Vec<types::ScheduleSpec> {
    Vec::new()
}
