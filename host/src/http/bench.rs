//! Native baselines of the HTTP benchmarks, behind the same tenant and auth
//! extractors as the module routes. Mounted only with `serve --bench-routes`.
//! - `GET /api/_native/fixed`: the testbed module's `/fixed` bytes, to measure the
//!   Wasm boundary;
//! - `GET /api/_native/employees`: the employees module's first page, read through
//!   the host's own store path (sqlx, the `Any` driver, the records layout);
//! - `GET /api/_native/employees-direct`: the same page read in place
//!   (`store::records::direct`: a cached prepared statement on a connection of the
//!   tenant's SQLite file), as the module's reads now are.

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;

use super::ApiError;
use super::extract::TenantCaller;
use crate::AppState;
use crate::store::records::direct::Direct;
use crate::store::records::{Document, Scope, Selection};

/// The testbed module's `/fixed` body, byte for byte.
pub const FIXED_BODY: &str = r#"{"message":"hello from a module"}"#;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/_native/fixed", get(fixed))
        .route("/api/_native/employees", get(employees))
        .route("/api/_native/employees-direct", get(employees_direct))
}

async fn fixed(_auth: TenantCaller) -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    ([(CONTENT_TYPE, "application/json")], FIXED_BODY)
}

type Json = ([(axum::http::HeaderName, &'static str); 1], String);

/// The page as the SDK renders it: each document's fields spliced after its id,
/// version and times, unparsed.
fn render(items: &[Document], next: Option<&str>) -> Json {
    let mut out =
        String::with_capacity(items.iter().map(|d| d.data.len() + 96).sum::<usize>() + 32);
    out.push_str("{\"items\":[");
    for (i, doc) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let body = doc.data.trim_start();
        let rest = body.strip_prefix('{').unwrap_or(body).trim_start();
        let sep = if rest.starts_with('}') { "" } else { "," };
        out.push_str(&format!(
            "{{\"id\":{},\"version\":{},\"created_at\":{},\"updated_at\":{}{sep}{rest}",
            serde_json::to_string(&doc.id).unwrap_or_default(),
            doc.version,
            doc.created_at,
            doc.updated_at
        ));
    }
    out.push_str("],\"next_cursor\":");
    out.push_str(&next.map_or_else(
        || "null".to_owned(),
        |c| serde_json::to_string(c).unwrap_or_default(),
    ));
    out.push('}');
    ([(CONTENT_TYPE, "application/json")], out)
}

async fn employees(State(state): State<AppState>, auth: TenantCaller) -> Result<Json, ApiError> {
    let tenant_id = &auth.tenant.tenant.id;
    let data = state.db.module_data(tenant_id).await?;
    let mut conn = data.pool.acquire().await?;
    let page = state
        .db
        .records()
        .query(&mut conn, employees_scope(tenant_id), &first_page())
        .await
        .map_err(ApiError::internal)?;
    Ok(render(&page.items, page.next_cursor.as_deref()))
}

async fn employees_direct(
    State(state): State<AppState>,
    auth: TenantCaller,
) -> Result<Json, ApiError> {
    let tenant_id = &auth.tenant.tenant.id;
    let data = state.db.module_data(tenant_id).await?;
    let reads = data
        .direct_reads()
        .ok_or_else(|| ApiError::NotFound("Reads in place are for SQLite".into()))?;
    let deadline = std::time::Instant::now() + state.config.limits.call_timeout;
    let read = state
        .db
        .records()
        .query_direct(reads, employees_scope(tenant_id), &first_page(), deadline)
        .map_err(ApiError::internal)?;
    match read {
        Direct::Done(page) => Ok(render(&page.items, page.next_cursor.as_deref())),
        // As a module's read: finished through the pool.
        Direct::OverBudget => employees(State(state), auth).await,
    }
}

fn employees_scope(tenant_id: &str) -> Scope<'_> {
    Scope {
        tenant_id,
        module: "employees",
    }
}

/// The employees module's default page: 50 in insertion order.
fn first_page() -> Selection {
    Selection {
        collection: "employees".into(),
        filters: Vec::new(),
        order_by: None,
        descending: false,
        limit: 50,
        cursor: None,
    }
}
