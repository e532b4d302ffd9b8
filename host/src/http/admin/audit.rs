//! `GET /api/admin/audit`: the audit log, newest first.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AdminActor, default_per_page};
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::QueryParams;
use crate::store::{AuditFilter, AuditRecord};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// A tenant id or subdomain.
    tenant: Option<String>,
    actor: Option<String>,
    /// An action, or a prefix ending in `.`.
    action: Option<String>,
    /// Milliseconds since the epoch.
    since: Option<i64>,
    until: Option<i64>,
    /// The `next` of the previous page.
    before: Option<i64>,
    /// 1 to 200.
    #[serde(default = "default_per_page")]
    limit: i64,
}

/// A page of the audit log, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct AuditPage {
    items: Vec<AuditRecord>,
    /// `before` for the next page; none on the last.
    next: Option<i64>,
}

/// The audit log, newest first.
#[utoipa::path(
    get, path = "/api/admin/audit", tag = "admin",
    params(AuditQuery),
    responses((status = 200, body = AuditPage)),
    security(("bearer" = [])),
)]
async fn audit(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    if !(1..=200).contains(&query.limit) {
        return Err(ApiError::Validation(json!({"limit": "must be 1 to 200"})));
    }
    // A deleted tenant is no longer found by subdomain, but its rows are by id.
    let tenant_id = match query.tenant {
        Some(key) => Some(match state.directory.by_key(&key).await? {
            Some(view) => view.tenant.id.clone(),
            None => key,
        }),
        None => None,
    };
    let rows = state
        .db
        .audit_page(&AuditFilter {
            tenant_id,
            actor: query.actor,
            action: query.action,
            since_ms: query.since,
            until_ms: query.until,
            before_seq: query.before,
            limit: query.limit,
        })
        .await?;
    let next = (rows.len() as i64 == query.limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(Json(AuditPage { items: rows, next }))
}
