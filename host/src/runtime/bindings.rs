//! Host bindings of the `mosaic:platform/module` world.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "mosaic:platform/module",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use self::mosaic::platform::types::{
    Caller, Error as HostError, Header, Param, Request, Response, Role,
};
pub use exports::mosaic::platform::guest::{Capability, Manifest, Route};

/// The contract version this host serves, as components name it in their imports.
pub const CONTRACT: &str = "mosaic:platform@0.1.0";
