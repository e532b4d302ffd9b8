//! `mosaic:platform/identity`: who made the request.

use super::HostState;
use crate::auth;
use crate::runtime::bindings::mosaic::platform::identity::Host;
use crate::runtime::bindings::{Caller, Role};

pub fn to_wit_role(role: auth::Role) -> Role {
    match role {
        auth::Role::Member => Role::Member,
        auth::Role::Manager => Role::Manager,
        auth::Role::TenantAdmin => Role::TenantAdmin,
        auth::Role::SuperAdmin => Role::SuperAdmin,
    }
}

pub fn from_wit_role(role: Role) -> auth::Role {
    match role {
        Role::Member => auth::Role::Member,
        Role::Manager => auth::Role::Manager,
        Role::TenantAdmin => auth::Role::TenantAdmin,
        Role::SuperAdmin => auth::Role::SuperAdmin,
    }
}

impl Host for HostState {
    async fn current_caller(&mut self) -> wasmtime::Result<Option<Caller>> {
        Ok(self.ctx()?.caller.as_ref().map(|c| Caller {
            user_id: c.user_id.clone(),
            email: c.email.clone(),
            display_name: c.display_name.clone(),
            role: to_wit_role(c.role),
        }))
    }

    async fn has_role(&mut self, at_least: Role) -> wasmtime::Result<bool> {
        Ok(self
            .ctx()?
            .caller
            .as_ref()
            .is_some_and(|c| c.role >= from_wit_role(at_least)))
    }
}
