//! The tenant this call runs for.

pub use crate::bindings::mosaic::platform::tenant::Info;

pub fn current() -> Info {
    crate::bindings::mosaic::platform::tenant::current()
}
