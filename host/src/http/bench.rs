//! `GET /api/_native/fixed`: a native handler behind the same tenant and auth
//! extractors as the module routes, answering the same bytes as the testbed module's
//! `/fixed`. Mounted only with `serve --bench-routes`, to measure the Wasm boundary.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;

use super::extract::TenantCaller;
use crate::AppState;

/// The testbed module's `/fixed` body, byte for byte.
pub const FIXED_BODY: &str = r#"{"message":"hello from a module"}"#;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/_native/fixed", get(fixed))
}

async fn fixed(_auth: TenantCaller) -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    ([(CONTENT_TYPE, "application/json")], FIXED_BODY)
}
