//! Routes: the manifest's route table and the dispatch to handlers, from one list.

use crate::bindings::exports::mosaic::platform::guest as wit;
use crate::{Error, Request, Response, Result, Role};

/// A request handler. Plain functions (or closures that capture nothing).
pub type Handler = fn(&Request) -> Result<Response>;

struct Route {
    /// Upper case, as the host sends it.
    method: String,
    path: &'static str,
    min_role: Option<Role>,
    handler: Handler,
}

/// The module's routes. The host matches the request against the same table (it is
/// sent in the manifest), enforces `min_role` and passes the matched pattern, so
/// dispatch here is a lookup, not a second match.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn route(mut self, method: &'static str, path: &'static str, handler: Handler) -> Self {
        self.routes.push(Route {
            method: method.to_ascii_uppercase(),
            path,
            min_role: None,
            handler,
        });
        self
    }

    pub fn get(self, path: &'static str, handler: Handler) -> Self {
        self.route("GET", path, handler)
    }

    pub fn post(self, path: &'static str, handler: Handler) -> Self {
        self.route("POST", path, handler)
    }

    pub fn put(self, path: &'static str, handler: Handler) -> Self {
        self.route("PUT", path, handler)
    }

    pub fn patch(self, path: &'static str, handler: Handler) -> Self {
        self.route("PATCH", path, handler)
    }

    pub fn delete(self, path: &'static str, handler: Handler) -> Self {
        self.route("DELETE", path, handler)
    }

    /// The host refuses callers below `role` on the route added last, before the
    /// module runs.
    pub fn min_role(mut self, role: Role) -> Self {
        if let Some(last) = self.routes.last_mut() {
            last.min_role = Some(role);
        }
        self
    }

    pub(crate) fn to_wit(&self) -> Vec<wit::Route> {
        self.routes
            .iter()
            .map(|r| wit::Route {
                method: r.method.clone(),
                path: r.path.into(),
                min_role: r.min_role,
            })
            .collect()
    }

    pub(crate) fn dispatch(&self, req: &Request) -> Response {
        let route = self
            .routes
            .iter()
            .find(|r| r.method == req.method && r.path == req.route);
        let result = match route {
            Some(route) => (route.handler)(req),
            // Only reachable when a host skips its own routing.
            None => Err(Error::NotFound(format!(
                "No route {} {}",
                req.method, req.path
            ))),
        };
        result.unwrap_or_else(|err| err.into_response(req.header("x-request-id")))
    }
}
