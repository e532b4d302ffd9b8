//! `GET /healthz`: the process is up and its database answers; `degraded` names
//! the modules refused at start-up while the others serve, and counts tenants
//! whose files could not be written after a committed change. `GET /metrics`: the
//! Prometheus exposition, for a platform admin or the scraper's token.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::extract::PlatformAdmin;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(metrics))
}

/// The Prometheus exposition of this replica's metrics.
#[utoipa::path(
    get, path = "/metrics", tag = "health",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String)),
    security(("bearer" = [])),
)]
async fn metrics(
    State(state): State<AppState>,
    mut parts: Parts,
) -> Result<impl IntoResponse, ApiError> {
    if !is_scraper(&state, &parts) {
        PlatformAdmin::from_request_parts(&mut parts, &state).await?;
    }
    let mail = state.db.unsent_mail().await?;
    let body = state
        .runtime
        .metrics()
        .render(crate::metrics::ScrapeGauges {
            slots: state.runtime.slot_count(),
            tenant_files_open: state.db.open_tenant_files(),
            mail_queued: mail,
        });
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        body,
    ))
}

/// The request carries the configured scrape token. Digests are compared, so the
/// time taken says nothing about how much of the token was right.
fn is_scraper(state: &AppState, parts: &Parts) -> bool {
    let Some(expected) = &state.config.metrics_token else {
        return false;
    };
    let given = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    Sha256::digest(given.trim().as_bytes()) == Sha256::digest(expected.as_bytes())
}

/// What `/healthz` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    /// `ok`, or `degraded` while something below needs an operator.
    status: &'static str,
    /// Installed modules.
    modules: usize,
    /// Components refused at start-up, and why.
    refused_modules: Vec<crate::runtime::RefusedModule>,
    /// Tenants with a file write that failed after a committed change (their
    /// health says which file and why).
    tenant_file_errors: usize,
}

/// The process is up and its database answers.
#[utoipa::path(
    get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health)),
)]
async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    sqlx::query("SELECT 1").execute(&state.db.pool).await?;
    let refused_modules = state.runtime.refused_modules();
    let tenant_file_errors = state.files.failure_count();
    let status = if refused_modules.is_empty() && tenant_file_errors == 0 {
        "ok"
    } else {
        "degraded"
    };
    Ok(Json(Health {
        status,
        modules: state.runtime.modules().len(),
        refused_modules,
        tenant_file_errors,
    }))
}
