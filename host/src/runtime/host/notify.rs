//! `mosaic:platform/notify`: messages to people. Delivery (in-app, mail outbox) comes
//! with the notifications module; until then a granted call answers `unsupported`.

use super::HostState;
use crate::runtime::bindings::mosaic::platform::notify::{Host, Message};
use crate::runtime::bindings::{Capability, HostError};

impl Host for HostState {
    async fn send(&mut self, _msg: Message) -> wasmtime::Result<Result<(), HostError>> {
        Ok(if self.ctx()?.module.has_capability(Capability::Notify) {
            Err(HostError::Unsupported(
                "notification delivery is not served by this host version (mosaic 0.1)".into(),
            ))
        } else {
            Err(HostError::Forbidden(
                "sending notifications needs the `notify` capability in the manifest".into(),
            ))
        })
    }
}
