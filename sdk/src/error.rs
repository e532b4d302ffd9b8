//! One error type for handlers; each variant is an HTTP status and a JSON body
//! `{"error": ..., "code": ..., "fields"?: {...}}`, the host's own error shape.

use std::collections::BTreeMap;

use serde_json::json;

use crate::Response;
use crate::bindings::mosaic::platform::types::Error as HostError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// 400: the request itself is malformed (e.g. not JSON).
    BadRequest(String),
    /// 422: per-field validation messages.
    Invalid(BTreeMap<String, String>),
    /// 404.
    NotFound(String),
    /// 409: a uniqueness rule or an expected version did not hold.
    Conflict(String),
    /// 403.
    Forbidden(String),
    /// 402: a plan limit.
    QuotaExceeded(String),
    /// 503: a module this one depends on is disabled for the tenant.
    Unavailable(String),
    /// 500: logged through the host; the client only sees a generic message.
    Internal(String),
}

impl Error {
    /// A 422 for one field.
    pub fn invalid_field(field: &str, message: &str) -> Self {
        Self::Invalid(BTreeMap::from([(field.to_owned(), message.to_owned())]))
    }

    pub(crate) fn from_body(err: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match err.classify() {
            Category::Data => Self::invalid_field("body", &err.to_string()),
            Category::Syntax | Category::Eof | Category::Io => {
                Self::BadRequest(format!("malformed JSON body: {err}"))
            }
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Invalid(_) => 422,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::Forbidden(_) => 403,
            Self::QuotaExceeded(_) => 402,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The error as a response; `request_id` (the host's `x-request-id`) is echoed in
    /// the body as in the host's own errors.
    pub fn into_response(self, request_id: Option<&str>) -> Response {
        let status = self.status();
        let mut body = match self {
            Self::BadRequest(m) => json!({"error": m, "code": "bad_request"}),
            Self::Invalid(fields) => {
                json!({"error": "Validation failed", "code": "validation_failed", "fields": fields})
            }
            Self::NotFound(m) => json!({"error": m, "code": "not_found"}),
            Self::Conflict(m) => json!({"error": m, "code": "conflict"}),
            Self::Forbidden(m) => json!({"error": m, "code": "forbidden"}),
            Self::QuotaExceeded(m) => quota_body(&m),
            Self::Unavailable(m) => json!({"error": m, "code": "module_unavailable"}),
            Self::Internal(detail) => {
                crate::log::error(&detail);
                json!({"error": "Internal error", "code": "internal"})
            }
        };
        if let Some(id) = request_id {
            body["request_id"] = json!(id);
        }
        Response::raw_json(status, body.to_string())
    }
}

/// A quota refusal: the host's details (`{"message", "limit", "plan", ...}`)
/// beside the usual `error` and `code`, or its text as the error.
fn quota_body(message: &str) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(message) {
        Ok(serde_json::Value::Object(mut details)) if details.contains_key("message") => {
            let text = details.remove("message").unwrap_or_default();
            let mut body = json!({"error": text, "code": "quota_exceeded"});
            body.as_object_mut().expect("a JSON object").extend(details);
            body
        }
        _ => json!({"error": message, "code": "quota_exceeded"}),
    }
}

impl From<HostError> for Error {
    fn from(err: HostError) -> Self {
        match err {
            HostError::NotFound => Self::NotFound("Not found".into()),
            HostError::Conflict(m) => Self::Conflict(m),
            HostError::Forbidden(m) => Self::Forbidden(m),
            HostError::QuotaExceeded(m) => Self::QuotaExceeded(m),
            HostError::Unavailable(m) => Self::Unavailable(m),
            // The module passed the host something malformed: a bug in the module.
            HostError::Invalid(m) => Self::Internal(format!("host refused the call: {m}")),
            HostError::Unsupported(m) => Self::Internal(format!("unsupported host call: {m}")),
            HostError::Internal(m) => Self::Internal(format!("host error: {m}")),
        }
    }
}
