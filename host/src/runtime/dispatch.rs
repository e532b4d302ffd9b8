//! Module requests: an HTTP request from the host router, and `modules.call` from
//! one module into another. Both take the same step from request to export call —
//! route, role, params — and differ only in how a refusal is answered.

use std::sync::Arc;

use super::Runtime;
use super::call::{CallContext, Export, Handle, MAX_HEADERS, headers_size};
use super::grant::{Denial, GrantKind};
use super::registry::{LoadedModule, RouteMiss};
use super::types::{Header, HostError, Request, Response};
use crate::auth::{Caller, Role};
use crate::tenancy::TenantView;

/// An HTTP request for a module, as the host router hands it over.
#[derive(Debug)]
pub struct Dispatch {
    pub tenant: Arc<TenantView>,
    /// The module, as [`Runtime::gate`] let it through for this tenant.
    pub module: Arc<LoadedModule>,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    pub caller: Option<Arc<Caller>>,
    pub request_id: Arc<str>,
}

/// Why a module request did not produce the module's own response.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("this route needs role {0:?} or higher")]
    RoleTooLow(Role),
    #[error("module is busy")]
    Busy,
    #[error("module call exceeded its deadline")]
    Timeout,
    #[error("module exceeded its memory limit")]
    MemoryLimit,
    #[error("module trapped: {0}")]
    Trap(String),
    #[error("module response of {0} bytes is over the limit")]
    ResponseTooLarge(usize),
    #[error("module answered with status {0}, not a final HTTP status")]
    BadStatus(u16),
    #[error("module answered with {0} headers, over the limit")]
    TooManyHeaders(usize),
    #[error("{0}")]
    Internal(String),
}

/// A module call that failed in the runtime (a trap, a timeout, a limit), not a
/// 4xx/5xx the module chose to answer.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ModuleFailure {
    pub module: String,
    pub error: String,
    pub at_ms: i64,
}

/// A request the module's route table or the caller's role refuses.
enum Refusal {
    NoRoute,
    MethodNotAllowed,
    RoleTooLow(Role),
}

impl From<Refusal> for DispatchError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NoRoute => Self::NoRoute,
            Refusal::MethodNotAllowed => Self::MethodNotAllowed,
            Refusal::RoleTooLow(role) => Self::RoleTooLow(role),
        }
    }
}

impl Refusal {
    /// The answer a calling module gets in the target's place.
    fn into_response(self) -> Response {
        match self {
            Self::NoRoute => Response::json_error(404, "not_found", "No such route"),
            Self::MethodNotAllowed => {
                Response::json_error(405, "method_not_allowed", "Method not allowed")
            }
            Self::RoleTooLow(_) => {
                Response::json_error(403, "forbidden", "Role too low for this route")
            }
        }
    }
}

/// Matches the request against the module's routes and the caller's role, and
/// fills in the route pattern and its parameters.
fn route(
    module: &LoadedModule,
    caller: Option<&Caller>,
    mut request: Request,
) -> Result<Request, Refusal> {
    let route = module
        .route(&request.method, &request.path)
        .map_err(|miss| match miss {
            RouteMiss::NotFound => Refusal::NoRoute,
            RouteMiss::MethodNotAllowed => Refusal::MethodNotAllowed,
        })?;
    if let Some(min) = route.min_role
        && caller.is_none_or(|c| c.role < min)
    {
        return Err(Refusal::RoleTooLow(min));
    }
    request.route = route.pattern;
    request.params = route.params;
    Ok(request)
}

impl Runtime {
    /// Serves one HTTP request with a module, as one unit of work.
    pub async fn dispatch(&self, call: Dispatch) -> Result<Response, DispatchError> {
        let request = Request {
            method: call.method,
            path: call.path,
            route: String::new(),
            params: Vec::new(),
            query: call.query,
            headers: call.headers,
            body: call.body,
        };
        let request = route(&call.module, call.caller.as_deref(), request)?;
        let ctx =
            CallContext::outermost(self, call.tenant, call.module, call.caller, call.request_id);
        self.run_unit(ctx, Handle(request)).await
    }

    /// `modules.call` from the module running in `ctx`: inside the caller's unit of
    /// work, its writes undone alone if it fails.
    pub(crate) async fn call_nested(
        &self,
        ctx: &CallContext,
        key: &str,
        mut request: Request,
    ) -> Result<Response, HostError> {
        match ctx.module.may_call(key) {
            Ok(()) => {}
            Err(Denial::Undeclared) => {
                return Err(HostError::Forbidden(format!(
                    "module {} does not declare a dependency on {key}",
                    ctx.module.key
                )));
            }
            Err(Denial::NotGranted) => {
                self.audit_refusal(ctx, GrantKind::Dependency, key);
                return Err(HostError::Forbidden(format!(
                    "the platform has not granted module {} its dependency on {key}",
                    ctx.module.key
                )));
            }
        }
        if ctx.chain.iter().any(|k| k == key) {
            return Err(HostError::Forbidden(format!(
                "call cycle: {} -> {key}",
                ctx.chain.join(" -> ")
            )));
        }
        let target = self.gate(&ctx.tenant, key).ok_or_else(|| {
            HostError::Unavailable(format!("module {key} is not enabled for this tenant"))
        })?;
        // A guest may spell the method in any case.
        request.method.make_ascii_uppercase();
        // The same caps as a request over HTTP.
        let limit = self.limits().max_request_bytes;
        if request.headers.len() > MAX_HEADERS {
            return Ok(Response::json_error(
                431,
                "request_header_fields_too_large",
                &format!("A request may carry at most {MAX_HEADERS} headers"),
            ));
        }
        if request.body.len() + headers_size(&request.headers) > limit {
            return Ok(Response::json_error(
                413,
                "payload_too_large",
                &format!("Request body is larger than {limit} bytes"),
            ));
        }
        let request = match route(&target, ctx.caller.as_deref(), request) {
            Ok(request) => request,
            Err(refusal) => return Ok(refusal.into_response()),
        };
        let mark = ctx
            .uow
            .begin_nested()
            .await
            .map_err(|e| super::host::internal(ctx, &e))?;
        let result = Box::pin(self.run(ctx.nested(target), Handle(request))).await;
        let keep = matches!(&result, Ok(resp) if Handle::keeps_writes(resp));
        ctx.uow
            .end_nested(mark, keep)
            .await
            .map_err(|e| super::host::internal(ctx, &e))?;
        result.map_err(|e| match e {
            DispatchError::Busy => HostError::Unavailable(format!("module {key} is busy")),
            other => HostError::Internal(format!("module {key} failed: {other}")),
        })
    }
}
