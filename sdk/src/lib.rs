//! The Mosaic module SDK.
//!
//! A module is one `impl Module` plus one [`export_module!`]:
//!
//! ```ignore
//! use mosaic_sdk::prelude::*;
//!
//! struct Hello;
//!
//! impl Module for Hello {
//!     fn manifest() -> Manifest {
//!         Manifest::new("hello", "Hello", "0.1.0").description("Says hello")
//!     }
//!     fn router() -> Router {
//!         Router::new().get("/", |_req| Response::json(200, &"hello"))
//!     }
//! }
//!
//! export_module!(Hello);
//! ```
//!
//! The WIT bindings stay private: this crate's surface is the whole contract a
//! module author sees, so the WIT can evolve behind it.

// The generated code names paths from outside the crate (`::mosaic_sdk::...`) so
// that the export macro works in module crates; this makes them resolve here too.
extern crate self as mosaic_sdk;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/0.2.0",
        world: "mosaic:platform/module",
        runtime_path: "::mosaic_sdk::__private::wit_bindgen::rt",
        default_bindings_module: "::mosaic_sdk::__private::bindings",
        pub_export_macro: true,
        export_macro_name: "__export_guest",
        generate_all,
    });
}

mod error;
mod guest;
mod http;
mod manifest;
mod router;

pub mod billing;
pub mod events;
pub mod files;
pub mod identity;
pub mod input;
pub mod log;
pub mod modules;
pub mod notify;
pub mod store;
pub mod tenant;
pub mod time;

pub use error::{Error, Result};
pub use http::{Request, Response};
pub use manifest::{Capability, Manifest};
pub use router::{Handler, Router};

/// A caller's role, lowest first.
pub use bindings::mosaic::platform::types::Role;

/// What a module implements.
pub trait Module: 'static {
    /// Key, name, version and what the module needs. Routes come from [`Module::router`].
    fn manifest() -> Manifest;

    /// The module's HTTP routes under `/api/<key>/`.
    fn router() -> Router;

    /// An event this module subscribed to. `Err` asks the host to deliver it again later.
    fn on_event(event: events::Event) -> std::result::Result<(), String> {
        let _ = event;
        Ok(())
    }

    /// A schedule of the manifest ([`Manifest::every`], [`Manifest::cron`]) fired
    /// for the current tenant, as a system call (no caller). `fired_at` (ms since
    /// the epoch) is when it was due, the same on every try of one firing: key the
    /// work on it to do it once. `Err` is logged and shown to admins; the next
    /// firing comes at its time.
    fn on_schedule(schedule: &str, fired_at: u64) -> std::result::Result<(), String> {
        let _ = (schedule, fired_at);
        Ok(())
    }
}

/// Everything a module usually needs.
pub mod prelude {
    pub use crate::{
        Capability, Error, Manifest, Module, Request, Response, Result, Role, Router, export_module,
    };
}

/// Makes `$module` the component's exports. Use once per module crate.
#[macro_export]
macro_rules! export_module {
    ($module:ty) => {
        // The generated export shims are `extern "C"` functions with fixed symbol names.
        #[allow(unsafe_code)]
        const _: () = {
            struct MosaicGuest;

            impl $crate::__private::GuestExports for MosaicGuest {
                type Module = $module;
            }

            // The export shims exist on wasm only. On a native target the crate is a
            // plain library, for unit tests and workspace-wide `cargo clippy`: native
            // linkers refuse the component's export names.
            #[cfg(target_family = "wasm")]
            $crate::__private::bindings::__export_guest!(
                MosaicGuest with_types_in $crate::__private::bindings
            );
        };

        /// What the component would export, reachable on a native target too.
        #[cfg(not(target_family = "wasm"))]
        #[doc(hidden)]
        pub fn __mosaic_module() -> ($crate::Manifest, $crate::Router) {
            (
                <$module as $crate::Module>::manifest(),
                <$module as $crate::Module>::router(),
            )
        }
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::guest::GuestExports;
    pub use wit_bindgen;
}
