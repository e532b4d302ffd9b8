//! `identity`: who made the request.

use crate::auth::{Caller, Role};
use crate::runtime::CallContext;

pub fn current_caller(ctx: &CallContext) -> Option<&Caller> {
    ctx.caller.as_deref()
}

pub fn has_role(ctx: &CallContext, at_least: Role) -> bool {
    ctx.caller.as_ref().is_some_and(|c| c.role >= at_least)
}
