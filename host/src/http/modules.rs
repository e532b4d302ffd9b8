//! `/api/<module>/...`: the tenant-facing door to the modules.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::extract::TenantCaller;
use super::{ApiError, current_request_id};
use crate::AppState;
use crate::runtime::types::Header;
use crate::runtime::{Dispatch, DispatchError};
use crate::store::SubscriptionState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/{module}", any(proxy))
        .route("/api/{module}/", any(proxy))
        .route("/api/{module}/{*rest}", any(proxy))
}

/// Request headers a module never sees: credentials stay in the host.
const HIDDEN_REQUEST_HEADERS: &[&str] = &["authorization", "cookie", "host", "content-length"];
/// Response headers only the host sets.
const HOST_RESPONSE_HEADERS: &[&str] = &[
    "set-cookie",
    "content-length",
    "transfer-encoding",
    "connection",
    "x-request-id",
];

async fn proxy(
    State(state): State<AppState>,
    auth: TenantCaller,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let (module, path) = split_module_path(parts.uri.path());
    tracing::Span::current().record("module", module);
    if auth.tenant.subscription == Some(SubscriptionState::Expired)
        && state.runtime.module(module).is_some()
    {
        return Err(ApiError::SubscriptionExpired);
    }
    let Some(loaded) = state.runtime.gate(&auth.tenant, module) else {
        // An upgrade cannot bring a module this host does not have.
        if state.runtime.module(module).is_none() {
            return Err(ApiError::NotFound(format!("No module {module}")));
        }
        return Err(ApiError::ModuleNotEnabled(module.to_owned()));
    };
    let limit = state.runtime.limits().max_request_bytes;
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !HIDDEN_REQUEST_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some(Header {
                name: name.as_str().to_owned(),
                value: value.to_str().ok()?.to_owned(),
            })
        })
        .collect();
    let call = Dispatch {
        tenant: auth.tenant,
        module: loaded,
        method: parts.method.as_str().to_owned(),
        path,
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body: body.to_vec(),
        caller: Some(auth.caller),
        request_id: current_request_id(),
    };
    let response = state.runtime.dispatch(call).await.map_err(dispatch_error)?;
    Ok(into_http(response))
}

/// `/api/employees/42/` → (`employees`, `/42`); the module's root is `/`.
fn split_module_path(path: &str) -> (&str, String) {
    let rest = path.strip_prefix("/api/").unwrap_or(path);
    let (module, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let tail = tail.trim_end_matches('/');
    (module, format!("/{tail}"))
}

fn dispatch_error(err: DispatchError) -> ApiError {
    let failed = |code, message: &str| ApiError::ModuleFailed {
        code,
        message: message.to_owned(),
    };
    match err {
        DispatchError::NoRoute => ApiError::NotFound("No such route".into()),
        DispatchError::MethodNotAllowed => ApiError::MethodNotAllowed,
        DispatchError::RoleTooLow(role) => ApiError::Forbidden(format!(
            "This action needs the {} role or higher",
            role.as_str()
        )),
        DispatchError::Busy => ApiError::Unavailable("The module is busy; retry shortly".into()),
        DispatchError::Timeout => failed(
            "module_timeout",
            "The module did not answer within its deadline",
        ),
        DispatchError::MemoryLimit => failed(
            "module_memory_limit",
            "The module exceeded its memory limit",
        ),
        DispatchError::Trap(_) => failed(
            "module_trap",
            "The module failed while handling the request",
        ),
        DispatchError::ResponseTooLarge(_) => failed(
            "module_response_too_large",
            "The module's response is larger than allowed",
        ),
        DispatchError::BadStatus(_) => failed(
            "module_bad_response",
            "The module answered with an invalid status",
        ),
        DispatchError::TooManyHeaders(_) => failed(
            "module_bad_response",
            "The module answered with too many headers",
        ),
        DispatchError::Internal(message) => ApiError::internal(anyhow::Error::msg(message)),
    }
}

/// The module's response as HTTP (the runtime has checked its status is final).
fn into_http(response: crate::runtime::types::Response) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = (status, Body::from(response.body)).into_response();
    let headers = out.headers_mut();
    for header in response.headers {
        let name = header.name.to_ascii_lowercase();
        if HOST_RESPONSE_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name),
            HeaderValue::try_from(header.value),
        ) {
            headers.append(name, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_module_path;

    #[test]
    fn module_paths() {
        assert_eq!(
            split_module_path("/api/employees"),
            ("employees", "/".into())
        );
        assert_eq!(
            split_module_path("/api/employees/"),
            ("employees", "/".into())
        );
        assert_eq!(
            split_module_path("/api/employees/42/"),
            ("employees", "/42".into())
        );
        assert_eq!(
            split_module_path("/api/attendance/check-in"),
            ("attendance", "/check-in".into())
        );
    }
}
