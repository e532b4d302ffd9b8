//! Messages to people of the tenant. Needs [`crate::Capability::Notify`].
//!
//! The host writes an in-app notification to the recipient's inbox (served by the
//! notifications module) in this call's unit of work, and queues a mail once it
//! commits when the recipient's preferences for `kind` ask for one.

use crate::Result;
use crate::bindings::mosaic::platform::notify as wit;

/// Who a message is for: a user of this tenant, by id or by email address.
#[derive(Debug, Clone, Copy)]
pub enum To<'a> {
    User(&'a str),
    Email(&'a str),
}

/// Sends `subject` and `body` as a message of `kind` (dotted, e.g. `task.assigned`:
/// users set their preferences per kind). Nobody of this tenant at that address or
/// id is [`crate::Error::NotFound`].
pub fn send(to: To<'_>, kind: &str, subject: &str, body: &str) -> Result<()> {
    let (to_user, to_email) = match to {
        To::User(id) => (Some(id.to_owned()), None),
        To::Email(email) => (None, Some(email.to_owned())),
    };
    Ok(wit::send(&wit::Message {
        to_user,
        to_email,
        kind: kind.into(),
        subject: subject.into(),
        body: body.into(),
    })?)
}
