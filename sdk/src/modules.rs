//! Calls to other modules of the same tenant, through the host.

use serde::Serialize;

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
