//! Domain events: emitted with this request's writes, delivered to subscribers.

use serde::Serialize;

use crate::bindings::mosaic::platform::events as wit;
use crate::{Error, Result};

/// An event delivered to [`crate::Module::on_event`].
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    /// The module that emitted it.
    pub source: String,
    pub kind: String,
    pub subject: Option<String>,
    /// A JSON object.
    pub data: String,
    pub occurred_at: u64,
}

impl Event {
    pub(crate) fn from_wit(ev: wit::Event) -> Self {
        Self {
            id: ev.id,
            source: ev.source,
            kind: ev.kind,
            subject: ev.subject,
            data: ev.data,
            occurred_at: ev.occurred_at,
        }
    }
}

/// Emits `kind` (e.g. `employee.created`) about `subject`. Needs
/// [`crate::Capability::Events`] in the manifest.
pub fn emit<T: Serialize + ?Sized>(kind: &str, subject: Option<&str>, data: &T) -> Result<()> {
    let data = serde_json::to_string(data).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(wit::emit(kind, subject, &data)?)
}
