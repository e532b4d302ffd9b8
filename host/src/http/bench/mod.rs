//! Native baselines of the HTTP benchmarks, behind the same tenant and auth
//! extractors as the module routes. Mounted only with `serve --bench-routes`.
//! - `GET /api/_native/fixed`: the testbed module's `/fixed` bytes, to measure the
//!   Wasm boundary;
//! - `GET /api/_native/employees`: the employees module's list page, read through
//!   the host's own store path (sqlx, the `Any` driver, the records layout);
//! - `GET /api/_native/employees-direct`: the same page read in place
//!   (`store::records::direct`: a cached prepared statement on a connection of the
//!   tenant's SQLite file), as the module's reads now are;
//! - `GET /api/_native/employees-clustered`: the same page from a table laid out for
//!   this one query ([`clustered`]), which `POST` to it fills.
//!
//! The list routes take the module's `?limit=` (50 by default) and `?cursor=`.

mod clustered;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;

use super::ApiError;
use super::extract::{QueryParams, TenantCaller};
use crate::AppState;
use crate::store::records::direct::Direct;
use crate::store::records::{Document, Scope, Selection, StoreError};

/// The testbed module's `/fixed` body, byte for byte.
pub const FIXED_BODY: &str = r#"{"message":"hello from a module"}"#;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/_native/fixed", get(fixed))
        .route("/api/_native/employees", get(employees))
        .route("/api/_native/employees-direct", get(employees_direct))
        .route(
            "/api/_native/employees-clustered",
            get(clustered::page).post(clustered::load),
        )
        .layer(Extension(Arc::new(clustered::PgBaseline::default())))
}

/// A list route's paging, as the SDK's `paged` reads it.
#[derive(Deserialize)]
struct Paging {
    limit: Option<u32>,
    cursor: Option<String>,
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

async fn employees(
    State(state): State<AppState>,
    auth: TenantCaller,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Json, ApiError> {
    let tenant_id = &auth.tenant.tenant.id;
    let data = state.db.module_data(tenant_id).await?;
    let mut conn = data.pool.acquire().await?;
    let page = state
        .db
        .records()
        .query(&mut conn, employees_scope(tenant_id), &selection(&paging))
        .await
        .map_err(store_error)?;
    Ok(render(&page.items, page.next_cursor.as_deref()))
}

async fn employees_direct(
    State(state): State<AppState>,
    auth: TenantCaller,
    QueryParams(paging): QueryParams<Paging>,
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
        .query_direct(
            reads,
            employees_scope(tenant_id),
            &selection(&paging),
            deadline,
        )
        .map_err(store_error)?;
    match read {
        Direct::Done(page) => Ok(render(&page.items, page.next_cursor.as_deref())),
        // As a module's read: finished through the pool.
        Direct::OverBudget => employees(State(state), auth, QueryParams(paging)).await,
    }
}

fn employees_scope(tenant_id: &str) -> Scope<'_> {
    Scope {
        tenant_id,
        module: "employees",
    }
}

/// The employees module's list: a page (50 by default) in insertion order.
fn selection(paging: &Paging) -> Selection {
    Selection {
        collection: "employees".into(),
        filters: Vec::new(),
        order_by: None,
        descending: false,
        limit: paging.limit.unwrap_or(50),
        cursor: paging.cursor.clone(),
    }
}

/// A bad cursor or limit is the caller's (400); anything else the host's.
fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Invalid(message) => ApiError::BadRequest(message),
        err => ApiError::internal(err),
    }
}
