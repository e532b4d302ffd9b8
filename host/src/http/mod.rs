//! The HTTP surface: one file per resource, assembled here with the middleware
//! every request goes through (request id, tracing span, panic guard, body limit).

mod admin;
mod auth;
mod bench;
mod billing;
mod error;
mod extract;
mod health;
mod modules;
mod openapi;
mod public;
mod throttle;
mod users;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;
pub use throttle::Throttle;

use crate::AppState;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
    static CLIENT_IP: Option<IpAddr>;
    /// The plan of the tenant the request turned out to be for, for the metrics.
    static TENANT_PLAN: std::sync::OnceLock<String>;
}

/// The client's address, for the audit log.
pub fn client_ip() -> Option<String> {
    client_addr().map(|ip| ip.to_string())
}

/// The client's address, for limits: the connection's peer, or behind a trusted
/// proxy the address it forwarded for.
fn client_addr() -> Option<IpAddr> {
    CLIENT_IP.try_with(|ip| *ip).ok().flatten()
}

/// The current request's id, for error bodies and the audit log.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.to_string()).ok()
}

/// The current request's id, shared rather than copied, for module calls.
fn current_request_id() -> Arc<str> {
    REQUEST_ID
        .try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::from(""))
}

pub fn router(state: AppState) -> Router {
    let hsts = state
        .config
        .production
        .then(|| HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    let trusted_proxies: Arc<[ipnet::IpNet]> = state.config.trusted_proxies.clone().into();
    let metrics = state.runtime.metrics().clone();
    let bench = if state.config.bench_routes {
        bench::router()
    } else {
        Router::new()
    };
    let (documented, routes) = host_routes().split_for_parts();
    let document = openapi::host_document(routes);
    documented
        .merge(bench)
        .route(
            "/api/openapi.json",
            axum::routing::get(move |State(state): State<AppState>| {
                openapi::openapi(state, Arc::clone(&document))
            }),
        )
        .merge(modules::router())
        .fallback(|method: Method| async move {
            if method == Method::OPTIONS {
                return ApiError::MethodNotAllowed.into_response();
            }
            ApiError::NotFound("No such endpoint".into()).into_response()
        })
        // Bodies read by extractors (JSON, forms) are held to the modules' request
        // limit; a route that takes more (a payment's proof) says so itself.
        .layer(DefaultBodyLimit::max(state.config.limits.max_request_bytes))
        // No browser guesses a JSON answer to be a page or a script.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // In production, browsers come back over HTTPS only.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            move |_: &Response| hsts.clone(),
        ))
        .with_state(state)
        .layer(middleware::from_fn(move |req, next| {
            scope_request(
                Arc::clone(&trusted_proxies),
                Arc::clone(&metrics),
                req,
                next,
            )
        }))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let request_id = req
                .headers()
                .get(&X_REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!(
                "request",
                method = %req.method(),
                path = %req.uri().path(),
                request_id,
                tenant = tracing::field::Empty,
                module = tracing::field::Empty,
                user = tracing::field::Empty,
            )
        }))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(
            X_REQUEST_ID.clone(),
            MakeRequestUuid,
        ))
}

/// The host's own routes, each registered from its documentation.
fn host_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::router())
        .merge(admin::router())
        .merge(auth::router())
        .merge(billing::router())
        .merge(users::router())
        .merge(public::router())
}

/// Records which tenant plan the request is for.
fn note_tenant_plan(plan: &str) {
    let _ = TENANT_PLAN.try_with(|cell| cell.set(plan.to_owned()));
}

/// Makes the request id and the client address available to everything the
/// request runs, and counts the request when it is answered.
async fn scope_request(
    trusted_proxies: Arc<[ipnet::IpNet]>,
    metrics: Arc<crate::metrics::Metrics>,
    req: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let route: Arc<str> = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched".into(), |path| path.as_str().into());
    let method = req.method().clone();
    let id: Arc<str> = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .into();
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let ip = peer.map(|peer| forwarded_client(peer, req.headers(), &trusted_proxies));
    let answered = TENANT_PLAN.scope(std::sync::OnceLock::new(), async move {
        let response = next.run(req).await;
        let plan = TENANT_PLAN.with(|plan| plan.get().cloned());
        (response, plan)
    });
    let (response, plan) = REQUEST_ID.scope(id, CLIENT_IP.scope(ip, answered)).await;
    metrics.request(
        &route,
        method.as_str(),
        response.status().as_u16(),
        plan.as_deref().unwrap_or("none"),
        started.elapsed(),
    );
    response
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client behind a chain of trusted proxies: `X-Forwarded-For` read from the
/// right (the hop nearest to us), skipping trusted proxies. What is left of the
/// first untrusted address could be written by anyone, so it is never read. A
/// peer that is no trusted proxy is the client, whatever it forwards.
fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            // Garbage from a hop we trust no further than the last proxy.
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::net::IpAddr;
    use std::path::Path;

    use axum::http::{HeaderMap, HeaderValue};

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn forwarded(peer: &str, values: &[&str], trusted: &[&str]) -> IpAddr {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                "x-forwarded-for",
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        let trusted: Vec<ipnet::IpNet> = trusted
            .iter()
            .map(|n| n.parse().expect("a network"))
            .collect();
        super::forwarded_client(ip(peer), &headers, &trusted)
    }

    #[test]
    fn the_client_is_the_nearest_untrusted_forwarded_address() {
        let proxies = ["10.0.0.0/8"];
        // No proxy in front: what the client forwards is its own invention.
        assert_eq!(
            forwarded("203.0.113.9", &["1.2.3.4"], &proxies),
            ip("203.0.113.9")
        );
        // One proxy: the address it appended.
        assert_eq!(
            forwarded("10.0.0.2", &["198.51.100.7"], &proxies),
            ip("198.51.100.7")
        );
        // A forged entry left of the real one is never read.
        assert_eq!(
            forwarded("10.0.0.2", &["6.6.6.6, 198.51.100.7"], &proxies),
            ip("198.51.100.7")
        );
        // Two proxies, and the header split over two lines.
        assert_eq!(
            forwarded("10.0.0.2", &["6.6.6.6, 198.51.100.7", "10.1.1.1"], &proxies),
            ip("198.51.100.7")
        );
        // Nothing forwarded, or only proxies: the nearest proxy's own address.
        assert_eq!(forwarded("10.0.0.2", &[], &proxies), ip("10.0.0.2"));
        assert_eq!(
            forwarded("10.0.0.2", &["10.9.9.9"], &proxies),
            ip("10.9.9.9")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            forwarded("10.0.0.2", &["198.51.100.7, junk"], &proxies),
            ip("10.0.0.2")
        );
    }

    /// Every path this folder declares with `.route(...)`, outside tests: the
    /// routes that are not registered from their documentation.
    fn declared_routes() -> Vec<String> {
        let mut routes = Vec::new();
        let mut folders = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).expect("http source folder") {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                let source = std::fs::read_to_string(&path).expect("http source file");
                let code = source.split("#[cfg(test)]").next().unwrap_or_default();
                for call in code.split(".route(").skip(1) {
                    if let Some(literal) = call.trim_start().strip_prefix('"') {
                        routes.push(literal.chars().take_while(|c| *c != '"').collect());
                    }
                }
            }
        }
        routes
    }

    fn first_segment(rest: &str) -> String {
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
            .collect()
    }

    /// The documented paths of the host's own routes.
    fn documented_paths() -> BTreeSet<String> {
        let (_, document) = super::host_routes().split_for_parts();
        document.paths.paths.keys().cloned().collect()
    }

    /// A module key that equals one of the host's own `/api/` segments would be
    /// partly hidden behind the host's routes, so every such segment is reserved.
    #[test]
    fn every_host_api_segment_is_a_reserved_module_key() {
        let mut segments: BTreeSet<String> = documented_paths()
            .into_iter()
            .chain(declared_routes())
            .filter_map(|path| path.strip_prefix("/api/").map(first_segment))
            .collect();
        // `{module}` is the module door itself; `_native` and `openapi.json` are
        // no valid keys.
        segments.retain(|s| !s.is_empty() && s != "_native" && s != "openapi.json");
        assert!(segments.contains("users"), "found no routes: {segments:?}");
        let reserved: BTreeSet<String> = crate::runtime::registry::RESERVED_KEYS
            .iter()
            .map(|k| k.to_string())
            .collect();
        assert_eq!(segments, reserved);
    }

    /// Every route declared without documentation is a documented one with a
    /// trailing slash more or less, or one of the few that are not the API's: the
    /// benchmarks' native baselines, the document itself, the module door (whose
    /// routes the document takes from the manifests).
    #[test]
    fn every_undocumented_route_is_an_alias_of_a_documented_one() {
        let documented = documented_paths();
        let not_the_api = [
            "/api/openapi.json",
            "/api/{module}",
            "/api/{module}/",
            "/api/{module}/{*rest}",
        ];
        let declared = declared_routes();
        assert!(declared.iter().any(|r| r == "/api/users"), "{declared:?}");
        for route in declared {
            if not_the_api.contains(&route.as_str()) || route.starts_with("/api/_native/") {
                continue;
            }
            // A wildcard is documented as the one parameter it is.
            let route = route.replace("{*", "{");
            if documented.contains(&route) {
                continue;
            }
            let alias = match route.strip_suffix('/') {
                Some(bare) => bare.to_owned(),
                None => format!("{route}/"),
            };
            assert!(
                documented.contains(&alias),
                "{route} is neither documented nor an alias of a documented route"
            );
        }
    }
}
