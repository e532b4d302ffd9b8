//! `notify`: messages to people. Delivery (in-app, mail outbox) comes with the
//! notifications module; until then a granted call answers `unsupported`.

use crate::runtime::CallContext;
use crate::runtime::types::{Capability, HostError};

/// A message for a user of the tenant or an email address.
pub struct Message {
    pub to_user: Option<String>,
    pub to_email: Option<String>,
    pub kind: String,
    pub subject: String,
    pub body: String,
}

pub fn send(ctx: &CallContext, _message: Message) -> Result<(), HostError> {
    ctx.require(Capability::Notify, "sending notifications")?;
    Err(HostError::Unsupported(
        "notification delivery is not served by this host version (mosaic 0.1)".into(),
    ))
}
