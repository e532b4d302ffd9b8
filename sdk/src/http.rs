//! Requests and responses as a module sees them.

use serde::{Serialize, de::DeserializeOwned};

use crate::bindings::mosaic::platform::types as wit;
use crate::{Error, Result};

/// An HTTP request the host routed to this module.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Without the `/api/<module>` prefix, e.g. `/42`.
    pub path: String,
    /// The route pattern that matched, e.g. `/{id}`.
    pub route: String,
    params: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub(crate) fn from_wit(req: wit::Request) -> Self {
        let query = form_urlencoded::parse(req.query.as_bytes())
            .into_owned()
            .collect();
        Self {
            method: req.method,
            path: req.path,
            route: req.route,
            params: req.params.into_iter().map(|p| (p.name, p.value)).collect(),
            query,
            headers: req.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: req.body,
        }
    }

    /// A path parameter of the route, e.g. `id` in `/{id}`. The router only calls a
    /// handler whose route matched, so a parameter named in the route is always there.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The first value of a query-string parameter, percent-decoded.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter parsed as a number: `Err` (422) when present but not a number.
    pub fn query_u32(&self, name: &str) -> Result<Option<u32>> {
        self.query(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| Error::invalid_field(name, "must be a non-negative integer"))
            })
            .transpose()
    }

    /// A request header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON: malformed JSON is a 400, a value of the wrong shape a 422.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(Error::from_body)
    }
}

/// What a handler answers.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// `value` serialized as JSON.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Self> {
        let body = serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Self::raw_json(status, body))
    }

    /// A body that is already JSON text, e.g. spliced from stored documents.
    pub fn raw_json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    /// A body of any type, e.g. a file from [`crate::files::get`].
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub(crate) fn into_wit(self) -> wit::Response {
        wit::Response {
            status: self.status,
            headers: self
                .headers
                .into_iter()
                .map(|(name, value)| wit::Header { name, value })
                .collect(),
            body: self.body,
        }
    }
}
