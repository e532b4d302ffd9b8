//! `/api/admin/events`: a tenant's recent events, the dead letters, and replaying
//! them.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminActor;
use crate::AppState;
use crate::events::EventLog;
use crate::http::ApiError;
use crate::http::extract::{JsonBody, QueryParams};
use crate::store::events::{DeadLetter, StoredEvent};

use crate::tenancy::TenantView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(recent_events))
        .routes(routes!(dead_letters))
        .routes(routes!(replay))
}

const MAX_LIMIT: u32 = 500;

fn default_limit() -> u32 {
    50
}

fn log(state: &AppState) -> EventLog<'_> {
    EventLog {
        db: &state.db,
        runtime: &state.runtime,
    }
}

async fn tenant(state: &AppState, key: &str) -> Result<std::sync::Arc<TenantView>, ApiError> {
    state
        .directory
        .by_key(key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Unknown tenant {key}")))
}

fn check_limit(limit: u32) -> Result<u32, ApiError> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )))
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RecentQuery {
    /// A tenant id or subdomain.
    tenant: String,
    /// 1 to 500.
    #[serde(default = "default_limit")]
    limit: u32,
}

#[derive(serde::Serialize, ToSchema)]
struct RecentEvents {
    /// The tenant's subdomain.
    tenant: String,
    events: Vec<StoredEvent>,
}

/// The tenant's most recent events, newest first, with the subscribers each is
/// still pending for or dead for.
#[utoipa::path(
    get, path = "/api/admin/events", tag = "admin",
    params(RecentQuery),
    responses((status = 200, body = RecentEvents)),
    security(("bearer" = [])),
)]
async fn recent_events(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<RecentQuery>,
) -> Result<Json<RecentEvents>, ApiError> {
    let limit = check_limit(query.limit)?;
    let view = tenant(&state, &query.tenant).await?;
    let events = log(&state).recent(&view.tenant.id, limit).await?;
    Ok(Json(RecentEvents {
        tenant: view.tenant.subdomain.clone(),
        events,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeadLetterQuery {
    /// A tenant id or subdomain; all tenants when absent.
    tenant: Option<String>,
    /// 1 to 500.
    #[serde(default = "default_limit")]
    limit: u32,
}

#[derive(serde::Serialize, ToSchema)]
struct DeadLetters {
    dead_letters: Vec<DeadLetter>,
}

/// Deliveries given up on, newest first.
#[utoipa::path(
    get, path = "/api/admin/events/dead-letters", tag = "admin",
    params(DeadLetterQuery),
    responses((status = 200, body = DeadLetters)),
    security(("bearer" = [])),
)]
async fn dead_letters(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<DeadLetterQuery>,
) -> Result<Json<DeadLetters>, ApiError> {
    let limit = check_limit(query.limit)?;
    let view = match &query.tenant {
        Some(key) => Some(tenant(&state, key).await?),
        None => None,
    };
    let tenant_id = view.as_ref().map(|v| v.tenant.id.as_str());
    let letters = log(&state).dead_letters(tenant_id, limit).await?;
    Ok(Json(DeadLetters {
        dead_letters: letters,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Replay {
    /// A tenant id or subdomain.
    tenant: String,
    /// One dead letter, by its event and subscriber; every one of the tenant's when
    /// both are absent.
    event_id: Option<String>,
    subscriber: Option<String>,
}

#[derive(serde::Serialize, ToSchema)]
struct Replayed {
    /// How many dead letters are back in line.
    replayed: u64,
}

/// Puts dead letters back in line for delivery, their attempts counted afresh.
#[utoipa::path(
    post, path = "/api/admin/events/dead-letters/replay", tag = "admin",
    request_body = Replay,
    responses((status = 200, body = Replayed)),
    security(("bearer" = [])),
)]
async fn replay(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<Replay>,
) -> Result<Json<Replayed>, ApiError> {
    let view = tenant(&state, &body.tenant).await?;
    let one = match (&body.event_id, &body.subscriber) {
        (Some(event), Some(subscriber)) => Some((event.as_str(), subscriber.as_str())),
        (None, None) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "give both event_id and subscriber to replay one dead letter, or neither to replay all".into(),
            ));
        }
    };
    let replayed = log(&state).replay(&view, one, &admin.actor()).await?;
    if one.is_some() && replayed == 0 {
        return Err(ApiError::NotFound("No such dead letter".into()));
    }
    Ok(Json(Replayed { replayed }))
}
