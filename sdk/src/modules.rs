//! Calls to other modules of the same tenant, through the host.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::mosaic::platform::{modules as wit, types};
use crate::{Error, Result};

/// Another module's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as `T`. An answer that is not `T` is the other module's bug: an
    /// internal error here.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Internal(format!("a module answered unreadable JSON: {e}")))
    }
}

/// 422 on `field` unless `id` can be a path segment of another module's route (no
/// `/`, `?` or `#`): a client's id goes into [`get`] paths only through this.
pub fn check_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 200 || id.contains(['/', '?', '#', '%']) {
        return Err(Error::invalid_field(field, "is not a valid id"));
    }
    Ok(())
}

/// The employee `id` as `T`, asked of the core employees module (declare it with
/// [`crate::Manifest::depends_on`]); none if there is no such employee. Only a record
/// whose `id` is `id` counts: an id such as `me` or `teams` names another route of
/// employees, not an employee.
pub fn employee<T: DeserializeOwned>(id: &str) -> Result<Option<T>> {
    if check_id("id", id).is_err() {
        return Ok(None);
    }
    let Some(record) = get::<serde_json::Value>("employees", &format!("/{id}"))? else {
        return Ok(None);
    };
    if record["id"] != id {
        return Ok(None);
    }
    serde_json::from_value(record)
        .map(Some)
        .map_err(|e| Error::Internal(format!("employees answered an unreadable employee: {e}")))
}

/// 422 on `field` unless `id` is an active employee of the tenant ([`employee`]).
pub fn require_active_employee(field: &str, id: &str) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Employee {
        status: String,
    }
    check_id(field, id)?;
    match employee::<Employee>(id)? {
        Some(e) if e.status == "active" => Ok(()),
        Some(_) => Err(Error::invalid_field(field, "employee is not active")),
        None => Err(Error::invalid_field(field, "no such employee")),
    }
}

/// `GET path` on `module` as `T`: `None` for a 404. Any other failure is an error
/// that says which module answered what; a disabled module is `Unavailable`.
pub fn get<T: DeserializeOwned>(module: &str, path: &str) -> Result<Option<T>> {
    let reply = call::<()>(module, "GET", path, None)?;
    match reply.status {
        200..300 => reply.json().map(Some),
        404 => Ok(None),
        status => Err(Error::Internal(format!(
            "{module} answered {status} to GET {path}"
        ))),
    }
}

/// Calls `method path` (e.g. `GET /42`) on `module`, as the current caller. The module
/// must be declared with [`crate::Manifest::depends_on`].
pub fn call<T: Serialize + ?Sized>(
    module: &str,
    method: &str,
    path: &str,
    body: Option<&T>,
) -> Result<Reply> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let body = match body {
        Some(b) => serde_json::to_vec(b).map_err(|e| Error::Internal(e.to_string()))?,
        None => Vec::new(),
    };
    let req = types::Request {
        method: method.into(),
        path: path.into(),
        route: String::new(),
        params: Vec::new(),
        query: query.into(),
        headers: vec![types::Header {
            name: "content-type".into(),
            value: "application/json".into(),
        }],
        body,
    };
    let resp = wit::call(module, &req)?;
    Ok(Reply {
        status: resp.status,
        body: resp.body,
    })
}

/// Whether `module` is enabled for this tenant.
pub fn enabled(module: &str) -> bool {
    wit::enabled(module)
}
