//! `/api/admin/schedules`: when each module's scheduled work fires next for each
//! tenant, and how its last firing went.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminActor;
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::QueryParams;
use crate::store::schedules::ScheduleRun;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(schedules))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SchedulesQuery {
    /// A tenant id or subdomain; none for every tenant.
    tenant: Option<String>,
}

/// Each (tenant, module, schedule): when it fires next and how its last firing went.
#[utoipa::path(
    get, path = "/api/admin/schedules", tag = "admin",
    params(SchedulesQuery),
    responses((status = 200, body = crate::http::billing::Items<ScheduleRun>)),
    security(("bearer" = [])),
)]
async fn schedules(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<SchedulesQuery>,
) -> Result<Json<crate::http::billing::Items<ScheduleRun>>, ApiError> {
    let tenant_id = match &query.tenant {
        Some(key) => Some(
            state
                .directory
                .by_key(key)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("Unknown tenant {key}")))?
                .tenant
                .id
                .clone(),
        ),
        None => None,
    };
    let runs = state.db.schedule_runs(tenant_id.as_deref()).await?;
    Ok(Json(crate::http::billing::Items { items: runs }))
}
