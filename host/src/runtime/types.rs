//! The host's own vocabulary for what crosses the runtime's edge: a module's
//! manifest, the request it handles and the response it gives, and the error a host
//! call answers. Each contract version converts its generated types to and from
//! these in `runtime/wit/`; nothing else in the host names a generated type.

use crate::auth::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// An HTTP request for a module: `/api/<module>/rest` arrives as `path = "/rest"`.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The manifest route pattern the host matched, e.g. `/{id}` (empty until then).
    pub route: String,
    /// Parameters captured from `route`, as (name, value).
    pub params: Vec<(String, String)>,
    pub query: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// A domain event, as delivered to a subscriber's `on-event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    /// The key of the module that emitted it.
    pub source: String,
    pub kind: String,
    pub subject: Option<String>,
    /// A JSON object.
    pub data: String,
    /// Milliseconds since the Unix epoch.
    pub occurred_at: i64,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON error body in the host's own shape, for answers the host gives in a
    /// module's place (a nested call to a missing route, say).
    pub fn json_error(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            headers: vec![Header {
                name: "content-type".into(),
                value: "application/json".into(),
            }],
            body: serde_json::json!({"error": message, "code": code})
                .to_string()
                .into_bytes(),
        }
    }
}

/// What a module's `describe` export says of it. The host grants only what this
/// declares, and decides itself what it may not claim (its key's core status).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub key: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub icon: String,
    pub core: bool,
    pub sort_order: u32,
    pub routes: Vec<RouteSpec>,
    pub dependencies: Vec<String>,
    pub subscriptions: Vec<String>,
    pub indexes: Vec<IndexSpec>,
    pub capabilities: Vec<Capability>,
    pub schedules: Vec<ScheduleSpec>,
}

/// Work the host starts on a module's behalf, once per enabled tenant per firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub id: String,
    pub cadence: Cadence,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// Every so many seconds.
    Every(u32),
    /// A five-field cron expression, in the tenant's time zone.
    Cron(String),
}

#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: String,
    pub path: String,
    /// The host refuses the call with 403 before the module runs.
    pub min_role: Option<Role>,
}

#[derive(Debug, Clone)]
pub struct IndexSpec {
    pub collection: String,
    pub fields: Vec<String>,
    pub unique: bool,
}

/// Host capabilities beyond the always-granted store, tenant, identity and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Events,
    Notify,
    Billing,
    Files,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Notify => "notify",
            Self::Billing => "billing",
            Self::Files => "files",
        }
    }
}

/// The error a host call answers the guest with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    NotFound,
    Conflict(String),
    Invalid(String),
    Forbidden(String),
    QuotaExceeded(String),
    Unavailable(String),
    Unsupported(String),
    Internal(String),
}

/// What a host call returns: a trap for the instance (`Err` outside), or an answer
/// the guest handles (`Result` inside).
pub type HostResult<T> = wasmtime::Result<Result<T, HostError>>;
