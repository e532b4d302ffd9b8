//! Who is calling.

use crate::bindings::mosaic::platform::identity as wit;
use crate::{Error, Result, Role};

pub use crate::bindings::mosaic::platform::types::Caller;

/// None for system calls (event delivery).
pub fn caller() -> Option<Caller> {
    wit::current_caller()
}

/// Whether the caller's role is `role` or higher.
pub fn has_role(role: Role) -> bool {
    wit::has_role(role)
}

/// The signed-in caller, or a 403 for a system call (an event or a schedule), which
/// has nobody to act for.
pub fn require_caller() -> Result<Caller> {
    caller().ok_or_else(|| Error::Forbidden("this needs a signed-in user".into()))
}
