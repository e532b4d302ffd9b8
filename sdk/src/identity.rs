//! Who is calling.

use crate::Role;
use crate::bindings::mosaic::platform::identity as wit;

pub use crate::bindings::mosaic::platform::types::Caller;

/// None for system calls (event delivery).
pub fn caller() -> Option<Caller> {
    wit::current_caller()
}

/// Whether the caller's role is `role` or higher.
pub fn has_role(role: Role) -> bool {
    wit::has_role(role)
}
